"""The size of the terms that cancel in a quantity: what EXPLAINS a loss of digits (never excuses one).

The scale of f: for a sum the sum of |terms|, for a product the product of its factors' sizes, one
level deep. Of a derivative: the terms the chain rule adds (one per path from the variable to f,
the product of the |local derivatives| on it); a product or a function application adds nothing, so
sigmoid'(30) = 9.4e-14 is measured against itself, not against the 1 in sympy's s*(1 - s). Both add
what the float constants carry (pi and 0.1 are rounded in the graph). When the graph's derivative
is wrong, "terms of 1e300 cancel to 0.5" says why a float64 graph cannot get it; the verdict itself
is the tolerance model's (core/tolerance.py), which the size of these terms never enters.
"""

from __future__ import annotations

import sympy

from backpropcli.expressions.symbolic import size


def scale_of(e: sympy.Expr) -> sympy.Expr:
    """The size of the terms that cancel in the value ``e`` (see the module docstring), plus
    what the float constants in it (pi, 0.1) carry: sin(pi*x) at x = 1 is 1.2e-16 in floats,
    not 0, because pi is rounded, and |cos(pi*x)|*pi*|x| says how far that moves it.

    Built evaluated: sympy.cse mis-handles unevaluated products (for -x**2 and its scale
    1*x**2 it returned -2*x as the value), and a sum of absolute values cannot cancel anyway."""
    if e.is_Add:
        own = sympy.Add(*[sympy.Abs(t) for t in e.args])
    elif e.is_Mul:
        own = sympy.Mul(*[scale_of(a) if a.is_Add else sympy.Abs(a) for a in e.args])
    else:
        own = sympy.Abs(e)
    return own + sensitivity(e, None)  # (own keeps sympy's Abs: cse needs it evaluated)


def derivative_scale(f: sympy.Expr, wrt: tuple[sympy.Symbol, ...], d: sympy.Expr) -> sympy.Expr:
    """The size of the terms that cancel in the derivative ``d`` of ``f`` by ``wrt`` (one symbol,
    or two for a second derivative) as the chain rule evaluates it: the sum over the paths
    of the products of |local derivatives| (x*sin(x): |sin(x)| + |x*cos(x)|), never the terms
    of one function's own derivative (sigmoid's s*(1 - s) is one local derivative: its 1 - s
    is how sympy writes it, not a cancellation of f'), plus the float constants' share."""
    first = f if len(wrt) == 1 else sympy.diff(f, wrt[0])
    return sensitivity(first, wrt[-1]) + sensitivity(d, None)


def _inexact(c: sympy.Expr) -> bool:
    """Whether a constant differs from its float64 (pi, e, 0.1; not 3, 0.5 or 2**-60)."""
    if c.is_Integer:
        return abs(int(c)) > 2**53
    if c.is_Rational:
        q = int(c.q)
        return q & (q - 1) != 0 or abs(int(c.p)) > 2**53
    return True


def sensitivity(e: sympy.Expr, wrt: sympy.Symbol | None) -> sympy.Expr:
    """The chain rule with absolute values: sum over paths of |products of local derivatives|.

    By a symbol (``wrt``): the size of the terms whose sum is de/dwrt. By the float constants
    (``wrt`` None): each constant c counts |c|, so the result is how far the rounding of the
    constants (relative u each) moves e, in units of u."""
    if wrt is not None and not e.has(wrt):
        return sympy.Integer(0)
    if wrt is None and not any(_inexact(c) for c in e.atoms(sympy.Number, sympy.NumberSymbol)):
        return sympy.Integer(0)
    if e.func in (sympy.sign, sympy.DiracDelta, sympy.im):
        return sympy.Integer(0)  # flat wherever defined (as the graph's sign); im of a real is 0
    if e.func in (sympy.Abs, sympy.re, size):
        return sensitivity(e.args[0], wrt)  # |d|u|/du| = 1; re of a real is itself
    if e.is_Symbol:
        return sympy.Integer(1 if e == wrt else 0)
    if e.is_Number or e.is_NumberSymbol:
        return size(e) if wrt is None and _inexact(e) else sympy.Integer(0)
    if e.is_Add:
        return sympy.Add(*[sensitivity(t, wrt) for t in e.args])
    if e.is_Mul:
        terms = []
        for i, a in enumerate(e.args):
            s = sensitivity(a, wrt)
            if s != 0:
                terms.append(s * sympy.Mul(*[size(b) for j, b in enumerate(e.args) if j != i]))
        return sympy.Add(*terms)
    if e.is_Pow:
        base, ex = e.args
        out = sympy.Integer(0)
        sb = sensitivity(base, wrt)
        if sb != 0:
            out += size(ex * base ** (ex - 1)) * sb
        se = sensitivity(ex, wrt)
        if se != 0:
            out += size(e * sympy.log(base)) * se
        return out
    if len(e.args) == 1:
        s = sensitivity(e.args[0], wrt)
        return size(e.fdiff(1)) * s if s != 0 else sympy.Integer(0)
    return size(e)  # not reached for the language's functions
