"""Evaluation: exact rationals where possible (eval_q), else IEEE doubles with an error bound
(eval_v). Twin of csrc/evaluate.cpp; both call the same libm in the same order, so they give the same
doubles and the same bounds.

eval_v returns (value, bound): the true value lies within value +- bound (rounding of every step,
1 ulp for libm functions, propagated with each operation's derivative). Two other states:
undefined (value NaN, bound 0: outside the domain, as sqrt(-1) or 1/0) and unresolved (bound inf:
the double cannot say, as e^{-800} underflowing to 0, 2^{-10^9}, 10^{20} pi + 1 where the 1 is lost
in rounding, a base whose sign is within its own error). An unresolved value is never equal to
anything (values.py), so a value that cannot be evaluated precisely enough cannot be accepted.

Variables take values at NPOINTS points: point 0 has every variable positive, point 1 every one
negative, points 2.. mixed signs (bits of a per-name code), magnitudes in [VAR_LOW, VAR_LOW + VAR_SPAN)
from a hash of the name and the point.
"""
import math

from .caps import MAX_BINOM_K, MAX_BITS, MAX_FACT, MAX_FACT_DOUBLE, MAX_STEPS
from .rational import q_to_double, qadd, qdiv, qmul, qpow
from .tables import (N_ABS, N_ADD, N_APPLY, N_BINOM, N_DIV, N_E, N_FACT, N_FUNC, N_INF, N_MUL, N_NEG, N_NUM, N_PI,
                     N_PM, N_POW, N_ROOT, N_SUB, N_VAR)
from .text import HASH, ZERO

VAR_LOW, VAR_SPAN = 0.2, 2.8  # |variables| are sampled in [VAR_LOW, VAR_LOW + VAR_SPAN)
U = 2.0 ** -53  # unit roundoff of a double
NORMAL = 2.0 ** -1022  # smallest normal double: below it relative bounds no longer hold
EXACT_INT = 2.0 ** 53  # integers up to this are exact doubles
UNDEF = (math.nan, 0.0)
UNRESOLVED = (math.nan, math.inf)
_M64 = (1 << 64) - 1


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


def _pair_q(e, mask, ctx):
    """The exact values of e's two children (the second is not evaluated when the first fails)."""
    a = eval_q(e.kids[0], mask, ctx)
    if a is None:
        return None
    b = eval_q(e.kids[1], mask, ctx)
    return None if b is None else (a, b)


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
        ab = _pair_q(e, mask, ctx)
        if ab is None:
            return None
        a, b = ab
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
        ab = _pair_q(e, mask, ctx)
        return None if ab is None else qadd(ab[0], ab[1], -1 if neg else 1)
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
    """64-bit FNV-1a of the variable's name, '#' and the point index."""
    h = 0xCBF29CE484222325
    for c in name + bytes([HASH, ZERO + j]):
        h ^= c
        h = (h * 0x100000001B3) & _M64
    return h


def mix64(h):
    """splitmix64's finalizer: FNV's last bytes barely move its top bits, this spreads them."""
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _M64
    return h ^ (h >> 31)


def sign_code(name):
    """4 sign bits for points 2..5: a one-letter name's own bits (x and y differ), else hashed."""
    return (name[0] & 15) if len(name) == 1 else (mix64(fnv(name, 9)) & 15)


def var_value(name, j):
    u = (mix64(fnv(name, j)) >> 11) * U  # top 53 bits: uniform in [0, 1)
    v = VAR_LOW + VAR_SPAN * u
    negative = j == 1 or (j >= 2 and (sign_code(name) >> (j - 2)) & 1)
    return -v if negative else v


def fin(x):
    return x - x == 0.0


def _undef(x):
    return x[0] != x[0] and x[1] == 0.0


def _libm(fn, x):
    """A libm call with C semantics: overflow gives inf (Python raises), a domain error NaN."""
    try:
        return fn(x)
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan


def _bad(a, b=(0.0, 0.0)):
    """The result when an input is undefined or unresolved, else None."""
    if _undef(a) or _undef(b):
        return UNDEF
    if a[1] == math.inf or b[1] == math.inf:
        return UNRESOLVED
    return None


def num_value(n, d):
    """An exact rational as (double, bound)."""
    v = q_to_double((n, d))
    if not fin(v) or (v == 0.0) != (n == 0) or (v != 0.0 and abs(v) < NORMAL):
        return UNRESOLVED
    if d == 1 and abs(n) <= EXACT_INT:
        return (v, 0.0)
    return (v, abs(v) * U)


def add(a, b, sign):
    r = _bad(a, b)
    if r is not None:
        return r
    x, y = a[0], b[0]
    if not (fin(x) and fin(y)):
        v = x + y if sign > 0 else x - y
        return (v, 0.0) if v == v else UNDEF
    v = x + y if sign > 0 else x - y
    if not fin(v):
        return UNRESOLVED
    e = a[1] + b[1] + abs(v) * U
    m = min(abs(x), abs(y))
    if m > 0.0 and e >= 0.5 * m:
        return UNRESOLVED  # a term lost in rounding: 10^{20} pi + 1
    return (v, e)


