"""Equality of values: exact, by the decimal rule, or within error bounds; at sampled points for
expressions with variables. Twin of csrc/values.cpp. Used by compare.py for arithmetic leaves.

- Both sides exact (rationals of big integers): equal exactly or not at all (2^{100} is not 2^{100}+1).
- A decimal literal (1.23) matches an exact value that rounds to it at the literal's own number of
  decimals, when the literal carries at least MIN_SIG_DIGITS significant digits (0.00 is not 1/216,
  0.33 is not 1/3, 3.14 is pi, 0.333 is 1/3). Two plain literals compare exactly (1000.4 is not 1000).
- Otherwise doubles with error bounds (evaluate.py): different when they differ by more than the
  bounds, equal when they agree within bounds that are at most RESOLUTION of the value; anything
  else (unresolved, undefined, bounds too wide) is not equal. No absolute tolerance: e^{-800} is not
  0, sqrt(2) 10^{-12} is not sqrt(3) 10^{-12}, 10^{10} pi is not 10^{10} pi + 1.
- With variables: at NPOINTS points (positive, negative, mixed signs); one point where one side is
  defined and the other not, or where they differ, makes them different; at least MIN_POINTS points
  must agree (points where the doubles cannot decide are skipped): |x| is not x, sqrt(x^2) is |x|.
"""
import math

from .caps import MIN_POINTS, MIN_SIG_DIGITS, NPOINTS, RESOLUTION
from .evaluate import U, add, div, eval_q, eval_v, fin, num_value
from .parse import arith, has_var
from .rational import qadd
from .tables import N_NEG, N_NUM, N_ROOT

SAME, DIFFERENT, UNDECIDED = range(3)


def approx_lit(e):
    """A decimal literal precise enough to stand for a rounding: its number of decimals, else -1."""
    x = e.kids[0] if e.kind == N_NEG else e
    if x.kind == N_NUM and x.lit and x.dec >= 1 and x.sig >= MIN_SIG_DIGITS:
        return x.dec
    return -1


def plain_lit(e):
    x = e.kids[0] if e.kind == N_NEG else e
    return x.kind == N_NUM and x.lit


def compare_values(x, y):
    """SAME, DIFFERENT or UNDECIDED for two (value, bound) pairs."""
    xu, yu = x[0] != x[0] and x[1] == 0.0, y[0] != y[0] and y[1] == 0.0  # undefined
    if xu or yu:
        return UNDECIDED if xu and yu else DIFFERENT
    if x[1] == math.inf or y[1] == math.inf:
        return UNDECIDED
    if x[0] == y[0] and x[1] == 0.0 and y[1] == 0.0:
        return SAME
    if not (fin(x[0]) and fin(y[0])):
        return DIFFERENT
    bound = x[1] + y[1]
    if abs(x[0] - y[0]) > bound:
        return DIFFERENT
    return SAME if bound <= RESOLUTION * max(abs(x[0]), abs(y[0])) else UNDECIDED


def within_rounding(lit, dec, other, mask, ctx):
    """The literal `lit` (dec decimals) is `other` rounded to dec decimals: |other - lit| <= 10^-dec / 2."""
    q = eval_q(lit, 0, ctx)
    if q is None:
        return False
    qo = eval_q(other, mask, ctx)
    if qo is not None:
        d = qadd(qo, q, -1)
        return d is not None and abs(d[0]) * 2 * 10 ** dec <= d[1]
    exact = _root_within(q, dec, other, mask, ctx)
    if exact is not None:
        return exact
    v = eval_v(other, 0, mask, ctx)
    if v[0] != v[0] or v[1] == math.inf:
        return False
    lv = num_value(q[0], q[1])
    if lv[1] == math.inf:
        return False
    half = 0.5 * 10.0 ** (-dec)
    return abs(v[0] - lv[0]) + v[1] + lv[1] <= half * (1.0 - 8.0 * U)


