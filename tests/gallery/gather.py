"""Index lookups whose index repeats: an embedding (index_select of rows) and a gather. Every repeat of
a row sends its grad_output back to that row, so the backward must accumulate (index_add_,
scatter_add_); an assignment keeps only one of them."""

import torch
from torch.autograd import Function


def make_inputs(vocab=1000, d=64, tokens=256):
    gen = torch.Generator().manual_seed(9)
    weight = torch.randn(vocab, d, generator=gen, dtype=torch.float64, requires_grad=True)
    # a few hot tokens, as in real text: many rows are looked up more than once
    index = torch.randint(0, max(2, vocab // 10), (tokens,), generator=gen)
    return weight, index


def reference(weight, index):
    return torch.nn.functional.embedding(index, weight)


def make_gather_inputs(n=64, d=256, k=32):
    gen = torch.Generator().manual_seed(10)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64, requires_grad=True)
    index = torch.randint(0, max(2, d // 4), (n, k), generator=gen)
    return x, 1, index


def reference_gather(x, dim, index):
    # a loop over rows with advanced indexing, unlike forward's torch.gather
    return torch.stack([x[i, index[i]] for i in range(x.shape[0])]) if dim in (1, -1) else x.gather(dim, index)


SMALL = {"make_inputs": {"vocab": 5, "d": 2, "tokens": 6}, "make_gather_inputs": {"n": 3, "d": 4, "k": 5}}


class Embedding(Function):
    """Correct and complete: grad_weight accumulates with index_add_; the int index gets None."""

    generate_vmap_rule = True

    @staticmethod
    def forward(weight, index):
        return weight.index_select(0, index)

    @staticmethod
    def setup_context(ctx, inputs, output):
        weight, index = inputs
        ctx.save_for_backward(index)
        ctx.save_for_forward(index)
        ctx.rows = weight.shape[0]

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        return g.new_zeros((ctx.rows, *g.shape[1:])).index_add(0, index, g), None

    @staticmethod
    def jvp(ctx, weight_t, _index_t):
        (index,) = ctx.saved_tensors
        return weight_t.index_select(0, index)


class EmbeddingAssigns(Embedding):
    """Bug: grad_weight[index] = g assigns, so a row looked up several times gets one grad_output, not
    their sum: wrong exactly at the rows the index repeats."""

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        grad = g.new_zeros((ctx.rows, *g.shape[1:]))
        grad[index] = g
        return grad, None


class Gather(Function):
    """Correct and complete: torch.gather along `dim` with repeated indices, backward scatter_add."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, dim, index):
        return torch.gather(x, dim, index)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, dim, index = inputs
        ctx.save_for_backward(index)
        ctx.save_for_forward(index)
        ctx.dim, ctx.shape = dim, x.shape

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        return g.new_zeros(ctx.shape).scatter_add(ctx.dim, index, g), None, None

    @staticmethod
    def jvp(ctx, x_t, _dim_t, _index_t):
        (index,) = ctx.saved_tensors
        return torch.gather(x_t, ctx.dim, index)


EXPECTED = {
    "Embedding": {"codes": []},
    "EmbeddingAssigns": {"codes": ["wrong-at-points"], "input": "weight",
                         "condition": {"index": "index", "repeats": True}},
    "Gather": {"codes": [], "make_inputs": "make_gather_inputs", "reference": "reference_gather"},
}
