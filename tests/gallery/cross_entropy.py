"""Cross-entropy of logits (n × classes) against an int target (n,), averaged over the batch: a 0-d
loss. Backward: grad_logits = g · (softmax(logits) − onehot(target)) / n."""

import torch
import torch.nn.functional as F
from torch.autograd import Function


def make_inputs(n=64, classes=10):
    gen = torch.Generator().manual_seed(7)
    logits = torch.randn(n, classes, generator=gen, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, classes, (n,), generator=gen)
    return logits, target


def reference(logits, target):
    return F.cross_entropy(logits, target)


SMALL = {"make_inputs": {"n": 3, "classes": 4}}


class CrossEntropy(Function):
    """Correct and complete: the target is an int tensor, its gradient None; the loss is 0-d."""

    generate_vmap_rule = True

    @staticmethod
    def forward(logits, target):
        logp = logits - torch.logsumexp(logits, -1, keepdim=True)
        return -logp.gather(-1, target.unsqueeze(-1)).mean()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)
        ctx.save_for_forward(*inputs)

    @staticmethod
    def backward(ctx, g):
        logits, target = ctx.saved_tensors
        onehot = F.one_hot(target, logits.shape[-1]).to(logits.dtype)
        return g * (torch.softmax(logits, -1) - onehot) / target.numel(), None

    @staticmethod
    def jvp(ctx, logits_t, _target_t):
        logits, target = ctx.saved_tensors
        p = torch.softmax(logits, -1)
        return ((p * logits_t).sum(-1) - logits_t.gather(-1, target.unsqueeze(-1)).squeeze(-1)).mean()


class CrossEntropyBatchSum(CrossEntropy):
    """Bug: the loss is a mean over the batch but the gradient is the sum's: n = 64 times too large."""

    @staticmethod
    def backward(ctx, g):
        logits, target = ctx.saved_tensors
        onehot = F.one_hot(target, logits.shape[-1]).to(logits.dtype)
        return g * (torch.softmax(logits, -1) - onehot), None


EXPECTED = {
    "CrossEntropy": {"codes": []},
    "CrossEntropyBatchSum": {"codes": ["scaled-by"], "input": "logits", "factor": 64.0},
}
