// Bytes and characters: ASCII classes, small byte-string helpers, the unicode normalization pass.
// Twin of rlev_fast/verifier/text.py. The verifier works on UTF-8 bytes (Python encodes with
// "surrogatepass"), so both twins see the same input at the same offsets.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace rlv {

typedef std::string B;  // a byte string (UTF-8, not validated)

inline bool isdig(int c) { return c >= '0' && c <= '9'; }
inline bool isupr(int c) { return c >= 'A' && c <= 'Z'; }
inline bool islwr(int c) { return c >= 'a' && c <= 'z'; }
inline bool isalp(int c) { return isupr(c) || islwr(c); }
inline bool issp(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
inline int lowr(int c) { return isupr(c) ? c + ('a' - 'A') : c; }
// c is one of the bytes of `set` (a NUL byte never is)
inline bool in_chars(int c, const char* set) { return c != 0 && std::strchr(set, c) != nullptr; }
inline int at(const B& s, int64_t i) { return (unsigned char)s[(size_t)i]; }
inline int64_t len(const B& s) { return (int64_t)s.size(); }
// The first index >= j of s[0, n) that is not an ASCII letter (the end of a command or word).
inline int64_t letters_end(const B& s, int64_t j, int64_t n) {
  while (j < n && isalp(at(s, j))) j++;
  return j;
}
inline bool starts(const B& s, const char* p, int64_t i) {
  size_t L = std::strlen(p);
  if (i < 0 || (size_t)i + L > s.size()) return false;
  return std::memcmp(s.data() + i, p, L) == 0;
}
inline int64_t findp(const B& s, const char* p, int64_t from) {
  if (from > len(s)) return -1;
  size_t r = s.find(p, (size_t)from);
  return r == B::npos ? -1 : (int64_t)r;
}
inline B sub(const B& s, int64_t a, int64_t b) {
  if (b < a) return B();
  return s.substr((size_t)a, (size_t)(b - a));
}
// w is one of the nullptr-terminated list
inline bool in_list(const B& w, const char* const* lst) {
  for (int i = 0; lst[i]; i++)
    if (w == lst[i]) return true;
  return false;
}

// the code point of the UTF-8 sequence at s[i] and its length; a stray or truncated byte is itself (1)
unsigned decode_at(const B& s, int64_t i, int* length);
bool is_invisible(unsigned cp);  // an invisible format character (INVISIBLE_RANGES)
// a letter of running text beyond ASCII (Latin-1 and Latin Extended, Cyrillic), not Greek nor a symbol
inline bool is_word_char(unsigned cp) {
  return (cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7) || (cp >= 0x400 && cp <= 0x4FF);
}
// CJK ideographs, kana, hangul and their punctuation: text, never mathematics
inline bool is_cjk(unsigned cp) {
  return (cp >= 0x2E80 && cp <= 0xA4CF) || (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
         (cp >= 0xFF00 && cp <= 0xFFEF);
}
// the first index >= i of s[0, n) that is not a space
inline int64_t skip_spaces(const B& s, int64_t i, int64_t n) {
  while (i < n && at(s, i) == ' ') i++;
  return i;
}
B lower_bytes(const B& s);  // ASCII letters lower-cased
B upper_bytes(const B& s);  // ASCII letters upper-cased
B strip_ws(const B& s);     // ASCII whitespace removed at both ends
// Full-width forms (U+FF01..U+FF5E) to ASCII, UNICODE_FORMS, `\\cmd` -> `\cmd`; one left-to-right pass.
B normalize_text(const B& t);

}  // namespace rlv
