// Evaluation: exact rationals where possible (eval_q), IEEE doubles otherwise (eval_d). Twin of
// rlev_fast/verifier/evaluate.py; both call the same libm in the same order, so they give the same doubles.
#include "evaluate.h"

#include <algorithm>
#include <cmath>

#include "caps.h"
#include "tables.h"

namespace rlv {

static const int64_t I64_SAFE_BITS = 62;  // integer exponents that to_i64 reads
static const double VAR_LOW = 0.5, VAR_SPAN = 2.0;  // variables are sampled in [VAR_LOW, VAR_LOW + VAR_SPAN)

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
  for (char ch : name) {
    h ^= (unsigned char)ch;
    h *= 0x100000001B3ull;
  }
  h ^= '#';  // name + '#' + digit
  h *= 0x100000001B3ull;
  h ^= (uint64_t)('0' + j);
  h *= 0x100000001B3ull;
  return h;
}

double var_value(const B& name, int j) {
  uint64_t h = fnv(name, j);
  double u = (double)(h >> 11) * (1.0 / (double)(1ull << 53));  // top 53 bits: uniform in [0, 1)
  return VAR_LOW + VAR_SPAN * u;
}

static double call_fn(const B& fn, double x) {
  double r;
  if (fn == "sin")
    r = std::sin(x);
  else if (fn == "cos")
    r = std::cos(x);
  else if (fn == "tan")
    r = std::tan(x);
  else if (fn == "sec") {
    double c = std::cos(x);
    if (c == 0.0) return NAN;
    r = 1.0 / c;
  } else if (fn == "csc") {
    double c = std::sin(x);
    if (c == 0.0) return NAN;
    r = 1.0 / c;
  } else if (fn == "cot") {
    double c = std::tan(x);
    if (c == 0.0) return NAN;
    r = 1.0 / c;
  } else if (fn == "arcsin")
    r = std::asin(x);
  else if (fn == "arccos")
    r = std::acos(x);
  else if (fn == "arctan")
    r = std::atan(x);
  else if (fn == "sinh")
    r = std::sinh(x);
  else if (fn == "cosh")
    r = std::cosh(x);
  else if (fn == "tanh")
    r = std::tanh(x);
  else if (fn == "ln" || fn == "log") {
    if (x <= 0.0) return NAN;
    r = std::log(x);
  } else if (fn == "exp")
    r = std::exp(x);
  else
    r = NAN;
  return fin(r) ? r : NAN;
}

static double pow_d(double a, double b) {
  // Python's math.pow raises (-> NaN) for 0**negative and negative**non-integer
  if (a == 0.0 && b < 0.0) return NAN;
  if (a < 0.0 && b != std::floor(b)) return NAN;
  double r = std::pow(a, b);
  return fin(r) ? r : NAN;
}

double eval_d(Tree& T, int e, int j, int64_t mask, Ctx& ctx) {
  ctx.step();
  int k = T[e].kind;
  if (k == N_NUM) return q_to_double(T[e].q);
  if (k == N_VAR) return var_value(T[e].name, j);
  if (k == N_PI) return M_PI;
  if (k == N_E) return M_E;
  if (k == N_INF) return INFINITY;
  if (k == N_NEG) return -eval_d(T, T[e].kids[0], j, mask, ctx);
  if (k == N_ADD || k == N_SUB || k == N_MUL || k == N_DIV || k == N_APPLY) {
    double a = eval_d(T, T[e].kids[0], j, mask, ctx);
    double b = eval_d(T, T[e].kids[1], j, mask, ctx);
    double r;
    if (k == N_ADD)
      r = a + b;
    else if (k == N_SUB)
      r = a - b;
    else if (k == N_MUL || k == N_APPLY) {
      if ((a == 0.0 && !fin(b)) || (b == 0.0 && !fin(a))) return NAN;
      r = a * b;
    } else {
      if (b == 0.0) return NAN;
      r = a / b;
    }
    if (!fin(r) && fin(a) && fin(b)) return NAN;
    return r;
  }
  if (k == N_PM) {
    bool ng = ((mask >> T[e].op) & 1) == 1;
    if (T[e].lit) ng = !ng;
    double a = eval_d(T, T[e].kids[0], j, mask, ctx);
    if (T[e].kids.size() == 1) return ng ? -a : a;
    double b = eval_d(T, T[e].kids[1], j, mask, ctx);
    return ng ? a - b : a + b;
  }
  if (k == N_POW) {
    double a = eval_d(T, T[e].kids[0], j, mask, ctx);
    double b = eval_d(T, T[e].kids[1], j, mask, ctx);
    if (!(fin(a) && fin(b))) return NAN;
    return pow_d(a, b);
  }
  if (k == N_ROOT) {
    double a = eval_d(T, T[e].kids[0], j, mask, ctx);
    if (T[e].kids.size() == 1) {
      if (!fin(a) || a < 0.0) return NAN;
      return std::sqrt(a);
    }
    double m = eval_d(T, T[e].kids[1], j, mask, ctx);
    if (!(fin(a) && fin(m)) || m == 0.0) return NAN;
    if (a < 0.0) {
      int64_t mi = std::fabs(m) < 1e6 ? (int64_t)m : 0;
      if ((double)mi == m && (((mi % 2) + 2) % 2) == 1) return -pow_d(-a, 1.0 / m);
      return NAN;
    }
    return pow_d(a, 1.0 / m);
  }
  if (k == N_FACT) {
    double a = eval_d(T, T[e].kids[0], j, mask, ctx);
    if (!fin(a) || a < 0.0 || a > MAX_FACT_DOUBLE || a != std::floor(a)) return NAN;
    double r = 1.0;
    int64_t top = (int64_t)a;
    for (int64_t i = 2; i <= top; i++) r *= (double)i;
    return r;
  }
  if (k == N_ABS) return std::fabs(eval_d(T, T[e].kids[0], j, mask, ctx));
  if (k == N_FUNC) {
    double a = eval_d(T, T[e].kids[0], j, mask, ctx);
    if (!fin(a)) return NAN;
    return call_fn(T[e].name, a);
  }
  if (k == N_BINOM) {
    double a = eval_d(T, T[e].kids[0], j, mask, ctx);
    double b = eval_d(T, T[e].kids[1], j, mask, ctx);
    if (!(fin(a) && fin(b)) || b != std::floor(b) || b < 0.0 || b > MAX_BINOM_K) return NAN;
    double r = 1.0;
    int64_t top = (int64_t)b;
    for (int64_t i = 1; i <= top; i++) {
      ctx.step();
      r = r * (a - b + (double)i) / (double)i;
    }
    return fin(r) ? r : NAN;
  }
  return NAN;
}

}  // namespace rlv