def _root_within(lit, dec, e, mask, ctx):
    """Exactly, for e = +-sqrt(q) of an exact q: |e - lit| <= 10^-dec / 2, by squaring the bounds
    (None when e is not such a root): 4.123105625617661 is sqrt(17) rounded, beyond double precision."""
    sign = 1
    if e.kind == N_NEG:
        sign, e = -1, e.kids[0]
    if e.kind != N_ROOT or len(e.kids) != 1:
        return None
    q = eval_q(e.kids[0], mask, ctx)
    if q is None or q[0] < 0:
        return None
    lo_hi = []
    for s_ in (-1, 1):  # lit -+ half, on the side of the root's sign
        b = qadd((sign * lit[0], lit[1]), (1, 2 * 10 ** dec), s_)
        if b is None:
            return None
        lo_hi.append(b)
    lo, hi = lo_hi
    if hi[0] < 0:
        return False
    if lo[0] > 0 and lo[0] * lo[0] * q[1] > q[0] * lo[1] * lo[1]:
        return False
    return q[0] * hi[1] * hi[1] <= hi[0] * hi[0] * q[1]


def points_eq(a, ma, b, mb, ctx, value_of):
    """a and b agree at the sample points: value_of(node, j, mask) gives a (value, bound) pair."""
    agree = 0
    for j in range(NPOINTS):
        c = compare_values(value_of(a, j, ma), value_of(b, j, mb))
        if c == DIFFERENT:
            return False
        agree += c == SAME
    return agree >= MIN_POINTS


def expr_eq(a, ma, b, mb, ctx):
    """Two arithmetic expressions (with \\pm signs fixed by the masks)."""
    if has_var(a) or has_var(b):
        return points_eq(a, ma, b, mb, ctx, lambda e, j, m: eval_v(e, j, m, ctx))
    qa = eval_q(a, ma, ctx)
    qb = eval_q(b, mb, ctx)
    if qa is not None and qb is not None and qa[0] * qb[1] == qb[0] * qa[1]:
        return True
    da = approx_lit(a)
    db = approx_lit(b)
    if da >= 0 and not plain_lit(b):
        return within_rounding(a, da, b, mb, ctx)
    if db >= 0 and not plain_lit(a):
        return within_rounding(b, db, a, ma, ctx)
    if qa is not None and qb is not None:
        return False
    return compare_values(eval_v(a, 0, ma, ctx), eval_v(b, 0, mb, ctx)) == SAME


def approx_true(a, b, ctx):
    """The statement a \\approx b holds: b (or a) is a literal and the other rounds to it at the
    literal's decimals (an integer literal: to the nearest integer)."""
    for lit, other in ((b, a), (a, b)):
        if plain_lit(lit):
            x = lit.kids[0] if lit.kind == N_NEG else lit
            return within_rounding(lit, max(x.dec, 0), other, 0, ctx)
    return expr_eq(a, 0, b, 0, ctx)


def _diff(rel, j, ctx):
    """lhs - rhs of a relation at point j."""
    return add(eval_v(rel.kids[0], j, 0, ctx), eval_v(rel.kids[1], j, 0, ctx), -1)


def rel_eq(a, b, positive, ctx):
    """lhs - rhs of two relations proportional at the sample points (by a positive factor when
    `positive`); a point on both curves (both differences 0 within their bounds) is skipped."""
    for x in (a, b):
        for k in x.kids:
            if not arith(k):
                return False
    ratio = None
    agree = 0
    for j in range(NPOINTS):
        fa = _diff(a, j, ctx)
        fb = _diff(b, j, ctx)
        ua, ub = fa[0] != fa[0] and fa[1] == 0.0, fb[0] != fb[0] and fb[1] == 0.0
        if ua or ub:
            if ua != ub:
                return False
            continue
        if fa[1] == math.inf or fb[1] == math.inf:
            continue
        za, zb = abs(fa[0]) <= fa[1], abs(fb[0]) <= fb[1]
        if za or zb:
            if za != zb:
                return False
            continue
        r = div(fa, fb)
        if ratio is None:
            if r[1] == math.inf or (positive and r[0] - r[1] <= 0.0):
                return False
            ratio = r
            agree += 1
            continue
        c = compare_values(r, ratio)
        if c == DIFFERENT:
            return False
        agree += c == SAME
    return agree >= MIN_POINTS
