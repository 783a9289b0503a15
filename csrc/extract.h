// Extraction: the final answer a text commits to (twin of rlev_fast/verifier/extract.py).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scan.h"

namespace rlv {

// how an answer was found (the commitment stage reads the words around it by this)
enum How { HOW_BOX, HOW_BOLD, HOW_TEXT, HOW_WHOLE, HOW_REGION, HOW_NUMBER };

struct Extracted {
  B ans;                       // the answer as written (boxes or regions joined by ", " / " or ")
  std::vector<Span> boxes;     // every box of the text
  int64_t first_in_group = 0;  // the first box of the answer's group (boxes.size() when not a box)
  int64_t a0 = 0, a1 = 0;      // the answer lies at t[a0, a1) (its boxes or regions, first to last)
  int how = HOW_TEXT;
  std::vector<Span> regions;   // every math region of the text (the commitment stage reads them)
};

// t[*pa, *pb) without surrounding spaces, final punctuation or markdown, and a dangling "or" / "and"
void trim(const B& t, int64_t* pa, int64_t* pb);
B strip_answer(const B& s);
// bytes after the last </think> (false when a <think> is never closed), tail-capped, normalized
bool prepare_response(const B& data, B* out);
// the answer of prepared text t; is_gold: an answer key (its whole text when nothing is anchored)
bool extract_from(const B& t, bool is_gold, Extracted* X);
// the answer without spaces and its extraction; false when nothing non-empty is found
bool answer_of(const B& t, bool is_gold, Extracted* X, B* answer);

}  // namespace rlv
