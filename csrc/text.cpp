// Twin of rlev_fast/verifier/text.py.
#include "text.h"

#include <vector>

#include "tables.h"

namespace rlv {

B lower_bytes(const B& s) {
  B r = s;
  for (auto& ch : r) ch = (char)lowr((unsigned char)ch);
  return r;
}

B upper_bytes(const B& s) {
  B r = s;
  for (auto& ch : r)
    if (islwr((unsigned char)ch)) ch = (char)(ch - ('a' - 'A'));
  return r;
}

B strip_ws(const B& s) {
  int64_t a = 0, b = len(s);
  while (a < b && issp(at(s, a))) a++;
  while (b > a && issp(at(s, b - 1))) b--;
  return sub(s, a, b);
}

unsigned decode_at(const B& s, int64_t i, int* length) {
  const unsigned c = (unsigned)at(s, i);
  *length = 1;
  if (c < 0x80) return c;
  const int n = (c >= 0xC0 && c < 0xE0) ? 2 : (c >= 0xE0 && c < 0xF0) ? 3 : (c >= 0xF0 && c < 0xF8) ? 4 : 0;
  if (n == 0 || i + n > len(s)) return c;
  unsigned cp = c & (0x7Fu >> n);
  for (int k = 1; k < n; k++) {
    const unsigned d = (unsigned)at(s, i + k);
    if ((d & 0xC0) != 0x80) return c;
    cp = (cp << 6) | (d & 0x3F);
  }
  *length = n;
  return cp;
}

bool is_invisible(unsigned cp) {
  for (int k = 0; INVISIBLE_RANGES[k].hi; k++)
    if (cp >= INVISIBLE_RANGES[k].lo && cp <= INVISIBLE_RANGES[k].hi) return true;
  return false;
}

// first bytes of the UNICODE_FORMS entries (the table is only searched at those)
static const std::vector<bool>& lead_bytes() {
  static const std::vector<bool> lead = [] {
    std::vector<bool> v(256, false);
    for (int k = 0; UNICODE_FORMS[k].from; k++) v[(unsigned char)UNICODE_FORMS[k].from[0]] = true;
    return v;
  }();
  return lead;
}

static const int FULLWIDTH_FIRST = 0xFF01, FULLWIDTH_LAST = 0xFF5E;  // full-width forms of "!".."~"

B normalize_text(const B& t) {
  B out;
  out.reserve(t.size());
  int64_t n = len(t);
  int64_t i = 0;
  while (i < n) {
    int c = at(t, i);
    // the full-width block is EF BC 81..EF BC BF and EF BD 80..EF BD 9E in UTF-8
    if (c == 0xEF && i + 2 < n && (at(t, i + 1) == 0xBC || at(t, i + 1) == 0xBD)) {
      int cp = 0xF000 | ((at(t, i + 1) & 0x3F) << 6) | (at(t, i + 2) & 0x3F);
      if (cp >= FULLWIDTH_FIRST && cp <= FULLWIDTH_LAST && (at(t, i + 2) & 0xC0) == 0x80) {
        out.push_back((char)(cp - FULLWIDTH_FIRST + '!'));
        i += 3;
        continue;
      }
    }
    if (c >= 0xC2 && lead_bytes()[c]) {  // a multi-byte UTF-8 sequence that starts an entry of the table
      bool hit = false;
      for (int k = 0; UNICODE_FORMS[k].from; k++) {
        if (starts(t, UNICODE_FORMS[k].from, i)) {
          out += UNICODE_FORMS[k].to;
          i += (int64_t)std::strlen(UNICODE_FORMS[k].from);
          hit = true;
          break;
        }
      }
      if (hit) continue;
    }
    // a doubled backslash before a command name
    if (c == '\\' && i + 2 < n && at(t, i + 1) == '\\' && isalp(at(t, i + 2)) && (i == 0 || at(t, i - 1) != '\\')) {
      out.push_back('\\');
      i += 2;
      continue;
    }
    out.push_back((char)c);
    i += 1;
  }
  return out;
}

}  // namespace rlv
