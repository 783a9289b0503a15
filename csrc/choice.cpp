// Multiple choice: the choice letters an answer names, and whether it hedges between them. Twin of
// rlev_fast/verifier/choice.py.
#include "choice.h"

#include "caps.h"
#include "tables.h"

namespace rlv {

bool mc_letters(const B& s, bool strict, uint32_t* mask_out, bool* hedge_out) {
  int64_t n = len(s), i = 0;
  uint32_t mask = 0;
  bool hedge = false, pending_or = false, stopped = false, formula = false;
  int nletters = 0;
  while (i < n) {
    int c = at(s, i);
    if (c == '\\') {
      int64_t j = letters_end(s, i + 1, n);
      B name = sub(s, i + 1, j);
      if (j == i + 1) {
        if (j < n) {
          int d = at(s, j);
          if (d == ',' || d == ';' || d == '!' || d == ' ' || d == '(' || d == ')' || d == '[' || d == ']') {
            i = j + 1;
            continue;
          }
        }
        stopped = true;
        break;
      }
      if (in_list(name, MC_SKIP_CMDS)) {
        i = j;
        continue;
      }
      stopped = formula = true;  // "A \\neq B", "A \\approx D": a formula, not a choice
      break;
    }
    if (isalp(c)) {
      int64_t j = letters_end(s, i, n);
      B w = sub(s, i, j);
      B lw = lower_bytes(w);
      bool ok = false;
      if (w.size() == 1 && isupr(c))
        ok = true;
      else if (w.size() == 1 && islwr(c) && !strict)
        ok = true;
      else if (w.size() >= 2 && w.size() <= MAX_CHOICE_LETTERS && w == upper_bytes(w)) {
        ok = true;
        uint32_t seen = 0;
        for (char ch0 : w) {
          int ch = (unsigned char)ch0;
          uint32_t bit = 1u << (ch - 'A');
          if (ch > 'J' || (seen & bit)) {
            ok = false;
            break;
          }
          seen |= bit;
        }
      }
      if (ok && (lw == "or" || lw == "and")) ok = false;
      if (ok) {
        if (pending_or && nletters > 0) hedge = true;
        pending_or = false;
        for (char ch0 : w) mask |= 1u << (lowr((unsigned char)ch0) - 'a');
        nletters++;
        i = j;
        continue;
      }
      if (lw == "and") {
        i = j;
        continue;
      }
      if (lw == "or") {
        pending_or = true;
        i = j;
        continue;
      }
      if (nletters == 0 && in_list(lw, MC_LEAD)) {
        i = j;
        continue;
      }
      stopped = true;
      break;
    }
    if (starts(s, AND_CJK, i)) {
      i += (int64_t)std::strlen(AND_CJK);
      continue;
    }
    if (starts(s, OR_CJK, i)) {
      pending_or = true;
      i += (int64_t)std::strlen(OR_CJK);
      continue;
    }
    if (c == '/' || c == '|') {
      pending_or = true;
      i++;
      continue;
    }
    if (issp(c) || c == ',' || c == ';' || c == '(' || c == ')' || c == '[' || c == ']' || c == '{' || c == '}' ||
        c == '$' || c == '*' || c == '&' || c == '+' || c == ':' || c == '.' || c == '"' || c == '\'') {
      i++;
      continue;
    }
    stopped = true;
    formula = in_chars(c, "=<>^_");
    break;
  }
  if (nletters == 0 || mask == 0 || formula) return false;
  if (pending_or && stopped) hedge = true;  // "E or 7": an alternative that is not a letter is still one
  if (strict && (stopped || hedge)) return false;
  *mask_out = mask;
  *hedge_out = hedge;
  return true;
}

}  // namespace rlv
