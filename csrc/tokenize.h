// Tokenizer (twin of rlev_fast/verifier/tokenize.py).
#pragma once

#include <cstdint>
#include <vector>

#include "rational.h"
#include "text.h"

namespace rlv {

struct Tok {
  int kind = 0;     // T_* (tables.h)
  int op = 0;       // O_* of an operator; 1 for an "or" separator
  B name;           // variable, function or text
  Q q;              // the exact value of a number
  int dec = -1;     // digits after the decimal point; -1 = integer literal
  int sig = 0;      // significant digits of a literal
  B raw;            // digits of an integer literal (for \frac94 splitting)
  bool lit = false; // a plain literal (not 1.5e3, not 204_5)
  Tok() { q.d = Big(1); }
  Tok(int k, int o = 0) : kind(k), op(o) { q.d = Big(1); }
};

// exact value of the digits intpart.frac, its decimals and significant digits
void make_num(const B& intpart, const B& frac, Q* q, int* dec, int* sig);
// after a command: a braced group {..} or a single byte / command; false when unbalanced
bool read_group(const B& s, int64_t i, int64_t n, const std::vector<int64_t>& bm, B* g, int64_t* next);
// tokens of a cleaned answer; false when it cannot be tokenized within the caps
bool tokenize(const B& s, std::vector<Tok>* out, int depth = 0);

}  // namespace rlv