def mul(a, b):
    r = _bad(a, b)
    if r is not None:
        return r
    x, y = a[0], b[0]
    if not (fin(x) and fin(y)):
        if x == 0.0 or y == 0.0:
            return UNDEF
        return (x * y, 0.0)
    v = x * y
    if not fin(v) or (v == 0.0 and x != 0.0 and y != 0.0) or (v != 0.0 and abs(v) < NORMAL):
        return UNRESOLVED
    return (v, abs(x) * b[1] + abs(y) * a[1] + a[1] * b[1] + abs(v) * U)


def div(a, b):
    r = _bad(a, b)
    if r is not None:
        return r
    x, y = a[0], b[0]
    if y == 0.0 and b[1] == 0.0:
        return UNDEF
    if not (fin(x) and fin(y)):
        v = x / y
        return (v, 0.0) if v == v else UNDEF
    if abs(y) <= b[1]:
        return UNRESOLVED  # the divisor may be 0
    v = x / y
    if not fin(v) or (v == 0.0 and x != 0.0) or (v != 0.0 and abs(v) < NORMAL):
        return UNRESOLVED
    e = (abs(x) * b[1] + abs(y) * a[1]) / (abs(y) * (abs(y) - b[1])) + abs(v) * U
    return (v, e)


def _scaled(v, rel, ulps):
    """(v, bound) for a result v whose inputs carry relative error `rel`, plus `ulps` roundings."""
    if not fin(v) or v == 0.0 or abs(v) < NORMAL:
        return UNRESOLVED
    g = _libm(math.expm1, rel)
    if not fin(g):
        return UNRESOLVED
    return (v, abs(v) * g + ulps * abs(v) * U)


def power(a, b, qexp):
    """a^b; qexp: the exact exponent (num, den) or None. A negative base takes an integer exponent,
    or a rational one with an odd denominator (a real root: (-8)^{1/3} = -2)."""
    r = _bad(a, b)
    if r is not None:
        return r
    x, ex, y, ey = a[0], a[1], b[0], b[1]
    if not (fin(x) and fin(y)):
        return UNDEF
    if x == 0.0 and ex == 0.0:
        if y - ey > 0.0:
            return (0.0, 0.0)
        if y == 0.0 and ey == 0.0:
            return (1.0, 0.0)
        return UNDEF if y + ey < 0.0 else UNRESOLVED
    if abs(x) <= ex:
        return UNRESOLVED  # the base's sign is not resolved
    sign = 1.0
    if x < 0.0:
        if ey == 0.0 and y == math.floor(y) and abs(y) < EXACT_INT:
            sign = -1.0 if math.fmod(y, 2.0) != 0.0 else 1.0
        elif qexp is not None and qexp[1] % 2 == 1:
            sign = -1.0 if qexp[0] % 2 else 1.0
        else:
            return UNDEF
    mag = abs(x)
    rin = ex / (mag - ex)
    rel = abs(y) * rin + abs(math.log(mag)) * ey + rin * ey
    return _scaled(sign * _libm(lambda z: math.pow(mag, z), y), rel, 2)


def root(a, m):
    """The m-th root (m = None: the square root) of a: real, odd roots of negatives included."""
    r = _bad(a, m if m is not None else (0.0, 0.0))
    if r is not None:
        return r
    x, ex = a
    if not fin(x):
        return UNDEF
    if m is None:
        if x + ex < 0.0:
            return UNDEF
        if x - ex < 0.0 or x == 0.0:
            return (0.0, 0.0) if x == 0.0 and ex == 0.0 else UNRESOLVED
        v = math.sqrt(x)
        return (v, ex / (math.sqrt(x - ex) + v) + v * U)
    k, ek = m
    if not fin(k) or ek != 0.0 or k != math.floor(k) or abs(k) >= EXACT_INT:
        return UNRESOLVED if fin(k) and ek != 0.0 else UNDEF
    if k == 0.0:
        return UNDEF
    if x == 0.0 and ex == 0.0:
        return (0.0, 0.0) if k > 0.0 else UNDEF
    if abs(x) <= ex:
        return UNRESOLVED
    sign = 1.0
    if x < 0.0:
        if math.fmod(k, 2.0) == 0.0:
            return UNDEF
        sign = -1.0
    mag = abs(x)
    rel = (ex / (mag - ex)) / abs(k) + abs(math.log(mag)) * U / abs(k)
    return _scaled(sign * _libm(lambda z: math.pow(mag, z), 1.0 / k), rel, 2)


def factorial(a):
    x, ex = a
    r = _bad(a)
    if r is not None:
        return r
    if not fin(x) or x < 0.0 or x > MAX_FACT_DOUBLE or x != math.floor(x):
        return UNDEF
    if ex != 0.0:
        return UNRESOLVED
    v = 1.0
    i = 2
    while i <= int(x):
        v *= float(i)
        i += 1
    return (v, v * x * U)


