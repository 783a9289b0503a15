"""Evaluation: exact rationals where possible (eval_q), IEEE doubles otherwise (eval_d). Twin of
csrc/evaluate.cpp; both call the same libm, in the same order, so they give the same doubles.

Variables take pseudo-random values (a hash of the name and the point index); a non-finite result
from finite inputs is NaN ("undefined"), so two different huge numbers are never equal as inf == inf.
"""
import math

from .caps import MAX_BINOM_K, MAX_BITS, MAX_FACT, MAX_FACT_DOUBLE, MAX_STEPS
from .rational import q_to_double, qadd, qdiv, qmul, qpow
from .tables import (N_ABS, N_ADD, N_APPLY, N_BINOM, N_DIV, N_E, N_FACT, N_FUNC, N_INF, N_MUL, N_NEG, N_NUM, N_PI,
                     N_PM, N_POW, N_ROOT, N_SUB, N_VAR)
from .text import HASH, ZERO

VAR_LOW, VAR_SPAN = 0.5, 2.0  # variables are sampled in [VAR_LOW, VAR_LOW + VAR_SPAN)


class Abort(Exception):
    """A cap was hit: the item is judged on what is left (usually: not equal)."""


class Ctx(object):
    """Evaluation steps of one verify() call, capped at MAX_STEPS."""

    __slots__ = ("steps",)

    def __init__(self):
        self.steps = 0

    def step(self):
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise Abort()


def eval_q(e, mask, ctx):
    """Exact value (num, den) of a constant expression, or None."""
    ctx.step()
    k = e.kind
    if k == N_NUM:
        return (e.num, e.den)
    if k == N_NEG:
        a = eval_q(e.kids[0], mask, ctx)
        return None if a is None else (-a[0], a[1])
    if k in (N_ADD, N_SUB, N_MUL, N_DIV):
        a = eval_q(e.kids[0], mask, ctx)
        if a is None:
            return None
        b = eval_q(e.kids[1], mask, ctx)
        if b is None:
            return None
        if k == N_ADD:
            return qadd(a, b, 1)
        if k == N_SUB:
            return qadd(a, b, -1)
        if k == N_MUL:
            return qmul(a, b)
        return qdiv(a, b)
    if k == N_PM:
        neg = ((mask >> e.op) & 1) == 1
        if e.lit:
            neg = not neg
        if len(e.kids) == 1:
            a = eval_q(e.kids[0], mask, ctx)
            return None if a is None else ((-a[0], a[1]) if neg else a)
        a = eval_q(e.kids[0], mask, ctx)
        if a is None:
            return None
        b = eval_q(e.kids[1], mask, ctx)
        if b is None:
            return None
        return qadd(a, b, -1 if neg else 1)
    if k == N_POW:
        b = eval_q(e.kids[1], mask, ctx)
        if b is None or b[1] != 1:
            return None
        a = eval_q(e.kids[0], mask, ctx)
        if a is None:
            return None
        return qpow(a, b[0])
    if k == N_FACT:
        a = eval_q(e.kids[0], mask, ctx)
        if a is None or a[1] != 1 or a[0] < 0 or a[0] > MAX_FACT:
            return None
        r = 1
        for i in range(2, a[0] + 1):
            ctx.step()
            r *= i
            if r.bit_length() > MAX_BITS:
                return None
        return (r, 1)
    if k == N_ABS:
        a = eval_q(e.kids[0], mask, ctx)
        return None if a is None else (abs(a[0]), a[1])
    return None


def fnv(name, j):
    """64-bit FNV-1a of the variable's name and the point index: the same points in both twins."""
    h = 0xCBF29CE484222325
    for c in name:
        h ^= c
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    h ^= HASH  # name + '#' + digit
    h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    h ^= ZERO + j
    h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def var_value(name, j):
    h = fnv(name, j)
    u = (h >> 11) * (1.0 / (1 << 53))  # top 53 bits: uniform in [0, 1)
    return VAR_LOW + VAR_SPAN * u


def fin(x):
    return x - x == 0.0


