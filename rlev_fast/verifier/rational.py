"""Exact rationals: (numerator, denominator) pairs of Python ints, denominator > 0, kept under
MAX_BITS bits (None past the caps). Twin of csrc/rational.cpp (with csrc/bigint.h for the ints).
"""
import math

from .caps import MAX_BITS, MAX_EXP

_U64_BITS = 64
_GCD_BITS = 63


def bits_ok(n, d):
    """Both under the cap on exact numbers."""
    return n.bit_length() <= MAX_BITS and d.bit_length() <= MAX_BITS


def reduce(n, d):
    """n/d in lowest terms when both fit in 63 bits (csrc/rational.cpp's gcd is on uint64)."""
    if n.bit_length() <= _GCD_BITS and d.bit_length() <= _GCD_BITS:
        g = math.gcd(n, d)
        if g > 1:
            n //= g
            d //= g
    return n, d


def qadd(a, b, sign):
    """a + sign * b, or None past MAX_BITS."""
    n = a[0] * b[1] + sign * b[0] * a[1]
    d = a[1] * b[1]
    if not bits_ok(n, d):
        return None
    return reduce(n, d)


def qmul(a, b):
    n = a[0] * b[0]
    d = a[1] * b[1]
    if not bits_ok(n, d):
        return None
    return reduce(n, d)


def qdiv(a, b):
    if b[0] == 0:
        return None
    n = a[0] * b[1]
    d = a[1] * b[0]
    if d < 0:
        n, d = -n, -d
    if not bits_ok(n, d):
        return None
    return reduce(n, d)


def qpow(a, e):
    """a ** e for an integer e, exactly, or None past the caps."""
    if e == 0:
        return (1, 1)
    if a[0] == 0:
        return (0, 1) if e > 0 else None
    if abs(e) > MAX_EXP:
        if a[1] == 1 and (a[0] == 1 or a[0] == -1):
            return (a[0] if e % 2 else 1, 1)
        return None
    nb = max(abs(a[0]).bit_length() - 1, a[1].bit_length() - 1)
    if nb * abs(e) > MAX_BITS:
        return None
    n = a[0] ** abs(e)
    d = a[1] ** abs(e)
    if e < 0:
        n, d = d, n
        if d < 0:
            n, d = -n, -d
    if not bits_ok(n, d):
        return None
    return reduce(n, d)


def top64(n):
    """Correctly rounded float(n) for n >= 0 through the top 64 bits plus a sticky bit (as in C++)."""
    L = n.bit_length()
    if L <= _U64_BITS:
        return float(n), 0
    sh = L - _U64_BITS
    m = n >> sh
    if n & ((1 << sh) - 1):
        m |= 1
    return float(m), sh


def q_to_double(q):
    """The nearest double of n/d (inf past the range, like the C++ twin)."""
    n, d = q
    neg = n < 0
    if neg:
        n = -n
    mn, en = top64(n)
    md, ed = top64(d)
    try:
        r = math.ldexp(mn / md, en - ed)
    except OverflowError:
        r = math.inf
    return -r if neg else r