def func(name, a):
    """A function of tables.FUNCS (abs is its own node), with the bound its derivative gives."""
    r = _bad(a)
    if r is not None:
        return r
    x, ex = a
    if not fin(x):
        return UNDEF
    if name in (b"sin", b"cos"):
        v = math.sin(x) if name == b"sin" else math.cos(x)
        return (v, ex + 2.0 * U * abs(v))
    if name in (b"tan", b"cot", b"sec", b"csc"):
        c = math.cos(x) if name in (b"tan", b"sec") else math.sin(x)
        ec = ex + 2.0 * U * abs(c)
        if name in (b"sec", b"csc"):
            return div((1.0, 0.0), (c, ec))
        if abs(c) <= 100.0 * ec:
            return UNRESOLVED  # too close to a pole
        t = math.tan(x)
        tv = (t, ex * (1.0 + t * t) * 1.25 + 2.0 * U * abs(t))
        return tv if name == b"tan" else div((1.0, 0.0), tv)
    if name in (b"arcsin", b"arccos"):
        if abs(x) - ex > 1.0:
            return UNDEF
        if abs(x) + ex >= 1.0:
            if ex != 0.0 or abs(x) != 1.0:
                return UNRESOLVED
            v = math.asin(x) if name == b"arcsin" else math.acos(x)
            return (v, 2.0 * U * abs(v))
        v = math.asin(x) if name == b"arcsin" else math.acos(x)
        return (v, ex / math.sqrt(1.0 - (abs(x) + ex) * (abs(x) + ex)) + 2.0 * U * abs(v))
    if name in (b"arctan", b"tanh"):
        v = math.atan(x) if name == b"arctan" else math.tanh(x)
        return (v, ex + 2.0 * U * abs(v))
    if name in (b"sinh", b"cosh"):
        v = _libm(math.sinh if name == b"sinh" else math.cosh, x)
        d = _libm(math.cosh, abs(x) + ex)
        if not (fin(v) and fin(d)):
            return UNRESOLVED
        return (v, d * ex + 2.0 * U * abs(v))
    if name in (b"ln", b"log"):
        if x + ex <= 0.0:
            return UNDEF
        if x - ex <= 0.0:
            return UNRESOLVED
        v = math.log(x)
        return (v, ex / (x - ex) + 2.0 * U * abs(v))
    if name == b"exp":
        return _scaled(_libm(math.exp, x), ex, 2)
    return UNDEF


def binom(a, b, ctx):
    r = _bad(a, b)
    if r is not None:
        return r
    x, y = a[0], b[0]
    if not (fin(x) and fin(y)) or y != math.floor(y) or y < 0.0 or y > MAX_BINOM_K:
        return UNDEF
    if a[1] != 0.0 or b[1] != 0.0:
        return UNRESOLVED
    v = 1.0
    i = 1
    while i <= int(y):
        ctx.step()
        v = v * (x - y + float(i)) / float(i)
        i += 1
    if not fin(v):
        return UNRESOLVED
    return (v, abs(v) * 3.0 * y * U)


def eval_v(e, j, mask, ctx):
    """(value, bound) at point j (\\pm signs chosen by mask); see the module docstring."""
    ctx.step()
    k = e.kind
    if k == N_NUM:
        return num_value(e.num, e.den)
    if k == N_VAR:
        return (var_value(e.name, j), 0.0)
    if k == N_PI:
        return (math.pi, math.pi * U)
    if k == N_E:
        return (math.e, math.e * U)
    if k == N_INF:
        return (math.inf, 0.0)
    if k == N_NEG:
        a = eval_v(e.kids[0], j, mask, ctx)
        return (-a[0], a[1])
    if k in (N_ADD, N_SUB, N_MUL, N_DIV, N_APPLY):
        a = eval_v(e.kids[0], j, mask, ctx)
        b = eval_v(e.kids[1], j, mask, ctx)
        if k == N_ADD or k == N_SUB:
            return add(a, b, 1 if k == N_ADD else -1)
        return div(a, b) if k == N_DIV else mul(a, b)
    if k == N_PM:
        neg = ((mask >> e.op) & 1) == 1
        if e.lit:
            neg = not neg
        a = eval_v(e.kids[0], j, mask, ctx)
        if len(e.kids) == 1:
            return (-a[0], a[1]) if neg else a
        b = eval_v(e.kids[1], j, mask, ctx)
        return add(a, b, -1 if neg else 1)
    if k == N_POW:
        a = eval_v(e.kids[0], j, mask, ctx)
        b = eval_v(e.kids[1], j, mask, ctx)
        return power(a, b, eval_q(e.kids[1], mask, ctx))
    if k == N_ROOT:
        a = eval_v(e.kids[0], j, mask, ctx)
        m = eval_v(e.kids[1], j, mask, ctx) if len(e.kids) == 2 else None
        return root(a, m)
    if k == N_FACT:
        return factorial(eval_v(e.kids[0], j, mask, ctx))
    if k == N_ABS:
        a = eval_v(e.kids[0], j, mask, ctx)
        return (abs(a[0]), a[1])
    if k == N_FUNC:
        return func(e.name, eval_v(e.kids[0], j, mask, ctx))
    if k == N_BINOM:
        a = eval_v(e.kids[0], j, mask, ctx)
        b = eval_v(e.kids[1], j, mask, ctx)
        return binom(a, b, ctx)
    return UNDEF
