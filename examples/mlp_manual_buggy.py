"""The MLP of mlp_manual.py with three classic mistakes in its hand-written backward pass.

`backprop manual examples/mlp_manual_buggy.py` names each mistake, on its step, with its fix:

1. the gradient of the mean over the batch forgets its 1/n (dlogprobs);
2. W2's gradient is computed transposed (logits' gradient times h instead of h transposed
   times logits' gradient);
3. b2's gradient is not summed over the batch (each example's row is returned as it is).
"""

import torch

N, D, HIDDEN, CLASSES = 32, 8, 16, 5
EPS = 1e-5  # batch norm's epsilon


def inputs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, D, generator=g, dtype=torch.float64)
    y = (x @ torch.randn(D, CLASSES, generator=g, dtype=torch.float64)).argmax(1)

    def param(*shape, scale=1.0, mean=0.0):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale + mean).requires_grad_()

    return {"x": x, "y": y,
            "W1": param(D, HIDDEN, scale=D ** -0.5), "b1": param(HIDDEN, scale=0.1),
            "bngain": param(1, HIDDEN, scale=0.1, mean=1.0), "bnbias": param(1, HIDDEN, scale=0.1),
            "W2": param(HIDDEN, CLASSES, scale=HIDDEN ** -0.5), "b2": param(CLASSES, scale=0.1)}


def forward(p):
    n = p["x"].shape[0]
    h_prebn = p["x"] @ p["W1"] + p["b1"]
    bnmeani = h_prebn.sum(0, keepdim=True) / n
    bndiff = h_prebn - bnmeani
    bndiff2 = bndiff ** 2
    bnvar = bndiff2.sum(0, keepdim=True) / (n - 1)  # Bessel's correction
    bnvar_inv = (bnvar + EPS) ** -0.5
    bnraw = bndiff * bnvar_inv
    h_pre = p["bngain"] * bnraw + p["bnbias"]
    h = torch.tanh(h_pre)
    logits = h @ p["W2"] + p["b2"]
    logit_maxes = logits.max(1, keepdim=True).values
    norm_logits = logits - logit_maxes  # for a stable softmax
    counts = norm_logits.exp()
    counts_sum = counts.sum(1, keepdim=True)
    counts_sum_inv = counts_sum ** -1
    probs = counts * counts_sum_inv
    logprobs = probs.log()
    loss = -logprobs[range(n), p["y"]].mean()
    return {"h_prebn": h_prebn, "bnmeani": bnmeani, "bndiff": bndiff, "bndiff2": bndiff2, "bnvar": bnvar,
            "bnvar_inv": bnvar_inv, "bnraw": bnraw, "h_pre": h_pre, "h": h, "logits": logits,
            "logit_maxes": logit_maxes, "norm_logits": norm_logits, "counts": counts, "counts_sum": counts_sum,
            "counts_sum_inv": counts_sum_inv, "probs": probs, "logprobs": logprobs, "loss": loss}


def backward(p, c, grads):
    n = p["x"].shape[0]
    # loss = -mean of the picked log-probabilities: each picked one gets -1/n
    dlogprobs = torch.zeros_like(c["logprobs"])
    dlogprobs[range(n), p["y"]] = -1.0  # MISTAKE 1: the mean's 1/n is forgotten
    grads["logprobs"] = dlogprobs
    grads["probs"] = grads["logprobs"] / c["probs"]
    grads["counts_sum_inv"] = (c["counts"] * grads["probs"]).sum(1, keepdim=True)  # broadcast over a row
    grads["counts"] = c["counts_sum_inv"] * grads["probs"]
    grads["counts_sum"] = -c["counts_sum"] ** -2 * grads["counts_sum_inv"]
    grads["counts"] += grads["counts_sum"]  # every count adds to its row's sum
    grads["norm_logits"] = c["counts"] * grads["counts"]  # exp' = exp
    grads["logit_maxes"] = -grads["norm_logits"].sum(1, keepdim=True)
    grads["logits"] = grads["norm_logits"].clone()
    picked = torch.nn.functional.one_hot(c["logits"].max(1).indices, c["logits"].shape[1])
    grads["logits"] += picked * grads["logit_maxes"]  # the max passes its gradient to the picked logit
    grads["h"] = grads["logits"] @ p["W2"].T
    grads["W2"] = grads["logits"].T @ c["h"]  # MISTAKE 2: transposed
    grads["b2"] = grads["logits"]  # MISTAKE 3: not summed over the batch
    grads["h_pre"] = (1.0 - c["h"] ** 2) * grads["h"]  # tanh' = 1 - tanh²
    grads["bngain"] = (c["bnraw"] * grads["h_pre"]).sum(0, keepdim=True)
    grads["bnraw"] = p["bngain"] * grads["h_pre"]
    grads["bnbias"] = grads["h_pre"].sum(0, keepdim=True)
    grads["bndiff"] = c["bnvar_inv"] * grads["bnraw"]
    grads["bnvar_inv"] = (c["bndiff"] * grads["bnraw"]).sum(0, keepdim=True)
    grads["bnvar"] = -0.5 * (c["bnvar"] + EPS) ** -1.5 * grads["bnvar_inv"]
    grads["bndiff2"] = torch.ones_like(c["bndiff2"]) / (n - 1) * grads["bnvar"]
    grads["bndiff"] += 2 * c["bndiff"] * grads["bndiff2"]
    grads["h_prebn"] = grads["bndiff"].clone()
    grads["bnmeani"] = -grads["bndiff"].sum(0, keepdim=True)
    grads["h_prebn"] += grads["bnmeani"] / n  # the mean takes 1/n of every row
    grads["W1"] = p["x"].T @ grads["h_prebn"]
    grads["b1"] = grads["h_prebn"].sum(0)
