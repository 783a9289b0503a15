// Equality of values. Twin of rlev_fast/verifier/values.py (read its docstring for the rules).
#include "values.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "caps.h"
#include "tables.h"

namespace rlv {

static const double INF = std::numeric_limits<double>::infinity();

// a decimal literal precise enough to stand for a rounding: its number of decimals, else -1
static int approx_lit(Tree& T, int e) {
  int x = T[e].kind == N_NEG ? T[e].kids[0] : e;
  if (T[x].kind == N_NUM && T[x].lit && T[x].dec >= 1 && T[x].sig >= MIN_SIG_DIGITS) return T[x].dec;
  return -1;
}

static bool plain_lit(Tree& T, int e) {
  int x = T[e].kind == N_NEG ? T[e].kids[0] : e;
  return T[x].kind == N_NUM && T[x].lit;
}

static bool undefined(const V& x) { return x.v != x.v && x.e == 0.0; }

Compared compare_values(const V& x, const V& y) {
  const bool xu = undefined(x), yu = undefined(y);
  if (xu || yu) return (xu && yu) ? UNDECIDED : DIFFERENT;
  if (x.e == INF || y.e == INF) return UNDECIDED;
  if (x.v == y.v && x.e == 0.0 && y.e == 0.0) return SAME;
  if (!(fin(x.v) && fin(y.v))) return DIFFERENT;
  const double bound = x.e + y.e;
  if (std::fabs(x.v - y.v) > bound) return DIFFERENT;
  return bound <= RESOLUTION * std::max(std::fabs(x.v), std::fabs(y.v)) ? SAME : UNDECIDED;
}

// |n| * 2 * 10^dec <= d: the exact |difference| n/d is at most half a unit of the dec-th decimal
static bool within_half(const Q& diff, int dec) {
  Big lhs = mul(diff.n, Big::pow10(dec));
  lhs.mul_small_add(2, 0);
  lhs.neg = false;
  return cmp_mag(lhs, diff.d) <= 0;
}

static Big square(const Big& x) { return mul(x, x); }

// Exactly, for e = +-sqrt(q) of an exact q: |e - lit| <= 10^-dec / 2, by squaring the bounds
// (-1 when e is not such a root, else 0 / 1).
static int root_within(Tree& T, const Q& lit, int dec, int e, int64_t mask, Ctx& ctx) {
  int sign = 1;
  if (T[e].kind == N_NEG) {
    sign = -1;
    e = T[e].kids[0];
  }
  if (T[e].kind != N_ROOT || T[e].kids.size() != 1) return -1;
  Q q;
  if (!eval_q(T, T[e].kids[0], mask, ctx, &q) || q.n.neg) return -1;
  Q signed_lit = lit;
  if (sign < 0) signed_lit.n = negate(signed_lit.n);
  Q half;
  half.n = Big(1);
  half.d = Big::pow10(dec);
  half.d.mul_small_add(2, 0);
  Q lo, hi;  // lit -+ half, on the side of the root's sign
  if (!qadd(signed_lit, half, -1, &lo) || !qadd(signed_lit, half, 1, &hi)) return -1;
  if (hi.n.neg) return 0;
  if (!lo.n.neg && !lo.n.is_zero() && cmp_mag(mul(square(lo.n), q.d), mul(q.n, square(lo.d))) > 0) return 0;
  return cmp_mag(mul(q.n, square(hi.d)), mul(square(hi.n), q.d)) <= 0 ? 1 : 0;
}

// the literal `lit` (dec decimals) is `other` rounded to dec decimals: |other - lit| <= 10^-dec / 2
static bool within_rounding(Tree& T, int lit, int dec, int other, int64_t mask, Ctx& ctx) {
  Q q;
  if (!eval_q(T, lit, 0, ctx, &q)) return false;
  Q qo;
  if (eval_q(T, other, mask, ctx, &qo)) {
    Q d;
    return qadd(qo, q, -1, &d) && within_half(d, dec);
  }
  int exact = root_within(T, q, dec, other, mask, ctx);
  if (exact >= 0) return exact == 1;
  V v = eval_v(T, other, 0, mask, ctx);
  if (v.v != v.v || v.e == INF) return false;
  V lv = num_value(q);
  if (lv.e == INF) return false;
  const double half = 0.5 * std::pow(10.0, (double)(-dec));
  return std::fabs(v.v - lv.v) + v.e + lv.e <= half * (1.0 - 8.0 * U);
}

// a and b agree at the sample points
static bool points_eq(Tree& T, int a, int64_t ma, int b, int64_t mb, Ctx& ctx) {
  int agree = 0;
  for (int j = 0; j < NPOINTS; j++) {
    V x = eval_v(T, a, j, ma, ctx);
    V y = eval_v(T, b, j, mb, ctx);
    Compared c = compare_values(x, y);
    if (c == DIFFERENT) return false;
    agree += c == SAME;
  }
  return agree >= MIN_POINTS;
}

bool expr_eq(Tree& T, int a, int64_t ma, int b, int64_t mb, Ctx& ctx) {
  if (has_var(T, a) || has_var(T, b)) return points_eq(T, a, ma, b, mb, ctx);
  Q qa, qb;
  const bool oka = eval_q(T, a, ma, ctx, &qa);
  const bool okb = eval_q(T, b, mb, ctx, &qb);
  if (oka && okb && eq(mul(qa.n, qb.d), mul(qb.n, qa.d))) return true;
  const int da = approx_lit(T, a), db = approx_lit(T, b);
  if (da >= 0 && !plain_lit(T, b)) return within_rounding(T, a, da, b, mb, ctx);
  if (db >= 0 && !plain_lit(T, a)) return within_rounding(T, b, db, a, ma, ctx);
  if (oka && okb) return false;
  V x = eval_v(T, a, 0, ma, ctx);
  V y = eval_v(T, b, 0, mb, ctx);
  return compare_values(x, y) == SAME;
}

bool approx_true(Tree& T, int a, int b, Ctx& ctx) {
  const int pairs[2][2] = {{b, a}, {a, b}};
  for (const auto& p : pairs) {
    if (plain_lit(T, p[0])) {
      int x = T[p[0]].kind == N_NEG ? T[p[0]].kids[0] : p[0];
      return within_rounding(T, p[0], std::max(T[x].dec, 0), p[1], 0, ctx);
    }
  }
  return expr_eq(T, a, 0, b, 0, ctx);
}

// lhs - rhs of a relation at point j
static V diff(Tree& T, int rel, int j, Ctx& ctx) {
  V l = eval_v(T, T[rel].kids[0], j, 0, ctx);
  V r = eval_v(T, T[rel].kids[1], j, 0, ctx);
  return add(l, r, -1);
}

bool rel_eq(Tree& T, int a, int b, bool positive, Ctx& ctx) {
  for (int x : {a, b})
    for (int k : T[x].kids)
      if (!arith(T, k)) return false;
  bool have = false;
  V ratio = {0.0, 0.0};
  int agree = 0;
  for (int j = 0; j < NPOINTS; j++) {
    V fa = diff(T, a, j, ctx);
    V fb = diff(T, b, j, ctx);
    const bool ua = undefined(fa), ub = undefined(fb);
    if (ua || ub) {
      if (ua != ub) return false;
      continue;
    }
    if (fa.e == INF || fb.e == INF) continue;
    const bool za = std::fabs(fa.v) <= fa.e, zb = std::fabs(fb.v) <= fb.e;
    if (za || zb) {
      if (za != zb) return false;
      continue;
    }
    V r = div(fa, fb);
    if (!have) {
      if (r.e == INF || (positive && r.v - r.e <= 0.0)) return false;
      ratio = r;
      have = true;
      agree++;
      continue;
    }
    Compared c = compare_values(r, ratio);
    if (c == DIFFERENT) return false;
    agree += c == SAME;
  }
  return agree >= MIN_POINTS;
}

}  // namespace rlv
