// Evaluation (twin of rlev_fast/verifier/evaluate.py).
#pragma once

#include <cstdint>

#include "caps.h"
#include "parse.h"
#include "rational.h"

namespace rlv {

struct Abort {};  // a cap was hit: the item is judged on what is left (usually: not equal)

struct Ctx {  // evaluation steps of one verify() call, capped at MAX_STEPS
  int64_t steps = 0;
  void step() {
    steps++;
    if (steps > MAX_STEPS) throw Abort();
  }
};

inline bool fin(double x) { return x - x == 0.0; }

// a value and its error bound: the true value lies within v +- e. Undefined: v NaN, e 0 (outside
// the domain); unresolved: e inf (the double cannot say: underflow, a term lost in rounding, ...)
struct V {
  double v, e;
};
extern const double U;  // unit roundoff of a double

// exact value of a constant expression (\pm signs chosen by mask); false when it has none
bool eval_q(Tree& T, int e, int64_t mask, Ctx& ctx, Q* out);
uint64_t fnv(const B& name, int j);      // 64-bit FNV-1a of the name, '#' and the point index
uint64_t mix64(uint64_t h);              // splitmix64's finalizer
double var_value(const B& name, int j);  // a variable's value at point j
V num_value(const Q& q);                 // an exact rational as a value with its bound
V add(const V& a, const V& b, int sign);
V mul(const V& a, const V& b);
V div(const V& a, const V& b);
// value with error bound at point j (see rlev_fast/verifier/evaluate.py)
V eval_v(Tree& T, int e, int j, int64_t mask, Ctx& ctx);

}  // namespace rlv
