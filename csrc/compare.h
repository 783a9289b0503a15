// Comparison (twin of rlev_fast/verifier/compare.py).
#pragma once

#include <cstdint>

#include "evaluate.h"
#include "parse.h"

namespace rlv {

// a (with \pm signs chosen by ma) equals b (mb); throws Abort past MAX_STEPS
bool node_eq(Tree& T, int a, int64_t ma, int b, int64_t mb, Ctx& ctx);
// loose text form: \text-like commands, braces, spaces, $ and final dots dropped; lower case
B norm_text(const B& s);
// exact form for the fast path: only whitespace and $ dropped
B squeeze(const B& s);

}  // namespace rlv