def call_fn(fn, x):
    """libm function with C semantics: a non-finite result from a finite input is NaN."""
    try:
        if fn == b"sin":
            r = math.sin(x)
        elif fn == b"cos":
            r = math.cos(x)
        elif fn == b"tan":
            r = math.tan(x)
        elif fn == b"sec":
            r = 1.0 / math.cos(x)
        elif fn == b"csc":
            r = 1.0 / math.sin(x)
        elif fn == b"cot":
            r = 1.0 / math.tan(x)
        elif fn == b"arcsin":
            r = math.asin(x)
        elif fn == b"arccos":
            r = math.acos(x)
        elif fn == b"arctan":
            r = math.atan(x)
        elif fn == b"sinh":
            r = math.sinh(x)
        elif fn == b"cosh":
            r = math.cosh(x)
        elif fn == b"tanh":
            r = math.tanh(x)
        elif fn == b"ln" or fn == b"log":
            r = math.log(x)
        elif fn == b"exp":
            r = math.exp(x)
        else:
            r = math.nan
    except (ValueError, OverflowError, ZeroDivisionError):
        return math.nan
    return r if fin(r) else math.nan


def pow_d(a, b):
    try:
        r = math.pow(a, b)
    except (ValueError, OverflowError, ZeroDivisionError):
        return math.nan
    return r if fin(r) else math.nan


def eval_d(e, j, mask, ctx):
    """Double value at point j (variables hashed to (0.5, 2.5)); NaN where undefined."""
    ctx.step()
    k = e.kind
    if k == N_NUM:
        return q_to_double((e.num, e.den))
    if k == N_VAR:
        return var_value(e.name, j)
    if k == N_PI:
        return math.pi
    if k == N_E:
        return math.e
    if k == N_INF:
        return math.inf
    if k == N_NEG:
        return -eval_d(e.kids[0], j, mask, ctx)
    if k in (N_ADD, N_SUB, N_MUL, N_DIV, N_APPLY):
        a = eval_d(e.kids[0], j, mask, ctx)
        b = eval_d(e.kids[1], j, mask, ctx)
        if k == N_ADD:
            r = a + b
        elif k == N_SUB:
            r = a - b
        elif k == N_MUL or k == N_APPLY:
            if (a == 0.0 and not fin(b)) or (b == 0.0 and not fin(a)):
                return math.nan
            r = a * b
        else:
            if b == 0.0:
                return math.nan
            r = a / b
        if not fin(r) and fin(a) and fin(b):
            return math.nan
        return r
    if k == N_PM:
        neg = ((mask >> e.op) & 1) == 1
        if e.lit:
            neg = not neg
        a = eval_d(e.kids[0], j, mask, ctx)
        if len(e.kids) == 1:
            return -a if neg else a
        b = eval_d(e.kids[1], j, mask, ctx)
        return a - b if neg else a + b
    if k == N_POW:
        a = eval_d(e.kids[0], j, mask, ctx)
        b = eval_d(e.kids[1], j, mask, ctx)
        if not (fin(a) and fin(b)):
            return math.nan
        return pow_d(a, b)
    if k == N_ROOT:
        a = eval_d(e.kids[0], j, mask, ctx)
        if len(e.kids) == 1:
            if not fin(a) or a < 0.0:
                return math.nan
            return math.sqrt(a)
        m = eval_d(e.kids[1], j, mask, ctx)
        if not (fin(a) and fin(m)) or m == 0.0:
            return math.nan
        if a < 0.0:
            mi = int(m) if abs(m) < 1e6 else 0
            if float(mi) == m and mi % 2 == 1:
                return -pow_d(-a, 1.0 / m)
            return math.nan
        return pow_d(a, 1.0 / m)
    if k == N_FACT:
        a = eval_d(e.kids[0], j, mask, ctx)
        if not fin(a) or a < 0.0 or a > MAX_FACT_DOUBLE or a != math.floor(a):
            return math.nan
        r = 1.0
        i = 2
        while i <= int(a):
            r *= float(i)
            i += 1
        return r
    if k == N_ABS:
        return abs(eval_d(e.kids[0], j, mask, ctx))
    if k == N_FUNC:
        a = eval_d(e.kids[0], j, mask, ctx)
        if not fin(a):
            return math.nan
        return call_fn(e.name, a)
    if k == N_BINOM:
        a = eval_d(e.kids[0], j, mask, ctx)
        b = eval_d(e.kids[1], j, mask, ctx)
        if not (fin(a) and fin(b)) or b != math.floor(b) or b < 0.0 or b > MAX_BINOM_K:
            return math.nan
        r = 1.0
        i = 1
        while i <= int(b):
            ctx.step()
            r = r * (a - b + float(i)) / float(i)
            i += 1
        return r if fin(r) else math.nan
    return math.nan
