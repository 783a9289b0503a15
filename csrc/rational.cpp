// Exact rationals on the small big integer of bigint.h, kept under MAX_BITS bits (false past the
// caps). Twin of rlev_fast/verifier/rational.py.
#include "rational.h"

#include <algorithm>
#include <cmath>

#include "caps.h"

namespace rlv {

static const int64_t GCD_BITS = 63;       // reduce() works on uint64 (Python's gcd on any int: same result)
static const int64_t I64_SAFE_BITS = 62;  // to_i64: |q| < 2**62

static uint64_t gcd_u64(uint64_t a, uint64_t b) {
  while (b) {
    uint64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

bool bits_ok(const Big& n, const Big& d) { return n.bit_length() <= MAX_BITS && d.bit_length() <= MAX_BITS; }

void reduce(Q* q) {
  if (q->n.bit_length() <= GCD_BITS && q->d.bit_length() <= GCD_BITS) {
    uint64_t a = q->n.mag_u64(), b = q->d.mag_u64();
    uint64_t g = gcd_u64(a, b);
    if (g > 1) {
      bool ng = q->n.neg;
      q->n.set_u64(a / g);
      q->n.neg = ng && !q->n.is_zero();
      q->d.set_u64(b / g);
    }
  }
}

bool qfix(Q* q) {
  if (q->d.neg) {
    q->n = negate(q->n);
    q->d = negate(q->d);
  }
  if (!bits_ok(q->n, q->d)) return false;
  reduce(q);
  return true;
}

bool qadd(const Q& a, const Q& b, int sign, Q* r) {
  Big x = mul(b.n, a.d);
  if (sign < 0) x = negate(x);
  r->n = add(mul(a.n, b.d), x);
  r->d = mul(a.d, b.d);
  if (!bits_ok(r->n, r->d)) return false;
  reduce(r);
  return true;
}
bool qmul(const Q& a, const Q& b, Q* r) {
  r->n = mul(a.n, b.n);
  r->d = mul(a.d, b.d);
  if (!bits_ok(r->n, r->d)) return false;
  reduce(r);
  return true;
}
bool qdiv(const Q& a, const Q& b, Q* r) {
  if (b.n.is_zero()) return false;
  r->n = mul(a.n, b.d);
  r->d = mul(a.d, b.n);
  return qfix(r);
}

static Big bpow(const Big& a, int64_t e) {
  Big r(1), base = a;
  while (e > 0) {
    if (e & 1) r = mul(r, base);
    e >>= 1;
    if (e) base = mul(base, base);
  }
  return r;
}

bool qpow(const Q& a, int64_t e, Q* r) {
  if (e == 0) {
    r->n = Big(1);
    r->d = Big(1);
    return true;
  }
  if (a.n.is_zero()) {
    if (e > 0) {
      r->n = Big();
      r->d = Big(1);
      return true;
    }
    return false;
  }
  int64_t ae = e < 0 ? -e : e;
  if (ae > MAX_EXP) {
    if (a.d.bit_length() == 1 && a.n.bit_length() == 1) {  // den == 1 and num == +-1
      r->n = (e % 2) ? a.n : Big(1);
      r->d = Big(1);
      return true;
    }
    return false;
  }
  int64_t nb = std::max(a.n.bit_length() - 1, a.d.bit_length() - 1);
  if (nb * ae > MAX_BITS) return false;
  Big n = bpow(a.n, ae), d = bpow(a.d, ae);
  if (e < 0) std::swap(n, d);
  r->n = n;
  r->d = d;
  return qfix(r);
}

bool to_i64(const Q& q, int64_t* v) {
  if (!(q.d.bit_length() == 1)) return false;
  if (q.n.bit_length() > I64_SAFE_BITS) return false;
  int64_t m = (int64_t)q.n.mag_u64();
  *v = q.n.neg ? -m : m;
  return true;
}

double q_to_double(const Q& q) {
  bool ng = q.n.neg;
  int64_t en, ed;
  double mn = top64(q.n, &en);
  double md = top64(q.d, &ed);
  int64_t sh = en - ed;
  if (sh > 100000) sh = 100000;
  if (sh < -100000) sh = -100000;
  double r = std::ldexp(mn / md, (int)sh);
  return ng ? -r : r;
}

}  // namespace rlv
