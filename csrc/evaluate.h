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

// exact value of a constant expression (\pm signs chosen by mask); false when it has none
bool eval_q(Tree& T, int e, int64_t mask, Ctx& ctx, Q* out);
uint64_t fnv(const B& name, int j);  // 64-bit FNV-1a of the name and the point index
double var_value(const B& name, int j);  // a variable's value at point j
// double value at point j; NaN where undefined
double eval_d(Tree& T, int e, int j, int64_t mask, Ctx& ctx);

}  // namespace rlv
