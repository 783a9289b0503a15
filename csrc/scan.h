// Scanning the text (twin of rlev_fast/verifier/scan.py): spans are (start, end_exclusive,
// content_start, content_end).
#pragma once

#include <cstdint>
#include <vector>

#include "text.h"

namespace rlv {

struct Span {
  int64_t s, e, cs, ce;
};

struct NumHit {  // a plain number in the text: its span and its normalized digits
  int64_t s = -1, e = -1;
  B v;
};

// position of the '}' matching each '{' (-1 when unmatched), in one pass; a backslash escapes the next byte
std::vector<int64_t> brace_map(const B& t);
// outermost \boxed{...} / \fbox{...}
std::vector<Span> find_boxes(const B& t);
// math regions $..$, $$..$$, \(..\), \[..\]; inline $..$ and \(..\) may not span a newline
std::vector<Span> find_regions(const B& t);
// text between two answers: 0 = not a connector, 1 = connector, 2 = connector with "or"
int gap_kind(const B& t, int64_t a, int64_t b);
B join_parts(const std::vector<B>& parts, bool has_or);
int64_t sentence_end(const B& t, int64_t p, int64_t lim);
// a plain-text number at t[p]: its end (or -1), *outp the normalized number
int64_t scan_number(const B& t, int64_t p, int64_t n, B* outp);
// the last plain number in t[a, b) that does not start inside a word
bool last_number(const B& t, int64_t a, int64_t b, NumHit* best);
// spans[j..k] (boxes or math regions) joined by connector gaps into one answer; *jout is j
B group_back(const B& t, const std::vector<Span>& boxes, int64_t k, int64_t* jout);
// regions[k..j] joined forward while they start before lim; *jout is j
B region_group_fwd(const B& t, const std::vector<Span>& regions, int64_t k, int64_t lim, int64_t* jout);

}  // namespace rlv
