// Multiple choice (twin of rlev_fast/verifier/choice.py).
#pragma once

#include <cstdint>

#include "text.h"

namespace rlv {

// Choice letters in an answer as a bitmask (bit 0 = A) and whether it hedges ("A or B", "A/B");
// false when it names none. strict (the gold side): the whole answer must be letters and separators.
bool mc_letters(const B& s, bool strict, uint32_t* mask_out, bool* hedge_out);

}  // namespace rlv
