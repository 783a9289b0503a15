// Commitment: whether a response stands by its extracted answer (twin of rlev_fast/verifier/context.py).
#pragma once

#include <set>

#include "extract.h"

namespace rlv {

// the words and CJK markers the gold answer uses itself: never markers for it
std::set<B> gold_words(const B& gold);
// the verdict (V_* of tables.h) on the extraction X of prepared response t, against the gold answer
int judge(const B& t, const Extracted& X, const B& gold);

}  // namespace rlv
