// Evaluation: exact rationals where possible (eval_q), else IEEE doubles with an error bound (eval_v).
// Twin of rlev_fast/verifier/evaluate.py (read its docstring); both call the same libm in the same
// order, so they give the same doubles and the same bounds.
#include "evaluate.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "caps.h"
#include "tables.h"

namespace rlv {

static const int64_t I64_SAFE_BITS = 62;  // integer exponents that to_i64 reads
static const double VAR_LOW = 0.2, VAR_SPAN = 2.8;  // |variables| are sampled in [VAR_LOW, VAR_LOW + VAR_SPAN)
static const double INF = std::numeric_limits<double>::infinity();
const double U = std::ldexp(1.0, -53);             // unit roundoff of a double
static const double NORMAL = std::ldexp(1.0, -1022);  // smallest normal double
static const double EXACT_INT = std::ldexp(1.0, 53);  // integers up to this are exact doubles
static const V UNDEF = {NAN, 0.0};
static const V UNRESOLVED = {NAN, INF};

bool eval_q(Tree& T, int e, int64_t mask, Ctx& ctx, Q* out) {
  ctx.step();
  int k = T[e].kind;
  if (k == N_NUM) {
    *out = T[e].q;
    return true;
  }
  if (k == N_NEG) {
    Q a;
    if (!eval_q(T, T[e].kids[0], mask, ctx, &a)) return false;
    out->n = negate(a.n);
    out->d = a.d;
    return true;
  }
  if (k == N_ADD || k == N_SUB || k == N_MUL || k == N_DIV) {
    Q a, b;
    if (!eval_q(T, T[e].kids[0], mask, ctx, &a)) return false;
    if (!eval_q(T, T[e].kids[1], mask, ctx, &b)) return false;
    if (k == N_ADD) return qadd(a, b, 1, out);
    if (k == N_SUB) return qadd(a, b, -1, out);
    if (k == N_MUL) return qmul(a, b, out);
    return qdiv(a, b, out);
  }
  if (k == N_PM) {
    bool ng = ((mask >> T[e].op) & 1) == 1;
    if (T[e].lit) ng = !ng;
    if (T[e].kids.size() == 1) {
      Q a;
      if (!eval_q(T, T[e].kids[0], mask, ctx, &a)) return false;
      out->n = ng ? negate(a.n) : a.n;
      out->d = a.d;
      return true;
    }
    Q a, b;
    if (!eval_q(T, T[e].kids[0], mask, ctx, &a)) return false;
    if (!eval_q(T, T[e].kids[1], mask, ctx, &b)) return false;
    return qadd(a, b, ng ? -1 : 1, out);
  }
  if (k == N_POW) {
    Q b;
    if (!eval_q(T, T[e].kids[1], mask, ctx, &b)) return false;
    if (!(b.d.bit_length() == 1)) return false;  // den must be 1
    Q a;
    if (!eval_q(T, T[e].kids[0], mask, ctx, &a)) return false;
    int64_t ev;
    if (b.n.bit_length() > I64_SAFE_BITS) {
      // |e| > MAX_EXP certainly: qpow decides with a stand-in exponent of the same parity/sign
      int64_t par = (b.n.mag[0] & 1u) ? 1 : 0;
      ev = (MAX_EXP + 1 + (((MAX_EXP + 1) % 2) != par ? 1 : 0)) * (b.n.neg ? -1 : 1);
    } else {
      to_i64(b, &ev);
    }
    return qpow(a, ev, out);
  }
  if (k == N_FACT) {
    Q a;
    if (!eval_q(T, T[e].kids[0], mask, ctx, &a)) return false;
    int64_t v;
    if (!to_i64(a, &v) || v < 0 || v > MAX_FACT) return false;
    Big r(1);
    for (int64_t i = 2; i <= v; i++) {
      ctx.step();
      r.mul_small_add((uint32_t)i, 0);
      if (r.bit_length() > MAX_BITS) return false;
    }
    out->n = r;
    out->d = Big(1);
    return true;
  }
  if (k == N_ABS) {
    Q a;
    if (!eval_q(T, T[e].kids[0], mask, ctx, &a)) return false;
    out->n = a.n;
    out->n.neg = false;
    out->d = a.d;
    return true;
  }
  return false;
}



uint64_t fnv(const B& name, int j) {
  uint64_t h = 0xCBF29CE484222325ull;
  B bytes = name;
  bytes.push_back('#');
  bytes.push_back((char)('0' + j));
  for (char ch : bytes) {
    h ^= (unsigned char)ch;
    h *= 0x100000001B3ull;
  }
  return h;
}

// splitmix64's finalizer: FNV's last bytes barely move its top bits, this spreads them
uint64_t mix64(uint64_t h) {
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
  return h ^ (h >> 31);
}

// 4 sign bits for points 2..5: a one-letter name's own bits (x and y differ), else hashed
static unsigned sign_code(const B& name) {
  return name.size() == 1 ? ((unsigned char)name[0] & 15u) : (unsigned)(mix64(fnv(name, 9)) & 15u);
}

double var_value(const B& name, int j) {
  double u = (double)(mix64(fnv(name, j)) >> 11) * U;  // top 53 bits: uniform in [0, 1)
  double v = VAR_LOW + VAR_SPAN * u;
  bool negative = j == 1 || (j >= 2 && ((sign_code(name) >> (j - 2)) & 1u));
  return negative ? -v : v;
}

static bool undef(const V& x) { return x.v != x.v && x.e == 0.0; }

// the result when an input is undefined or unresolved; false when both are usable
static bool bad(const V& a, const V& b, V* out) {
  if (undef(a) || undef(b)) {
    *out = UNDEF;
    return true;
  }
  if (a.e == INF || b.e == INF) {
    *out = UNRESOLVED;
    return true;
  }
  return false;
}

V num_value(const Q& q) {
  double v = q_to_double(q);
  if (!fin(v) || (v == 0.0) != q.n.is_zero() || (v != 0.0 && std::fabs(v) < NORMAL)) return UNRESOLVED;
  const bool den_one = q.d.bit_length() == 1;
  const int64_t nb = q.n.bit_length();
  if (den_one && (nb <= 53 || (nb == 54 && q.n.mag_u64() == (1ull << 53)))) return {v, 0.0};
  return {v, std::fabs(v) * U};
}

V add(const V& a, const V& b, int sign) {
  V r;
  if (bad(a, b, &r)) return r;
  const double x = a.v, y = b.v;
  if (!(fin(x) && fin(y))) {
    double v = sign > 0 ? x + y : x - y;
    return v == v ? V{v, 0.0} : UNDEF;
  }
  double v = sign > 0 ? x + y : x - y;
  if (!fin(v)) return UNRESOLVED;
  double e = a.e + b.e + std::fabs(v) * U;
  double m = std::min(std::fabs(x), std::fabs(y));
  if (m > 0.0 && e >= 0.5 * m) return UNRESOLVED;  // a term lost in rounding: 10^{20} pi + 1
  return {v, e};
}

V mul(const V& a, const V& b) {
  V r;
  if (bad(a, b, &r)) return r;
  const double x = a.v, y = b.v;
  if (!(fin(x) && fin(y))) {
    if (x == 0.0 || y == 0.0) return UNDEF;
    return {x * y, 0.0};
  }
  double v = x * y;
  if (!fin(v) || (v == 0.0 && x != 0.0 && y != 0.0) || (v != 0.0 && std::fabs(v) < NORMAL)) return UNRESOLVED;
  return {v, std::fabs(x) * b.e + std::fabs(y) * a.e + a.e * b.e + std::fabs(v) * U};
}

V div(const V& a, const V& b) {
  V r;
  if (bad(a, b, &r)) return r;
  const double x = a.v, y = b.v;
  if (y == 0.0 && b.e == 0.0) return UNDEF;
  if (!(fin(x) && fin(y))) {
    double v = x / y;
    return v == v ? V{v, 0.0} : UNDEF;
  }
  if (std::fabs(y) <= b.e) return UNRESOLVED;  // the divisor may be 0
  double v = x / y;
  if (!fin(v) || (v == 0.0 && x != 0.0) || (v != 0.0 && std::fabs(v) < NORMAL)) return UNRESOLVED;
  double e = (std::fabs(x) * b.e + std::fabs(y) * a.e) / (std::fabs(y) * (std::fabs(y) - b.e)) + std::fabs(v) * U;
  return {v, e};
}

// (v, bound) for a result v whose inputs carry relative error `rel`, plus `ulps` roundings
static V scaled(double v, double rel, double ulps) {
  if (!fin(v) || v == 0.0 || std::fabs(v) < NORMAL) return UNRESOLVED;
  double g = std::expm1(rel);
  if (!fin(g)) return UNRESOLVED;
  return {v, std::fabs(v) * g + ulps * std::fabs(v) * U};
}

// a^b; qexp: the exact exponent, when there is one (a negative base takes an integer exponent, or a
// rational one with an odd denominator: a real root)
static V power(const V& a, const V& b, const Q* qexp) {
  V r;
  if (bad(a, b, &r)) return r;
  const double x = a.v, ex = a.e, y = b.v, ey = b.e;
  if (!(fin(x) && fin(y))) return UNDEF;
  if (x == 0.0 && ex == 0.0) {
    if (y - ey > 0.0) return {0.0, 0.0};
    if (y == 0.0 && ey == 0.0) return {1.0, 0.0};
    return y + ey < 0.0 ? UNDEF : UNRESOLVED;
  }
  if (std::fabs(x) <= ex) return UNRESOLVED;  // the base's sign is not resolved
  double sign = 1.0;
  if (x < 0.0) {
    if (ey == 0.0 && y == std::floor(y) && std::fabs(y) < EXACT_INT)
      sign = std::fmod(y, 2.0) != 0.0 ? -1.0 : 1.0;
    else if (qexp && !qexp->d.mag.empty() && (qexp->d.mag[0] & 1u))
      sign = (!qexp->n.mag.empty() && (qexp->n.mag[0] & 1u)) ? -1.0 : 1.0;
    else
      return UNDEF;
  }
  const double mag = std::fabs(x);
  const double rin = ex / (mag - ex);
  const double rel = std::fabs(y) * rin + std::fabs(std::log(mag)) * ey + rin * ey;
  return scaled(sign * std::pow(mag, y), rel, 2.0);
}

// the m-th root (m == nullptr: the square root) of a: real, odd roots of negatives included
static V root(const V& a, const V* m) {
  V r;
  if (bad(a, m ? *m : V{0.0, 0.0}, &r)) return r;
  const double x = a.v, ex = a.e;
  if (!fin(x)) return UNDEF;
  if (!m) {
    if (x + ex < 0.0) return UNDEF;
    if (x - ex < 0.0 || x == 0.0) return (x == 0.0 && ex == 0.0) ? V{0.0, 0.0} : UNRESOLVED;
    double v = std::sqrt(x);
    return {v, ex / (std::sqrt(x - ex) + v) + v * U};
  }
  const double k = m->v, ek = m->e;
  if (!fin(k) || ek != 0.0 || k != std::floor(k) || std::fabs(k) >= EXACT_INT)
    return (fin(k) && ek != 0.0) ? UNRESOLVED : UNDEF;
  if (k == 0.0) return UNDEF;
  if (x == 0.0 && ex == 0.0) return k > 0.0 ? V{0.0, 0.0} : UNDEF;
  if (std::fabs(x) <= ex) return UNRESOLVED;
  double sign = 1.0;
  if (x < 0.0) {
    if (std::fmod(k, 2.0) == 0.0) return UNDEF;
    sign = -1.0;
  }
  const double mag = std::fabs(x);
  const double rel = (ex / (mag - ex)) / std::fabs(k) + std::fabs(std::log(mag)) * U / std::fabs(k);
  return scaled(sign * std::pow(mag, 1.0 / k), rel, 2.0);
}

static V factorial(const V& a) {
  V r;
  if (bad(a, {0.0, 0.0}, &r)) return r;
  const double x = a.v;
  if (!fin(x) || x < 0.0 || x > MAX_FACT_DOUBLE || x != std::floor(x)) return UNDEF;
  if (a.e != 0.0) return UNRESOLVED;
  double v = 1.0;
  for (int64_t i = 2; i <= (int64_t)x; i++) v *= (double)i;
  return {v, v * x * U};
}

// a function of FUNCS (abs is its own node), with the bound its derivative gives
static V func(const B& name, const V& a) {
  V r;
  if (bad(a, {0.0, 0.0}, &r)) return r;
  const double x = a.v, ex = a.e;
  if (!fin(x)) return UNDEF;
  if (name == "sin" || name == "cos") {
    double v = name == "sin" ? std::sin(x) : std::cos(x);
    return {v, ex + 2.0 * U * std::fabs(v)};
  }
  if (name == "tan" || name == "cot" || name == "sec" || name == "csc") {
    double c = (name == "tan" || name == "sec") ? std::cos(x) : std::sin(x);
    double ec = ex + 2.0 * U * std::fabs(c);
    if (name == "sec" || name == "csc") return div({1.0, 0.0}, {c, ec});
    if (std::fabs(c) <= 100.0 * ec) return UNRESOLVED;  // too close to a pole
    double t = std::tan(x);
    V tv = {t, ex * (1.0 + t * t) * 1.25 + 2.0 * U * std::fabs(t)};
    return name == "tan" ? tv : div({1.0, 0.0}, tv);
  }
  if (name == "arcsin" || name == "arccos") {
    if (std::fabs(x) - ex > 1.0) return UNDEF;
    if (std::fabs(x) + ex >= 1.0) {
      if (ex != 0.0 || std::fabs(x) != 1.0) return UNRESOLVED;
      double v = name == "arcsin" ? std::asin(x) : std::acos(x);
      return {v, 2.0 * U * std::fabs(v)};
    }
    double v = name == "arcsin" ? std::asin(x) : std::acos(x);
    double w = std::fabs(x) + ex;
    return {v, ex / std::sqrt(1.0 - w * w) + 2.0 * U * std::fabs(v)};
  }
  if (name == "arctan" || name == "tanh") {
    double v = name == "arctan" ? std::atan(x) : std::tanh(x);
    return {v, ex + 2.0 * U * std::fabs(v)};
  }
  if (name == "sinh" || name == "cosh") {
    double v = name == "sinh" ? std::sinh(x) : std::cosh(x);
    double d = std::cosh(std::fabs(x) + ex);
    if (!(fin(v) && fin(d))) return UNRESOLVED;
    return {v, d * ex + 2.0 * U * std::fabs(v)};
  }
  if (name == "ln" || name == "log") {
    if (x + ex <= 0.0) return UNDEF;
    if (x - ex <= 0.0) return UNRESOLVED;
    double v = std::log(x);
    return {v, ex / (x - ex) + 2.0 * U * std::fabs(v)};
  }
  if (name == "exp") return scaled(std::exp(x), ex, 2.0);
  return UNDEF;
}

static V binom(const V& a, const V& b, Ctx& ctx) {
  V r;
  if (bad(a, b, &r)) return r;
  const double x = a.v, y = b.v;
  if (!(fin(x) && fin(y)) || y != std::floor(y) || y < 0.0 || y > MAX_BINOM_K) return UNDEF;
  if (a.e != 0.0 || b.e != 0.0) return UNRESOLVED;
  double v = 1.0;
  for (int64_t i = 1; i <= (int64_t)y; i++) {
    ctx.step();
    v = v * (x - y + (double)i) / (double)i;
  }
  if (!fin(v)) return UNRESOLVED;
  return {v, std::fabs(v) * 3.0 * y * U};
}

V eval_v(Tree& T, int e, int j, int64_t mask, Ctx& ctx) {
  ctx.step();
  const int k = T[e].kind;
  if (k == N_NUM) return num_value(T[e].q);
  if (k == N_VAR) return {var_value(T[e].name, j), 0.0};
  if (k == N_PI) return {M_PI, M_PI * U};
  if (k == N_E) return {M_E, M_E * U};
  if (k == N_INF) return {INF, 0.0};
  const std::vector<int>& kids = T[e].kids;  // evaluation adds no nodes to T: the reference stays valid
  if (k == N_NEG) {
    V a = eval_v(T, kids[0], j, mask, ctx);
    return {-a.v, a.e};
  }
  if (k == N_ADD || k == N_SUB || k == N_MUL || k == N_DIV || k == N_APPLY) {
    V a = eval_v(T, kids[0], j, mask, ctx);
    V b = eval_v(T, kids[1], j, mask, ctx);
    if (k == N_ADD || k == N_SUB) return add(a, b, k == N_ADD ? 1 : -1);
    return k == N_DIV ? div(a, b) : mul(a, b);
  }
  if (k == N_PM) {
    bool neg = ((mask >> T[e].op) & 1) == 1;
    if (T[e].lit) neg = !neg;
    V a = eval_v(T, kids[0], j, mask, ctx);
    if (kids.size() == 1) return neg ? V{-a.v, a.e} : a;
    V b = eval_v(T, kids[1], j, mask, ctx);
    return add(a, b, neg ? -1 : 1);
  }
  if (k == N_POW) {
    V a = eval_v(T, kids[0], j, mask, ctx);
    V b = eval_v(T, kids[1], j, mask, ctx);
    Q q;
    bool exact = eval_q(T, kids[1], mask, ctx, &q);
    return power(a, b, exact ? &q : nullptr);
  }
  if (k == N_ROOT) {
    V a = eval_v(T, kids[0], j, mask, ctx);
    if (kids.size() == 2) {
      V m = eval_v(T, kids[1], j, mask, ctx);
      return root(a, &m);
    }
    return root(a, nullptr);
  }
  if (k == N_FACT) return factorial(eval_v(T, kids[0], j, mask, ctx));
  if (k == N_ABS) {
    V a = eval_v(T, kids[0], j, mask, ctx);
    return {std::fabs(a.v), a.e};
  }
  if (k == N_FUNC) {
    V a = eval_v(T, kids[0], j, mask, ctx);
    return func(T[e].name, a);
  }
  if (k == N_BINOM) {
    V a = eval_v(T, kids[0], j, mask, ctx);
    V b = eval_v(T, kids[1], j, mask, ctx);
    return binom(a, b, ctx);
  }
  return UNDEF;
}

}  // namespace rlv
