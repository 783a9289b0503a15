// Equality of values: exact, by the decimal rule, within error bounds, at sampled points (twin of
// rlev_fast/verifier/values.py, which explains each rule).
#pragma once

#include <cstdint>

#include "evaluate.h"
#include "parse.h"

namespace rlv {

enum Compared { SAME, DIFFERENT, UNDECIDED };

Compared compare_values(const V& x, const V& y);
// two arithmetic expressions (with \pm signs fixed by the masks)
bool expr_eq(Tree& T, int a, int64_t ma, int b, int64_t mb, Ctx& ctx);
// the statement a \approx b holds
bool approx_true(Tree& T, int a, int b, Ctx& ctx);
// lhs - rhs of two relations proportional at the sample points (by a positive factor when `positive`)
bool rel_eq(Tree& T, int a, int b, bool positive, Ctx& ctx);

}  // namespace rlv
