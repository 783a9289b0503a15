// Port of rlev_fast/verify_python.py; read that file for the why of each rule. Function names
// match (leading underscores dropped). Keep the two in lockstep.
#include "verify.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bigint.h"

namespace rlv {

typedef std::string B;

// ----------------------------------------------------------------------------- caps
static const int64_t MAX_SCAN = 65536;
static const int64_t MAX_ANSWER = 4096;
static const int64_t MAX_SPAN = 512;
static const size_t MAX_TOKENS = 1024;
static const int MAX_DEPTH = 48;
static const int MAX_AST_DEPTH = 200;
static const int MAX_NODES = 2048;
static const size_t MAX_DIGITS = 2000;
static const int64_t MAX_BITS = 8192;
static const int64_t MAX_EXP = 100000;
static const int64_t MAX_FACT = 1000;
static const size_t MAX_ELEMS = 64;
static const size_t MAX_MAT_CELLS = 64;  // cells of a matrix in matrix arithmetic (sums, scalings, products)
static const int MAX_PM = 4;
static const int64_t MAX_STEPS = 200000;
static const int MAX_ANCHOR_TRIES = 64;
static const int64_t FIXED = (int64_t)1 << 16;
static const int NPOINTS = 4;
static const double RTOL = 1e-9;
static const double ATOL = 1e-12;

struct Abort {};
struct ParseError {};

static inline bool isdig(int c) { return c >= 48 && c <= 57; }
static inline bool isalp(int c) { return (c >= 65 && c <= 90) || (c >= 97 && c <= 122); }
static inline bool issp(int c) { return c == 32 || c == 9 || c == 10 || c == 13 || c == 12 || c == 11; }
static inline int lowr(int c) { return (c >= 65 && c <= 90) ? c + 32 : c; }
static inline int at(const B& s, int64_t i) { return (unsigned char)s[(size_t)i]; }
static inline int64_t len(const B& s) { return (int64_t)s.size(); }
// The first index >= j of s[0, n) that is not an ASCII letter (the end of a command or word).
static inline int64_t letters_end(const B& s, int64_t j, int64_t n) {
  while (j < n && isalp(at(s, j))) j++;
  return j;
}
static inline bool starts(const B& s, const char* p, int64_t i) {
  size_t L = std::strlen(p);
  if (i < 0 || (size_t)i + L > s.size()) return false;
  return std::memcmp(s.data() + i, p, L) == 0;
}
static inline int64_t findp(const B& s, const char* p, int64_t from) {
  if (from > len(s)) return -1;
  size_t r = s.find(p, (size_t)from);
  return r == B::npos ? -1 : (int64_t)r;
}
static inline B sub(const B& s, int64_t a, int64_t b) {
  if (b < a) return B();
  return s.substr((size_t)a, (size_t)(b - a));
}
static inline bool in_list(const B& w, const char* const* lst) {
  for (int i = 0; lst[i]; i++)
    if (w == lst[i]) return true;
  return false;
}
static B lower_bytes(const B& s) {
  B r = s;
  for (auto& ch : r) ch = (char)lowr((unsigned char)ch);
  return r;
}
static B upper_bytes(const B& s) {
  B r = s;
  for (auto& ch : r) {
    unsigned char c = (unsigned char)ch;
    if (c >= 97 && c <= 122) ch = (char)(c - 32);
  }
  return r;
}

// ----------------------------------------------------------------------------- normalize
struct Uni {
  const char* a;
  const char* b;
};
static const Uni UNI[] = {
    {"\xc2\xb2", "^2"},        {"\xc2\xb3", "^3"},       {"\xc2\xb0", ""},          {"\xc3\x97", "*"},
    {"\xc3\xb7", "/"},         {"\xc2\xb7", "*"},        {"\xe2\x88\x92", "-"},     {"\xe2\x80\x93", "-"},
    {"\xe2\x89\xa4", "\\le "}, {"\xe2\x89\xa5", "\\ge "}, {"\xe2\x89\xa0", "\\ne "}, {"\xcf\x80", "\\pi "},
    {"\xe2\x88\x9a", "\\sqrt"}, {"\xe2\x88\x9e", "\\infty "}, {"\xe2\x82\xac", ""},   {"\xc2\xa3", ""},
    {"\xc2\xa5", ""},          {"\xe3\x80\x81", ","},    {"\xe3\x80\x82", ". "},    {"\xc2\xa0", " "},
    {"\xe2\x80\x89", " "},     {"\xe2\x80\xaf", " "},    {"\xe2\x89\x88", "\\approx "}, {nullptr, nullptr}};

static B normalize_text(const B& t) {
  B out;
  out.reserve(t.size());
  int64_t n = len(t);
  int64_t i = 0;
  while (i < n) {
    int c = at(t, i);
    if (c == 0xEF && i + 2 < n && (at(t, i + 1) == 0xBC || at(t, i + 1) == 0xBD)) {
      int v = ((at(t, i + 1) & 0x3F) << 6) | (at(t, i + 2) & 0x3F);
      int cp = 0xF000 | v;
      if (cp >= 0xFF01 && cp <= 0xFF5E && (at(t, i + 2) & 0xC0) == 0x80) {
        out.push_back((char)(cp - 0xFF01 + 0x21));
        i += 3;
        continue;
      }
    }
    if (c >= 0xC2) {
      bool hit = false;
      for (int k = 0; UNI[k].a; k++) {
        if (starts(t, UNI[k].a, i)) {
          out += UNI[k].b;
          i += (int64_t)std::strlen(UNI[k].a);
          hit = true;
          break;
        }
      }
      if (hit) continue;
    }
    if (c == 92 && i + 2 < n && at(t, i + 1) == 92 && isalp(at(t, i + 2)) && (i == 0 || at(t, i - 1) != 92)) {
      out.push_back('\\');
      i += 2;
      continue;
    }
    out.push_back((char)c);
    i += 1;
  }
  return out;
}

// ----------------------------------------------------------------------------- scanning
// position of the '}' matching each '{' (-1 when unmatched), in one linear pass; a backslash
// escapes the next byte. Same as brace_map() in verify_python.py.
static std::vector<int64_t> brace_map(const B& t) {
  std::vector<int64_t> res(t.size(), -1);
  std::vector<int64_t> stack;
  int64_t n = len(t), i = 0;
  while (i < n) {
    int c = at(t, i);
    if (c == 92) {
      i += 2;
      continue;
    }
    if (c == 123) {
      stack.push_back(i);
    } else if (c == 125) {
      if (!stack.empty()) {
        res[(size_t)stack.back()] = i;
        stack.pop_back();
      }
    }
    i++;
  }
  return res;
}

struct Span {
  int64_t s, e, cs, ce;
};

static std::vector<Span> find_boxes(const B& t) {
  std::vector<int64_t> bm;
  bool have_bm = false;
  std::vector<Span> res;
  int64_t n = len(t);
  int64_t i = 0;
  while (i < n) {
    int64_t j = findp(t, "\\", i);
    if (j < 0) break;
    int64_t k = -1;
    if (starts(t, "\\boxed", j))
      k = j + 6;
    else if (starts(t, "\\fbox", j))
      k = j + 5;
    if (k < 0) {
      i = j + 1;
      continue;
    }
    while (k < n && at(t, k) == 32) k++;
    if (k < n && at(t, k) == 123) {
      if (!have_bm) {
        bm = brace_map(t);
        have_bm = true;
      }
      int64_t e = bm[(size_t)k];
      if (e < 0) {
        i = k + 1;
        continue;
      }
      res.push_back({j, e + 1, k + 1, e});
      i = e + 1;
    } else {
      i = k;
    }
  }
  return res;
}

// first position >= i of pat, cached (-1: none left; -2: unknown) so unclosed \( stay linear
static int64_t next_cached(const B& t, const char* pat, int64_t i, int64_t* cache) {
  int64_t c = *cache;
  if (c == -1) return -1;
  if (c < i) {
    c = findp(t, pat, i);
    *cache = c;
  }
  return c;
}

static std::vector<Span> find_regions(const B& t) {
  std::vector<Span> res;
  int64_t n = len(t);
  int64_t i = 0;
  int64_t c_dd = -2, c_par = -2, c_brk = -2, c_nl = -2;
  while (i < n) {
    int c = at(t, i);
    if (c != 36 && c != 92) {
      i++;
      continue;
    }
    if (c == 36 && (i == 0 || at(t, i - 1) != 92)) {
      if (i + 1 < n && at(t, i + 1) == 36) {
        int64_t e = next_cached(t, "$$", i + 2, &c_dd);
        if (e < 0) {
          i += 2;
          continue;
        }
        res.push_back({i, e + 2, i + 2, e});
        i = e + 2;
        continue;
      }
      int64_t j = i + 1, e = -1;
      while (j < n) {
        int d = at(t, j);
        if (d == 10) break;
        if (d == 36 && at(t, j - 1) != 92) {
          e = j;
          break;
        }
        j++;
      }
      if (e < 0 || e == i + 1) {
        i += 1;
        continue;
      }
      res.push_back({i, e + 1, i + 1, e});
      i = e + 1;
      continue;
    }
    if (c == 92 && i + 1 < n && (at(t, i + 1) == 40 || at(t, i + 1) == 91)) {
      int64_t e;
      bool bad;
      if (at(t, i + 1) == 40) {
        e = next_cached(t, "\\)", i + 2, &c_par);
        bad = e < 0;
        if (!bad) {
          int64_t nl = next_cached(t, "\n", i + 2, &c_nl);
          bad = nl >= 0 && nl < e;
        }
      } else {
        e = next_cached(t, "\\]", i + 2, &c_brk);
        bad = e < 0;
      }
      if (bad) {
        i += 2;
        continue;
      }
      res.push_back({i, e + 2, i + 2, e});
      i = e + 2;
      continue;
    }
    i++;
  }
  return res;
}

static const char* GAP_SKIP_CMDS[] = {"\\quad", "\\qquad", "\\text", "\\mbox", "\\textbf", "\\,", "\\;", "\\ ",
                                      "\\\\",   "\\(",     "\\)",    "\\[",    "\\]",      "\\!", nullptr};

static std::vector<B> split_ws(const B& s) {
  std::vector<B> r;
  int64_t i = 0, n = len(s);
  while (i < n) {
    while (i < n && issp(at(s, i))) i++;
    if (i >= n) break;
    int64_t j = i;
    while (j < n && !issp(at(s, j))) j++;
    r.push_back(sub(s, i, j));
    i = j;
  }
  return r;
}

static int gap_kind(const B& t, int64_t a, int64_t b) {
  if (b - a > 64) return 0;
  B words;
  int64_t i = a;
  while (i < b) {
    int c = at(t, i);
    if (c == 92) {
      bool hit = false;
      for (int k = 0; GAP_SKIP_CMDS[k]; k++) {
        int64_t L = (int64_t)std::strlen(GAP_SKIP_CMDS[k]);
        if (starts(t, GAP_SKIP_CMDS[k], i) && i + L <= b) {
          i += L;
          hit = true;
          break;
        }
      }
      if (hit) continue;
      return 0;
    }
    if (c == 36 || c == 44 || c == 59 || c == 46 || c == 123 || c == 125 || c == 32 || c == 10 || c == 9 ||
        c == 13) {
      words.push_back(' ');
      i++;
      continue;
    }
    words.push_back((char)lowr(c));
    i++;
  }
  std::vector<B> ws = split_ws(words);
  if (ws.empty()) return 1;
  bool has_and = false, has_or = false;
  for (auto& w : ws) {
    if (w == "and" || w == "\xe5\x92\x8c")
      has_and = true;
    else if (w == "or" || w == "\xe6\x88\x96")
      has_or = true;
  }
  if (has_or) return 2;
  if (has_and && b - a <= 48) return 1;
  return 0;
}

static B join(const std::vector<B>& parts, bool has_or) {
  B r;
  for (size_t i = 0; i < parts.size(); i++) {
    if (i) r += has_or ? " or " : ", ";
    r += parts[i];
  }
  return r;
}

static int64_t sentence_end(const B& t, int64_t p, int64_t lim) {
  int64_t n = std::min(len(t), p + lim);
  int64_t i = p;
  while (i < n) {
    int c = at(t, i);
    if (c == 10) return i;
    if (c == 60 && i + 1 < n && at(t, i + 1) == 124) return i;
    if ((c == 46 || c == 33 || c == 63) && (i + 1 >= len(t) || issp(at(t, i + 1)))) return i;
    i++;
  }
  return n;
}

// returns end or -1; out gets the normalized number
static int64_t scan_number(const B& t, int64_t p, int64_t n, B* outp) {
  int64_t i = p;
  B out;
  if (i < n && at(t, i) == 45) {
    out.push_back('-');
    i++;
  }
  if (i < n && at(t, i) == 46 && i + 1 < n && isdig(at(t, i + 1))) {
    out += "0";
  } else if (!(i < n && isdig(at(t, i)))) {
    return -1;
  }
  int64_t g0 = i;
  while (i < n && isdig(at(t, i))) {
    out.push_back((char)at(t, i));
    i++;
  }
  int64_t first = i - g0;
  bool thousands = false;
  while (first >= 1 && first <= 3 && i < n && at(t, g0) != 48) {
    int sep = 0;
    if (at(t, i) == 44 || at(t, i) == 32)
      sep = 1;
    else if (starts(t, "{,}", i))
      sep = 3;
    if (sep == 0 || i + sep + 3 > n) break;
    int64_t q = i + sep;
    if (!(isdig(at(t, q)) && isdig(at(t, q + 1)) && isdig(at(t, q + 2)))) break;
    if (q + 3 < n && isdig(at(t, q + 3))) break;
    if (at(t, i) == 32 && !thousands && at(t, g0) == 48) break;
    out += sub(t, q, q + 3);
    i = q + 3;
    thousands = true;
  }
  bool decimal = false;
  if (i + 1 < n && at(t, i) == 46 && isdig(at(t, i + 1))) {
    out.push_back('.');
    i++;
    while (i < n && isdig(at(t, i))) {
      out.push_back((char)at(t, i));
      i++;
    }
    decimal = true;
  } else if (!thousands && i + 1 < n && at(t, i) == 44 && isdig(at(t, i + 1))) {
    int64_t q = i + 1;
    while (q < n && isdig(at(t, q))) q++;
    int64_t nd = q - (i + 1);
    if ((nd <= 2 || (first == 1 && at(t, g0) == 48)) && !(q < n && at(t, q) == 44 && q + 1 < n && isdig(at(t, q + 1)))) {
      out.push_back('.');
      out += sub(t, i + 1, q);
      i = q;
      decimal = true;
    }
  }
  if (!decimal && i + 1 < n && at(t, i) == 47 && isdig(at(t, i + 1))) {
    out.push_back('/');
    i++;
    while (i < n && isdig(at(t, i))) {
      out.push_back((char)at(t, i));
      i++;
    }
  }
  if (out.size() > MAX_DIGITS) return -1;
  *outp = out;
  return i;
}

struct NumHit {
  int64_t s = -1, e = -1;
  B v;
};

static bool last_number(const B& t, int64_t a, int64_t b, NumHit* best) {
  bool found = false;
  int64_t i = a;
  while (i < b) {
    int c = at(t, i);
    if (isdig(c) || ((c == 45 || c == 46) && i + 1 < b && isdig(at(t, i + 1)))) {
      int prev = i > 0 ? at(t, i - 1) : 32;
      if (isalp(prev) || isdig(prev) || prev == 95 || prev == 46 || prev == 92 || prev == 94) {
        int64_t s0 = i;
        while (i < b && (isdig(at(t, i)) || isalp(at(t, i)))) i++;
        if (i == s0) i++;
        continue;
      }
      B v;
      int64_t r = scan_number(t, i, b, &v);
      if (r < 0 || r <= i) {
        i++;
        continue;
      }
      best->s = i;
      best->e = r;
      best->v = v;
      found = true;
      i = r;
      continue;
    }
    i++;
  }
  return found;
}

// Spans[j..k] (boxes or math regions) joined by connector gaps ("," "and" "or" ...) into one answer;
// *jout is the first span taken.
static B group_back(const B& t, const std::vector<Span>& boxes, int64_t k, int64_t* jout) {
  std::vector<B> parts;
  parts.push_back(sub(t, boxes[k].cs, boxes[k].ce));
  bool has_or = false;
  int64_t j = k;
  while (j > 0 && parts.size() < MAX_ELEMS) {
    int g = gap_kind(t, boxes[j - 1].e, boxes[j].s);
    if (g == 0) break;
    has_or = has_or || g == 2;
    j--;
    parts.push_back(sub(t, boxes[j].cs, boxes[j].ce));
  }
  std::reverse(parts.begin(), parts.end());
  *jout = j;
  return join(parts, has_or);
}

static B region_group_fwd(const B& t, const std::vector<Span>& regions, int64_t k, int64_t lim) {
  std::vector<B> parts;
  parts.push_back(sub(t, regions[k].cs, regions[k].ce));
  bool has_or = false;
  int64_t j = k;
  while (j + 1 < (int64_t)regions.size() && regions[j + 1].s < lim && parts.size() < MAX_ELEMS) {
    int g = gap_kind(t, regions[j].e, regions[j + 1].s);
    if (g == 0) break;
    has_or = has_or || g == 2;
    j++;
    parts.push_back(sub(t, regions[j].cs, regions[j].ce));
  }
  return join(parts, has_or);
}

static B strip_ws(const B& s) {
  int64_t a = 0, b = len(s);
  while (a < b && issp(at(s, a))) a++;
  while (b > a && issp(at(s, b - 1))) b--;
  return sub(s, a, b);
}

static B strip_answer(B s) {
  s = strip_ws(s);
  while (!s.empty()) {
    int c = (unsigned char)s.back();
    if (c == 46 || c == 44 || c == 59 || c == 58 || c == 33 || c == 63 || c == 32)
      s.pop_back();
    else
      break;
  }
  return strip_ws(s);
}

static int64_t regions_index(const std::vector<Span>& regions, int64_t p) {
  for (size_t k = 0; k < regions.size(); k++) {
    if (regions[k].s == p) return (int64_t)k;
    if (regions[k].s > p) break;
  }
  return -1;
}

static bool mathish_start(const B& s) {
  if (s.empty()) return false;
  int c = at(s, 0);
  if (isdig(c) || c == 45 || c == 43 || c == 46 || c == 40 || c == 91 || c == 92 || c == 123 || c == 124) return true;
  if (c >= 65 && c <= 90) {
    int64_t j = 0;
    while (j < len(s) && at(s, j) >= 65 && at(s, j) <= 90) j++;
    if (j <= 10 && (j == len(s) || !isalp(at(s, j)))) return true;
  }
  return false;
}

static B cut_prose_tail(const B& s) {
  int64_t i = 0, n = len(s);
  while (i < n) {
    if (at(s, i) == 44 && i + 1 < n && at(s, i + 1) == 32) {
      int64_t j = i + 2, k = j;
      while (k < n && at(s, k) >= 97 && at(s, k) <= 122) k++;
      if (k - j >= 3) {
        B w = sub(s, j, k);
        if (w != "and" && w != "then") return sub(s, 0, i);
      }
    }
    i++;
  }
  return s;
}

static const char* IS_WORDS[] = {" is ", " are ", " was ", " equals ", " be ", " = ", nullptr};

static bool answer_from_span(const B& t, int64_t p, const std::vector<Span>& regions, B* out) {
  int64_t n = len(t);
  while (p < n) {
    int c = at(t, p);
    bool skip = issp(c);
    if (!skip && (c == 58 || c == 42 || c == 34 || c == 39 || c == 96 || c == 92)) {
      bool keep = c == 92 && p + 1 < n && (at(t, p + 1) == 40 || at(t, p + 1) == 91 || isalp(at(t, p + 1)));
      skip = !keep;
    }
    if (!skip) break;
    p++;
  }
  while (p + 2 < n && (starts(t, "\xe6\x98\xaf", p) || starts(t, "\xe4\xb8\xba", p) || starts(t, "\xe9\xa1\xb9", p))) {
    p += 3;
    while (p < n && (issp(at(t, p)) || at(t, p) == 58)) p++;
  }
  if (p >= n) return false;
  int64_t k = regions_index(regions, p);
  if (k >= 0) {
    if (regions[k].ce <= regions[k].cs) return false;
    *out = region_group_fwd(t, regions, k, p + MAX_SPAN);
    return true;
  }
  int64_t end = sentence_end(t, p, MAX_SPAN);
  B s = sub(t, p, end);
  if (mathish_start(s)) {
    s = strip_answer(cut_prose_tail(s));
    if (s.empty()) return false;
    *out = s;
    return true;
  }
  int64_t best = -1;
  for (int w = 0; IS_WORDS[w]; w++) {
    size_t q = s.rfind(IS_WORDS[w]);
    if (q != B::npos) {
      int64_t e = (int64_t)q + (int64_t)std::strlen(IS_WORDS[w]);
      if (e > best) best = e;
    }
  }
  if (best >= 0) {
    int64_t q = p + best;
    while (q < end && at(t, q) == 32) q++;
    int64_t kk = regions_index(regions, q);
    if (kk >= 0) {
      *out = region_group_fwd(t, regions, kk, p + MAX_SPAN);
      return true;
    }
    B sb = sub(t, q, end);
    if (mathish_start(sb)) {
      sb = strip_answer(cut_prose_tail(sb));
      if (!sb.empty()) {
        *out = sb;
        return true;
      }
    }
  }
  const Span* lr = nullptr;
  for (auto& r : regions)
    if (r.s >= p && r.e <= end) lr = &r;
  NumHit ln;
  bool has_ln = last_number(t, p, end, &ln);
  if (lr && (!has_ln || lr->e >= ln.e)) {
    if (lr->ce > lr->cs) {
      *out = sub(t, lr->cs, lr->ce);
      return true;
    }
    return false;
  }
  if (has_ln) {
    *out = ln.v;
    return true;
  }
  return false;
}

static const char* TEXT_ANCHORS[] = {"answer is",    "answer:", "answer :", "option is", "choice is",
                                     "\xe7\xad\x94\xe6\xa1\x88", "\xe6\x95\x85\xe9\x80\x89", "\xe9\x80\x89",
                                     nullptr};

static bool mathish_text(const B& s) {
  int64_t i = 0, n = len(s);
  while (i < n) {
    int c = at(s, i);
    if (c == 10) return false;
    if (isalp(c)) {
      int64_t j = letters_end(s, i, n);
      if (j - i >= 3 && !(i > 0 && at(s, i - 1) == 92)) {
        B w = sub(s, i, j);
        if (w != upper_bytes(w)) return false;
      }
      i = j;
    } else {
      i++;
    }
  }
  return true;
}

static bool bold_ok(const B& s0) {
  B s = strip_ws(s0);
  if (s.empty() || s.size() > 40) return false;
  if (!mathish_start(s) && at(s, 0) != 36) return false;
  return mathish_text(s);
}

static std::vector<Span> bold_spans(const B& t) {
  std::vector<Span> res;
  int64_t i = 0;
  while (res.size() < 4096) {
    int64_t a = findp(t, "**", i);
    if (a < 0) break;
    int64_t b = findp(t, "**", a + 2);
    if (b < 0) break;
    res.push_back({a, b + 2, a + 2, b});
    i = b + 2;
  }
  return res;
}

static bool prepare_response(const B& data0, B* out) {
  B data;
  size_t k = data0.rfind("</think>");
  if (k != B::npos) {
    data = data0.substr(k + 8);
  } else if (data0.find("<think>") != B::npos) {
    return false;
  } else {
    data = data0;
  }
  if (len(data) > MAX_SCAN) data = data.substr(data.size() - (size_t)MAX_SCAN);
  *out = normalize_text(data);
  return true;
}

struct Extracted {
  B ans;
  std::vector<Span> boxes;
  int64_t first_in_group = 0;
};

struct Cand {
  int64_t pos;
  int kind;
  int64_t idx;
};

static bool extract_from(const B& t, bool is_gold, Extracted* X) {
  X->boxes = find_boxes(t);
  const std::vector<Span>& boxes = X->boxes;
  std::vector<Span> regions = find_regions(t);
  B tl = lower_bytes(t);
  std::vector<Cand> cands;
  for (size_t bi = 0; bi < boxes.size(); bi++) cands.push_back({boxes[bi].s, 0, (int64_t)bi});
  for (int ai = 0; TEXT_ANCHORS[ai]; ai++) {
    int64_t i = 0;
    int cnt = 0;
    while (cnt < 4096) {
      int64_t q = findp(tl, TEXT_ANCHORS[ai], i);
      if (q < 0) break;
      cands.push_back({q, 1, ai});
      i = q + 1;
      cnt++;
    }
  }
  std::vector<Span> bolds = bold_spans(t);
  for (size_t bi = 0; bi < bolds.size(); bi++) cands.push_back({bolds[bi].s, 2, (int64_t)bi});
  std::sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& b) {
    if (a.pos != b.pos) return a.pos > b.pos;
    if (a.kind != b.kind) return a.kind > b.kind;
    return a.idx > b.idx;
  });
  int tries = 0;
  int64_t nb = (int64_t)boxes.size();
  for (auto& cd : cands) {
    if (tries >= MAX_ANCHOR_TRIES) break;
    tries++;
    if (cd.kind == 0) {
      int64_t j;
      B ans = group_back(t, boxes, cd.idx, &j);
      if (!strip_ws(ans).empty()) {
        X->ans = ans;
        X->first_in_group = j;
        return true;
      }
      continue;
    }
    if (cd.kind == 2) {
      const Span& b = bolds[(size_t)cd.idx];
      B s = sub(t, b.cs, b.ce);
      if (bold_ok(s)) {
        X->ans = strip_answer(s);
        X->first_in_group = nb;
        return true;
      }
      continue;
    }
    const char* pat = TEXT_ANCHORS[cd.idx];
    if (cd.idx == 7) {
      int64_t q = cd.pos + 3;
      while (q < len(t) && (at(t, q) == 58 || at(t, q) == 32)) q++;
      if (!(q < len(t) && at(t, q) >= 65 && at(t, q) <= 90)) continue;
    }
    B ans;
    if (answer_from_span(t, cd.pos + (int64_t)std::strlen(pat), regions, &ans) && !strip_ws(ans).empty()) {
      X->ans = ans;
      X->first_in_group = nb;
      return true;
    }
  }
  X->first_in_group = nb;
  if (is_gold) {
    B s = strip_ws(t);
    if (!s.empty() && at(s, 0) != 36 && !starts(s, "\\(", 0) && !starts(s, "\\[", 0)) {
      B v;
      int64_t r = scan_number(s, 0, len(s), &v);
      if (r >= 0 && r == len(s) && at(s, 0) != 45) {
        X->ans = v;
        return true;
      }
      if (regions.empty()) {
        X->ans = s;
        return true;
      }
    }
  }
  bool has_lr = false;
  int64_t lr_end = 0, lr_k = 0;
  if (!regions.empty()) {
    int64_t k = (int64_t)regions.size() - 1;
    while (k >= 0 && regions[k].ce <= regions[k].cs) k--;
    if (k >= 0) {
      has_lr = true;
      lr_end = regions[k].e;
      lr_k = k;
    }
  }
  if (!has_lr) {
    B s = strip_ws(t);
    if (!s.empty() && s.size() <= 256 && mathish_text(s)) {
      B v;
      int64_t r = scan_number(s, 0, len(s), &v);
      if (r >= 0 && r == len(s)) {
        X->ans = v;
        return true;
      }
      X->ans = s;
      return true;
    }
  }
  NumHit ln;
  bool has_ln = last_number(t, 0, len(t), &ln);
  if (has_lr && (!has_ln || lr_end >= ln.e)) {
    int64_t first;
    X->ans = group_back(t, regions, lr_k, &first);
    return true;
  }
  if (has_ln) {
    X->ans = ln.v;
    return true;
  }
  B s = strip_ws(t);
  if (!s.empty() && s.size() <= 16) {
    X->ans = s;
    return true;
  }
  return false;
}

// ----------------------------------------------------------------------------- multiple choice
static const char* MC_SKIP_CMDS[] = {"text", "textbf", "mathrm", "mathbf", "textrm", "boxed", "fbox",   "mbox",
                                     "quad", "qquad",  "left",   "right",  "textnormal", "mathit", "textit", nullptr};
static const char* MC_LEAD[] = {"option", "options", "choice", "choices", "answer", "the", "is", "correct", "are", nullptr};

static bool mc_letters(const B& s, bool strict, uint32_t* mask_out, bool* hedge_out) {
  int64_t n = len(s), i = 0;
  uint32_t mask = 0;
  bool hedge = false, pending_or = false, stopped = false;
  int nletters = 0;
  while (i < n) {
    int c = at(s, i);
    if (c == 92) {
      int64_t j = letters_end(s, i + 1, n);
      B name = sub(s, i + 1, j);
      if (j == i + 1) {
        if (j < n) {
          int d = at(s, j);
          if (d == 44 || d == 59 || d == 33 || d == 32 || d == 40 || d == 41 || d == 91 || d == 93) {
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
      stopped = true;
      break;
    }
    if (isalp(c)) {
      int64_t j = letters_end(s, i, n);
      B w = sub(s, i, j);
      B lw = lower_bytes(w);
      bool ok = false;
      if (w.size() == 1 && c >= 65 && c <= 90)
        ok = true;
      else if (w.size() == 1 && c >= 97 && c <= 122 && !strict)
        ok = true;
      else if (w.size() >= 2 && w.size() <= 10 && w == upper_bytes(w)) {
        ok = true;
        uint32_t seen = 0;
        for (char ch0 : w) {
          int ch = (unsigned char)ch0;
          uint32_t bit = 1u << (ch - 65);
          if (ch > 74 || (seen & bit)) {
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
        for (char ch0 : w) mask |= 1u << (lowr((unsigned char)ch0) - 97);
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
    if (c == 0xE5 && starts(s, "\xe5\x92\x8c", i)) {
      i += 3;
      continue;
    }
    if (c == 0xE6 && starts(s, "\xe6\x88\x96", i)) {
      pending_or = true;
      i += 3;
      continue;
    }
    if (c == 47 || c == 124) {
      pending_or = true;
      i++;
      continue;
    }
    if (issp(c) || c == 44 || c == 59 || c == 40 || c == 41 || c == 91 || c == 93 || c == 123 || c == 125 ||
        c == 36 || c == 42 || c == 38 || c == 43 || c == 58 || c == 46 || c == 34 || c == 39) {
      i++;
      continue;
    }
    stopped = true;
    break;
  }
  if (nletters == 0 || mask == 0) return false;
  if (strict && (stopped || hedge)) return false;
  *mask_out = mask;
  *hedge_out = hedge;
  return true;
}

// ----------------------------------------------------------------------------- tokenizer
enum {
  T_NUM, T_VAR, T_PI, T_INF, T_FUNC, T_FRAC, T_SQRT, T_BINOM, T_TEXT, T_OP, T_LP, T_RP, T_LB, T_RB,
  T_LC, T_RC, T_LS, T_RS, T_BAR, T_COMMA, T_SEMI, T_SEP, T_MATB, T_MATE, T_AMP, T_ROW, T_SUB
};
enum {
  O_ADD, O_SUB, O_MUL, O_DIV, O_POW, O_FACT, O_PM, O_MP, O_EQ, O_LT, O_GT, O_LE, O_GE, O_NE, O_APPROX,
  O_IN, O_CUP, O_CAP, O_RATIO
};

static const char* FUNCS[] = {"sin", "cos", "tan", "sec", "csc", "cot", "arcsin", "arccos", "arctan", "sinh",
                              "cosh", "tanh", "ln", "log", "exp", "abs", nullptr};
static const char* SKIP_CMDS[] = {
    "left", "right", "big", "Big", "bigl", "bigr", "Bigl", "Bigr", "bigg", "Bigg", "displaystyle", "quad", "qquad",
    "boxed", "fbox", "dots", "ldots", "cdots", "hline", "limits", "nolimits", "textstyle", "scriptstyle", "mathrm",
    "mathbf", "mathit", "operatorname", "overline", "vec", "hat", "bar", "widehat", "overrightarrow", "mathbb",
    "mathcal", "bf", "rm", "it", "tilde", "circ", "degree", "cr", "underline", "mathsf", "bm", "boldsymbol",
    "text", "textbf", "mbox", "textnormal", "textit", "textrm", "dfrac", "tfrac", "cfrac", "frac", "sqrt",
    "dbinom", "binom", "tbinom", nullptr};
static const char* TEXT_CMDS[] = {"text", "textbf", "mbox", "textnormal", "textit", "textrm", "textsf", "texttt", nullptr};
static const char* UNWRAP_CMDS[] = {"mathrm", "mathbf", "mathit", "operatorname", "overline", "vec", "hat", "bar",
                                    "widehat", "overrightarrow", "mathbb", "mathcal", "boxed", "fbox", "tilde",
                                    "underline", "mathsf", "bm", "boldsymbol", nullptr};
struct RelCmd {
  const char* name;
  int op;
};
static const RelCmd REL_CMDS[] = {
    {"le", O_LE},      {"leq", O_LE}, {"leqslant", O_LE}, {"ge", O_GE},       {"geq", O_GE},      {"geqslant", O_GE},
    {"ne", O_NE},      {"neq", O_NE}, {"lt", O_LT},       {"gt", O_GT},       {"approx", O_APPROX}, {"in", O_IN},
    {"cup", O_CUP},    {"cap", O_CAP}, {"pm", O_PM},      {"mp", O_MP},       {"cdot", O_MUL},    {"times", O_MUL},
    {"div", O_DIV},    {"ast", O_MUL}, {"sim", O_APPROX}, {"simeq", O_APPROX}, {"equiv", O_EQ},   {nullptr, 0}};
static int rel_cmd(const B& name) {
  for (int k = 0; REL_CMDS[k].name; k++)
    if (name == REL_CMDS[k].name) return REL_CMDS[k].op;
  return -1;
}
static const char* UNIT_WORDS[] = {
    "percent", "percentage", "pct", "cm", "mm", "km", "kg", "mg", "ml", "meters", "meter", "metres", "metre",
    "miles", "mile", "feet", "foot", "ft", "inches", "inch", "hours", "hour", "hrs", "minutes", "minute", "mins",
    "seconds", "second", "days", "day", "weeks", "years", "year", "yuan", "dollars", "dollar", "cents", "cent",
    "degrees", "degree", "units", "unit", "sq", "square", "cubic", "grams", "gram", "liters", "liter", "litres",
    "people", "students", "ways", "times", "points", "mph", "kmh", "usd", "rmb", "yards", "yard", "pounds",
    "pound", "lbs", "oz", "ounces", "m^2", "m^3", "s", nullptr};
static const char* WORD_FUNCS[] = {"sqrt", "sin", "cos", "tan", "ln", "log", "exp", nullptr};

struct Q {  // exact rational num/den, den > 0 (not always reduced: see reduce())
  Big n, d;
};

static bool bits_ok(const Big& n, const Big& d) { return n.bit_length() <= MAX_BITS && d.bit_length() <= MAX_BITS; }

static uint64_t gcd_u64(uint64_t a, uint64_t b) {
  while (b) {
    uint64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

static void reduce(Q* q) {
  if (q->n.bit_length() <= 63 && q->d.bit_length() <= 63) {
    uint64_t a = q->n.mag_u64(), b = q->d.mag_u64();
    uint64_t g = gcd_u64(a, b);
    if (g > 1) {
      bool ng = q->n.neg;
      q->n.set_u64(a / g);
      q->n.neg = ng && !q->n.is_zero();
      q->d.set_u64(b / g);
    }
  }
}

struct Tok {
  int kind = 0;
  int op = 0;
  B name;
  Q q;
  int dec = -1;
  int sig = 0;
  B raw;
  bool lit = false;
  Tok() { q.d = Big(1); }
  Tok(int k, int o = 0) : kind(k), op(o) { q.d = Big(1); }
};

static void make_num(const B& intpart, const B& frac, Q* q, int* dec, int* sig) {
  B digits = intpart + frac;
  q->n = digits.empty() ? Big() : Big::from_digits(digits, 10);
  q->d = frac.empty() ? Big(1) : Big::pow10((int)frac.size());
  size_t k = 0;
  while (k < digits.size() && digits[k] == '0') k++;
  *sig = (int)(digits.size() - k);
  reduce(q);
  *dec = frac.empty() ? -1 : (int)frac.size();
}

// braced group or single byte / command after position i; false when unbalanced
static bool read_group(const B& s, int64_t i, int64_t n, const std::vector<int64_t>& bm, B* g, int64_t* next) {
  while (i < n && at(s, i) == 32) i++;
  if (i >= n) {
    *g = B();
    *next = i;
    return true;
  }
  if (at(s, i) == 123) {
    int64_t e = bm[(size_t)i];
    if (e < 0) {
      *next = n;
      return false;
    }
    *g = sub(s, i + 1, e);
    *next = e + 1;
    return true;
  }
  if (at(s, i) == 92) {
    int64_t j = letters_end(s, i + 1, n);
    if (j == i + 1) j++;
    if (j > n) j = n;
    *g = sub(s, i, j);
    *next = j;
    return true;
  }
  *g = sub(s, i, i + 1);
  *next = i + 1;
  return true;
}

static int64_t attach_sub(const B& s, int64_t i, int64_t n, Tok& t, const std::vector<int64_t>& bm) {
  if (t.kind != T_VAR) return i;
  while (i < n && (at(s, i) == 95 || at(s, i) == 39)) {
    if (at(s, i) == 39) {
      t.name += "'";
      i++;
      continue;
    }
    B g;
    int64_t j;
    if (!read_group(s, i + 1, n, bm, &g, &j)) return n;
    t.name += "_";
    for (char ch : g)
      if (!issp((unsigned char)ch)) t.name.push_back(ch);
    i = j;
  }
  return i;
}

// Operator and bracket tokens by their bytes. Two-byte operators are matched first ("==" is "=").
static int two_byte_op(int c, int d) {
  if (c == 33 && d == 61) return O_NE;                          // !=
  if ((c == 60 && d == 61) || (c == 61 && d == 60)) return O_LE;  // <=  =<
  if (c == 62 && d == 61) return O_GE;                          // >=
  if (c == 61 && d == 61) return O_EQ;                          // ==
  return -1;
}

static bool one_byte_token(int c, int* kind, int* op) {
  static const int ops[][2] = {{43, O_ADD}, {45, O_SUB}, {42, O_MUL},  {47, O_DIV},  {94, O_POW},
                               {33, O_FACT}, {61, O_EQ}, {60, O_LT}, {62, O_GT}, {58, O_RATIO}};
  static const int kinds[][2] = {{40, T_LP}, {41, T_RP},   {91, T_LB},    {93, T_RB},   {123, T_LC},
                                 {125, T_RC}, {124, T_BAR}, {44, T_COMMA}, {59, T_SEMI}, {38, T_AMP}};
  for (const auto& o : ops)
    if (o[0] == c) {
      *kind = T_OP;
      *op = o[1];
      return true;
    }
  for (const auto& k : kinds)
    if (k[0] == c) {
      *kind = k[1];
      *op = 0;
      return true;
    }
  return false;
}

// LaTeX commands that are one token each (relations come from rel_cmd, functions from FUNCS).
static bool command_token(const B& name, int* kind, int* op) {
  struct Entry {
    const char* name;
    int kind, op;
  };
  static const Entry table[] = {
      {"frac", T_FRAC, 0},      {"dfrac", T_FRAC, 0},     {"tfrac", T_FRAC, 0},      {"cfrac", T_FRAC, 0},
      {"sqrt", T_SQRT, 0},      {"binom", T_BINOM, 0},    {"dbinom", T_BINOM, 0},    {"tbinom", T_BINOM, 0},
      {"pi", T_PI, 0},          {"infty", T_INF, 0},      {"infin", T_INF, 0},       {"infinity", T_INF, 0},
      {"lbrace", T_LS, 0},      {"rbrace", T_RS, 0},      {"langle", T_LP, 0},       {"rangle", T_RP, 0},
      {"vert", T_BAR, 0},       {"lvert", T_BAR, 0},      {"rvert", T_BAR, 0},       {"mid", T_BAR, 0},
      {"colon", T_OP, O_RATIO}, {"to", T_SEP, 0},         {"rightarrow", T_SEP, 0},  {"Rightarrow", T_SEP, 0},
      {"implies", T_SEP, 0},    {"iff", T_SEP, 0},        {"Leftrightarrow", T_SEP, 0}, {"therefore", T_SEP, 0},
      {"because", T_SEP, 0},
  };
  for (const Entry& e : table)
    if (name == e.name) {
      *kind = e.kind;
      *op = e.op;
      return true;
    }
  return false;
}

static bool tokenize(const B& s, std::vector<Tok>* out) {
  std::vector<Tok>& toks = *out;
  int64_t n = len(s), i = 0;
  std::vector<int64_t> bm = brace_map(s);
  while (i < n) {
    if (toks.size() > MAX_TOKENS) return false;
    int c = at(s, i);
    if (issp(c) || c == 36 || c == 37 || c == 126 || c == 34 || c == 63 || c == 35 || c == 96) {
      i++;
      continue;
    }
    if (isdig(c) || (c == 46 && i + 1 < n && isdig(at(s, i + 1)))) {
      int64_t g0 = i;
      B intpart;
      while (i < n && isdig(at(s, i))) {
        intpart.push_back((char)at(s, i));
        i++;
      }
      int64_t first = i - g0;
      bool grouped = false;
      while (first >= 1 && first <= 3 && i < n && at(s, g0) != 48) {
        int64_t q = -1;
        if (at(s, i) == 44 && i + 1 < n && at(s, i + 1) != 32) {
          q = i + 1;
          if (starts(s, ",\\!", i)) {
            q = i + 3;
            while (q < n && at(s, q) == 32) q++;
          }
        } else {
          int64_t k = i;
          while (k < n && at(s, k) == 32) k++;
          if (starts(s, "{,}", k))
            q = k + 3;
          else if (starts(s, "{, }", k))
            q = k + 4;
          else if (starts(s, ",\\!", k))
            q = k + 3;
          if (q >= 0)
            while (q < n && at(s, q) == 32) q++;
        }
        if (q < 0 || q + 3 > n) break;
        if (!(isdig(at(s, q)) && isdig(at(s, q + 1)) && isdig(at(s, q + 2)))) break;
        if (q + 3 < n && isdig(at(s, q + 3))) break;
        intpart += sub(s, q, q + 3);
        i = q + 3;
        grouped = true;
      }
      B frac;
      bool isdec = false;
      if (i + 1 < n && at(s, i) == 46 && isdig(at(s, i + 1))) {
        isdec = true;
        i++;
        while (i < n && isdig(at(s, i))) {
          frac.push_back((char)at(s, i));
          i++;
        }
      }
      if (intpart.size() + frac.size() > MAX_DIGITS) return false;
      Tok t(T_NUM);
      make_num(intpart, frac, &t.q, &t.dec, &t.sig);
      if (isdec) t.dec = (int)frac.size();
      t.lit = true;
      if (!isdec && !grouped) t.raw = intpart;
      if (i < n && (at(s, i) == 101 || at(s, i) == 69)) {
        int64_t q = i + 1;
        int sg = 1;
        if (q < n && (at(s, q) == 43 || at(s, q) == 45)) {
          sg = at(s, q) == 45 ? -1 : 1;
          q++;
        }
        int64_t q0 = q;
        while (q < n && isdig(at(s, q)) && q - q0 < 6) q++;
        if (q > q0 && !(q < n && (isalp(at(s, q)) || isdig(at(s, q))))) {
          int64_t ex = std::stoll(sub(s, q0, q)) * sg;
          if (ex <= 400 && ex >= -400) {
            if (ex >= 0)
              t.q.n = mul(t.q.n, Big::pow10((int)ex));
            else
              t.q.d = mul(t.q.d, Big::pow10((int)-ex));
            reduce(&t.q);
            t.dec = -1;
            t.lit = false;
            t.raw.clear();
            i = q;
          }
        }
      }
      if (i + 1 < n && at(s, i) == 95 && !isdec) {
        B g;
        int64_t j;
        if (read_group(s, i + 1, n, bm, &g, &j) && g.size() >= 1 && g.size() <= 2) {
          bool alld = true;
          for (char ch : g)
            if (!isdig((unsigned char)ch)) alld = false;
          if (alld) {
            int base = std::stoi(g);
            bool okd = base >= 2 && base <= 36 && intpart.size() <= 64;
            if (okd)
              for (char ch : intpart)
                if (ch - 48 >= base) okd = false;
            if (okd) {
              t.q.n = Big::from_digits(intpart, base);
              t.q.d = Big(1);
              t.raw.clear();
              t.lit = false;
              i = j;
            }
          }
        }
      }
      toks.push_back(t);
      continue;
    }
    if (c == 92) {
      int64_t j = letters_end(s, i + 1, n);
      B name = sub(s, i + 1, j);
      if (j == i + 1) {
        if (j >= n) break;
        int d = at(s, j);
        if (d == 123)
          toks.push_back(Tok(T_LS));
        else if (d == 125)
          toks.push_back(Tok(T_RS));
        else if (d == 92)
          toks.push_back(Tok(T_ROW));
        else if (d == 124)
          toks.push_back(Tok(T_BAR));
        i = j + 1;
        continue;
      }
      i = j;
      int rc = rel_cmd(name);
      if (name.compare(0, 5, "qquad") == 0 && name.size() > 5 && rc < 0) {
        i = i - ((int64_t)name.size() - 5);
        continue;
      }
      if (name.compare(0, 4, "quad") == 0 && name.size() > 4 && rc < 0) {
        i = i - ((int64_t)name.size() - 4);
        continue;
      }
      if (in_list(name, TEXT_CMDS)) {
        B g;
        if (!read_group(s, i, n, bm, &g, &i)) return false;
        B w = lower_bytes(strip_ws(g));
        if (w == "and" || w == "or" || w == "," || w.empty()) {
          if (!w.empty()) toks.push_back(Tok(T_SEP, w == "or" ? 1 : 0));
          continue;
        }
        int prev = toks.empty() ? -1 : toks.back().kind;
        if (prev == T_NUM || prev == T_RP || prev == T_RB || prev == T_RC || prev == T_PI) {
          int64_t k = i;
          while (k < n && at(s, k) == 32) k++;
          if (k < n && at(s, k) == 94) {
            B g2;
            int64_t k2;
            if (read_group(s, k + 1, n, bm, &g2, &k2) && g2.size() == 1 && isdig((unsigned char)g2[0])) i = k2;
          }
          continue;
        }
        Tok t(T_TEXT);
        t.name = w;
        toks.push_back(t);
        continue;
      }
      if (rc >= 0) {
        toks.push_back(Tok(T_OP, rc));
        continue;
      }
      int kind, op;
      if (command_token(name, &kind, &op)) {
        toks.push_back(Tok(kind, op));
        continue;
      }
      if (in_list(name, FUNCS)) {
        Tok t(T_FUNC);
        t.name = name;
        toks.push_back(t);
        continue;
      }
      if (name == "begin") {
        B g;
        if (!read_group(s, i, n, bm, &g, &i)) return false;
        bool ismat = (g.size() >= 6 && g.compare(g.size() - 6, 6, "matrix") == 0) || g == "array";
        if (ismat) {
          toks.push_back(Tok(T_MATB));
          if (g == "array") {
            B g2;
            int64_t i2;
            if (read_group(s, i, n, bm, &g2, &i2)) i = i2;
          }
        }
        continue;
      }
      if (name == "end") {
        B g;
        if (!read_group(s, i, n, bm, &g, &i)) return false;
        bool ismat = (g.size() >= 6 && g.compare(g.size() - 6, 6, "matrix") == 0) || g == "array";
        if (ismat) toks.push_back(Tok(T_MATE));
        continue;
      }
      if (name == "left" || name == "right") {
        if (i < n && at(s, i) == 46) i++;
        continue;
      }
      if (in_list(name, SKIP_CMDS) || in_list(name, UNWRAP_CMDS)) continue;
      if (name == "pmod" || name == "bmod" || name == "mod") return false;
      Tok t(T_VAR);
      t.name = name;
      toks.push_back(t);
      i = attach_sub(s, i, n, toks.back(), bm);
      continue;
    }
    if (isalp(c)) {
      int64_t j = letters_end(s, i, n);
      B w = sub(s, i, j);
      B lw = lower_bytes(w);
      if (j - i >= 2) {
        if (lw == "and") {
          toks.push_back(Tok(T_SEP, 0));
          i = j;
          continue;
        }
        if (lw == "or") {
          toks.push_back(Tok(T_SEP, 1));
          i = j;
          continue;
        }
        int prev = toks.empty() ? -1 : toks.back().kind;
        if (in_list(lw, UNIT_WORDS) && (prev == T_NUM || prev == T_RP || prev == T_RC || prev == T_RB)) {
          i = j;
          if (i < n && at(s, i) == 94 && i + 1 < n && isdig(at(s, i + 1))) i += 2;
          continue;
        }
        if (in_list(lw, WORD_FUNCS)) {
          if (lw == "sqrt") {
            toks.push_back(Tok(T_SQRT));
          } else {
            Tok t(T_FUNC);
            t.name = lw;
            toks.push_back(t);
          }
          i = j;
          continue;
        }
        if (lw == "pi") {
          toks.push_back(Tok(T_PI));
          i = j;
          continue;
        }
        if (lw == "inf" || lw == "infinity" || lw == "oo") {
          toks.push_back(Tok(T_INF));
          i = j;
          continue;
        }
      }
      for (int64_t k = i; k < j; k++) {
        Tok t(T_VAR);
        t.name = sub(s, k, k + 1);
        toks.push_back(t);
      }
      i = j;
      if (!toks.empty()) i = attach_sub(s, i, n, toks.back(), bm);
      continue;
    }
    if (c == 94 && (starts(s, "^\\circ", i) || starts(s, "^{\\circ}", i))) {
      i += at(s, i + 1) == 92 ? 6 : 8;  // ^\circ / ^{\circ}: degrees, dropped
      continue;
    }
    const int op2 = i + 1 < n ? two_byte_op(c, at(s, i + 1)) : -1;
    if (op2 >= 0) {
      toks.push_back(Tok(T_OP, op2));
      i += 2;
      continue;
    }
    int kind, op;
    if (one_byte_token(c, &kind, &op))
      toks.push_back(Tok(kind, op));
    else if (c == 95) {
      B g;
      if (!read_group(s, i + 1, n, bm, &g, &i)) return false;
      continue;
    } else if (c == 39) {
      if (!toks.empty() && toks.back().kind == T_VAR) toks.back().name += "'";
    }
    i++;
  }
  if (toks.size() > MAX_TOKENS) return false;
  return true;
}

// ----------------------------------------------------------------------------- AST
enum {
  N_NUM, N_VAR, N_PI, N_E, N_INF, N_ADD, N_SUB, N_MUL, N_DIV, N_POW, N_NEG, N_FACT, N_FUNC, N_PM,
  N_ABS, N_APPLY, N_ROOT, N_BINOM, N_TUPLE, N_SET, N_SEQ, N_IVL, N_UNION, N_REL, N_EQ, N_TEXT,
  N_MAT, N_LOG
};

static inline bool is_container(int k) {
  return k == N_TUPLE || k == N_SET || k == N_SEQ || k == N_IVL || k == N_UNION || k == N_REL || k == N_EQ ||
         k == N_TEXT || k == N_MAT;
}

struct Node {
  int kind = 0;
  std::vector<int> kids;
  int op = 0;
  B name;
  Q q;
  int dec = -1;
  int sig = 0;
  bool lit = false;
  int depth = 1;
};

struct Tree {
  std::vector<Node> nodes;
  int add(int kind, std::vector<int> kids = {}, int op = 0) {
    Node nd;
    nd.kind = kind;
    nd.kids = std::move(kids);
    nd.op = op;
    nd.q.d = Big(1);
    int d = 0;
    for (int k : nd.kids)
      if (nodes[(size_t)k].depth > d) d = nodes[(size_t)k].depth;
    nd.depth = d + 1;
    nodes.push_back(std::move(nd));
    return (int)nodes.size() - 1;
  }
  Node& operator[](int i) { return nodes[(size_t)i]; }
};

static bool int_lit(Tree& T, int e) { return T[e].kind == N_NUM && T[e].lit && T[e].dec < 0; }

static bool name_like(Tree& T, int e) {
  int k = T[e].kind;
  if (k == N_VAR) return true;
  if (k == N_APPLY) return T[T[e].kids[0]].kind == N_VAR;
  if (k == N_MUL || k == N_DIV || k == N_TUPLE) {
    if (T[e].kids.empty()) return false;
    for (int x : T[e].kids)
      if (!name_like(T, x)) return false;
    return true;
  }
  if (k == N_ABS) return name_like(T, T[e].kids[0]);
  return false;
}

// Whether e or a node below it has a kind that `pred` accepts.
template <class Pred>
static bool any_below(Tree& T, int e, Pred pred) {
  std::vector<int> st{e};
  while (!st.empty()) {
    int x = st.back();
    st.pop_back();
    if (pred(T[x].kind)) return true;
    for (int y : T[x].kids) st.push_back(y);
  }
  return false;
}

static bool is_var_kind(int k) { return k == N_VAR || k == N_APPLY; }

// No variables and no containers below e (an arithmetic constant).
static bool is_const(Tree& T, int e) {
  return !any_below(T, e, [](int k) { return is_var_kind(k) || is_container(k); });
}

struct Parser {
  std::vector<Tok> t;
  size_t i = 0;
  int depth = 0;
  int nnodes = 0;
  int npm = 0;
  Tree* T;

  int node(int kind, std::vector<int> kids = {}, int op = 0) {
    nnodes++;
    if (nnodes > MAX_NODES) throw ParseError();
    int r = T->add(kind, std::move(kids), op);
    if ((*T)[r].depth > MAX_AST_DEPTH) throw ParseError();
    return r;
  }
  const Tok* peek() { return i < t.size() ? &t[i] : nullptr; }
  bool atk(int kind, int op = -1) {
    const Tok* tk = peek();
    return tk && tk->kind == kind && (op < 0 || tk->op == op);
  }
  void enter() {
    depth++;
    if (depth > MAX_DEPTH) throw ParseError();
  }
  void leave() { depth--; }

  int parse_answer() {
    std::vector<int> parts;
    parts.push_back(parse_list(false));
    while (atk(T_SEMI)) {
      i++;
      parts.push_back(parse_list(false));
    }
    if (i != t.size()) throw ParseError();
    std::vector<int> ps;
    for (int p : parts)
      if (p >= 0) ps.push_back(p);
    if (ps.empty()) throw ParseError();
    if (ps.size() == 1) return ps[0];
    std::vector<int> out;
    for (int p : ps) {
      bool alleq = (*T)[p].kind == N_SEQ;
      if (alleq)
        for (int k : (*T)[p].kids)
          if (!((*T)[k].kind == N_EQ && (*T)[k].op == 1)) alleq = false;
      if ((*T)[p].kind == N_SEQ && alleq) {
        std::vector<int> vals;
        for (int k : (*T)[p].kids) vals.push_back((*T)[k].kids[1]);
        out.push_back(node(N_TUPLE, vals));
      } else if ((*T)[p].kind == N_SEQ) {
        for (int k : (*T)[p].kids) out.push_back(k);
      } else {
        out.push_back(p);
      }
    }
    return node(N_SEQ, out);
  }

  int parse_list(bool semis_as_commas) {
    std::vector<int> items;
    while (true) {
      const Tok* tk = peek();
      if (!tk) break;
      if (tk->kind == T_COMMA || tk->kind == T_SEP || (semis_as_commas && tk->kind == T_SEMI)) {
        i++;
        continue;
      }
      int k = tk->kind;
      if (k == T_RP || k == T_RB || k == T_RC || k == T_RS || k == T_SEMI || k == T_MATE || k == T_AMP || k == T_ROW)
        break;
      items.push_back(parse_rel());
      if (items.size() > MAX_ELEMS * 4) throw ParseError();
    }
    if (items.empty()) return -1;
    if (items.size() == 1) return items[0];
    return node(N_SEQ, items);
  }

  int parse_rel() {
    std::vector<int> exprs{parse_union()};
    std::vector<int> ops;
    while (true) {
      const Tok* tk = peek();
      if (tk && tk->kind == T_OP &&
          (tk->op == O_EQ || tk->op == O_LT || tk->op == O_GT || tk->op == O_LE || tk->op == O_GE || tk->op == O_NE ||
           tk->op == O_APPROX || tk->op == O_IN)) {
        i++;
        ops.push_back(tk->op);
        exprs.push_back(parse_union());
        if (ops.size() > 16) throw ParseError();
      } else {
        break;
      }
    }
    return reduce_chain(exprs, ops);
  }

  int reduce_chain(const std::vector<int>& exprs, const std::vector<int>& ops) {
    if (ops.empty()) return exprs[0];
    size_t n = ops.size();
    bool alleq = true;
    for (int o : ops)
      if (!(o == O_EQ || o == O_APPROX)) alleq = false;
    if (alleq) {
      if (n == 1) {
        int a = exprs[0], b = exprs[1];
        if (name_like(*T, a)) {
          int e = node(N_EQ, {a, b});
          (*T)[e].op = 1;
          return e;
        }
        if (ops[0] == O_APPROX) return a;
        if (is_const(*T, a) && is_const(*T, b)) return b;
        return node(N_EQ, {a, b});
      }
      int k = -1;
      for (size_t q = 0; q < n; q++)
        if (ops[q] == O_APPROX) {
          k = (int)q;
          break;
        }
      if (k >= 1) return exprs[(size_t)k];
      return exprs[n];
    }
    if (n == 1 && ops[0] == O_IN) return exprs[1];
    if (n == 2 && name_like(*T, exprs[1])) {
      bool lt = (ops[0] == O_LT || ops[0] == O_LE) && (ops[1] == O_LT || ops[1] == O_LE);
      bool gt = (ops[0] == O_GT || ops[0] == O_GE) && (ops[1] == O_GT || ops[1] == O_GE);
      if (lt) {
        int iv = node(N_IVL, {exprs[0], exprs[2]});
        (*T)[iv].op = (ops[0] == O_LE ? 1 : 0) | (ops[1] == O_LE ? 2 : 0);
        return iv;
      }
      if (gt) {
        int iv = node(N_IVL, {exprs[2], exprs[0]});
        (*T)[iv].op = (ops[1] == O_GE ? 1 : 0) | (ops[0] == O_GE ? 2 : 0);
        return iv;
      }
    }
    if (n == 1 && (ops[0] == O_LT || ops[0] == O_GT || ops[0] == O_LE || ops[0] == O_GE || ops[0] == O_NE)) {
      int a = exprs[0], b = exprs[1], op = ops[0];
      if (op == O_LT) {
        std::swap(a, b);
        op = O_GT;
      } else if (op == O_LE) {
        std::swap(a, b);
        op = O_GE;
      }
      return node(N_REL, {a, b}, op);
    }
    throw ParseError();
  }

  int parse_union() {
    int a = parse_add();
    if (atk(T_OP, O_CUP)) {
      std::vector<int> parts{a};
      while (atk(T_OP, O_CUP)) {
        i++;
        parts.push_back(parse_add());
        if (parts.size() > MAX_ELEMS) throw ParseError();
      }
      return node(N_UNION, parts);
    }
    if (atk(T_OP, O_CAP)) throw ParseError();
    return a;
  }

  int pm_node(std::vector<int> kids, bool minus_first) {
    int e = node(N_PM, kids);
    (*T)[e].op = npm;
    (*T)[e].lit = minus_first;
    npm++;
    if (npm > MAX_PM) throw ParseError();
    return e;
  }

  int parse_add() {
    int a = parse_term();
    while (true) {
      const Tok* tk = peek();
      if (!tk || tk->kind != T_OP || !(tk->op == O_ADD || tk->op == O_SUB || tk->op == O_PM || tk->op == O_MP)) break;
      int op = tk->op;
      i++;
      int b = parse_term();
      if (op == O_ADD)
        a = node(N_ADD, {a, b});
      else if (op == O_SUB)
        a = node(N_SUB, {a, b});
      else
        a = pm_node({a, b}, op == O_MP);
    }
    return a;
  }

  bool starts_factor(const Tok* tk) {
    if (!tk) return false;
    int k = tk->kind;
    return k == T_NUM || k == T_VAR || k == T_PI || k == T_INF || k == T_FUNC || k == T_FRAC || k == T_SQRT ||
           k == T_BINOM || k == T_LP || k == T_LC || k == T_LS || k == T_MATB;
  }

  int parse_term() {
    int a = parse_unary();
    while (true) {
      const Tok* tk = peek();
      if (tk && tk->kind == T_OP && (tk->op == O_MUL || tk->op == O_DIV || tk->op == O_RATIO)) {
        int op = tk->op;
        i++;
        int b = parse_unary();
        a = node(op == O_MUL ? N_MUL : N_DIV, {a, b}, op == O_RATIO ? 1 : 0);
      } else if (starts_factor(tk)) {
        int tk_kind = tk->kind;
        if (tk_kind == T_FRAC && (*T)[a].kind == N_NUM && (*T)[a].lit && (*T)[a].dec < 0) {
          int b = parse_unary();
          if ((*T)[b].kind == N_DIV && int_lit(*T, (*T)[b].kids[0]) && int_lit(*T, (*T)[b].kids[1]))
            a = node(N_ADD, {a, b});
          else
            a = node(N_MUL, {a, b});
        } else if (tk_kind == T_LP && (*T)[a].kind == N_VAR) {
          int b = parse_unary();
          a = node(N_APPLY, {a, b});
        } else {
          int b = parse_unary();
          a = node(N_MUL, {a, b});
        }
      } else {
        break;
      }
    }
    return a;
  }

  int parse_unary() {
    const Tok* tk = peek();
    if (tk && tk->kind == T_OP && (tk->op == O_SUB || tk->op == O_ADD || tk->op == O_PM || tk->op == O_MP)) {
      int op = tk->op;
      i++;
      enter();
      int a = parse_unary();
      leave();
      if (op == O_SUB) return node(N_NEG, {a});
      if (op == O_ADD) return a;
      return pm_node({a}, op == O_MP);
    }
    return parse_power();
  }

  int parse_power() {
    int a = parse_postfix();
    if (atk(T_OP, O_POW)) {
      i++;
      enter();
      int b = parse_unary();
      leave();
      a = node(N_POW, {a, b});
      while (atk(T_OP, O_FACT)) {
        i++;
        a = node(N_FACT, {a});
      }
    }
    return a;
  }

  int parse_postfix() {
    int a = parse_primary();
    while (atk(T_OP, O_FACT)) {
      i++;
      a = node(N_FACT, {a});
    }
    return a;
  }

  int arg() {
    const Tok* tk = peek();
    if (!tk) throw ParseError();
    if (tk->kind == T_LC) {
      i++;
      int a = parse_list(false);
      if (!atk(T_RC) || a < 0) throw ParseError();
      i++;
      return a;
    }
    if (tk->kind == T_NUM && tk->raw.size() >= 2) {
      Tok first(T_NUM);
      first.q.n = Big((int64_t)(tk->raw[0] - 48));
      first.q.d = Big(1);
      first.lit = true;
      first.sig = (tk->raw[0] - 48) ? 1 : 0;
      first.dec = -1;
      Tok rest(T_NUM);
      rest.raw = tk->raw.substr(1);
      make_num(rest.raw, B(), &rest.q, &rest.dec, &rest.sig);
      rest.lit = true;
      t[i] = rest;
      t.insert(t.begin() + (long)i, first);
    }
    return parse_primary();
  }

  int parse_primary() {
    enter();
    const Tok* tkp = peek();
    if (!tkp) throw ParseError();
    Tok tk = *tkp;
    i++;
    int k = tk.kind;
    int r;
    if (k == T_NUM) {
      r = node(N_NUM);
      Node& nd = (*T)[r];
      nd.q = tk.q;
      nd.dec = tk.dec;
      nd.sig = tk.sig;
      nd.lit = tk.lit;
    } else if (k == T_VAR) {
      if (tk.name == "e") {
        r = node(N_E);
      } else {
        r = node(N_VAR);
        (*T)[r].name = tk.name;
      }
    } else if (k == T_PI) {
      r = node(N_PI);
    } else if (k == T_INF) {
      r = node(N_INF);
    } else if (k == T_TEXT) {
      r = node(N_TEXT);
      (*T)[r].name = tk.name;
    } else if (k == T_FRAC) {
      int a = arg();
      int b = arg();
      r = node(N_DIV, {a, b});
    } else if (k == T_BINOM) {
      int a = arg();
      int b = arg();
      r = node(N_BINOM, {a, b});
    } else if (k == T_SQRT) {
      int idx = -1;
      if (atk(T_LB)) {
        i++;
        idx = parse_add();
        if (!atk(T_RB)) throw ParseError();
        i++;
      }
      int a = arg();
      if (idx < 0)
        r = node(N_ROOT, {a});
      else
        r = node(N_ROOT, {a, idx});
    } else if (k == T_FUNC) {
      int power = -1;
      if (atk(T_OP, O_POW)) {
        i++;
        power = parse_unary();
      }
      int a;
      if (atk(T_LP))
        a = parse_primary();
      else
        a = parse_power();
      if (tk.name == "abs") {
        r = node(N_ABS, {a});
      } else {
        r = node(N_FUNC, {a});
        (*T)[r].name = tk.name;
      }
      if (power >= 0) r = node(N_POW, {r, power});
    } else if (k == T_LP || k == T_LB) {
      int inner = parse_list(true);
      const Tok* close = peek();
      if (!close || !(close->kind == T_RP || close->kind == T_RB) || inner < 0) throw ParseError();
      int ck = close->kind;
      i++;
      std::vector<int> items;
      if ((*T)[inner].kind == N_SEQ)
        items = (*T)[inner].kids;
      else
        items.push_back(inner);
      if (items.size() == 2 && (k == T_LB || ck == T_RB)) {
        r = node(N_IVL, {items[0], items[1]});
        (*T)[r].op = (k == T_LB ? 1 : 0) | (ck == T_RB ? 2 : 0);
      } else if (items.size() == 1) {
        r = inner;
      } else {
        r = node(N_TUPLE, items);
      }
    } else if (k == T_LC) {
      int inner = parse_list(false);
      if (!atk(T_RC) || inner < 0) throw ParseError();
      i++;
      r = inner;
    } else if (k == T_LS) {
      int inner = parse_list(false);
      if (!atk(T_RS)) throw ParseError();
      i++;
      std::vector<int> items;
      if (inner >= 0) {
        if ((*T)[inner].kind == N_SEQ)
          items = (*T)[inner].kids;
        else
          items.push_back(inner);
      }
      r = node(N_SET, items);
    } else if (k == T_BAR) {
      int inner = parse_add();
      if (!atk(T_BAR)) throw ParseError();
      i++;
      r = node(N_ABS, {inner});
    } else if (k == T_MATB) {
      std::vector<int> rows, row;
      while (true) {
        if (atk(T_MATE)) {
          i++;
          break;
        }
        if (!peek()) throw ParseError();
        if (atk(T_AMP)) {
          i++;
          continue;
        }
        if (atk(T_ROW)) {
          i++;
          if (!row.empty()) rows.push_back(node(N_TUPLE, row));
          row.clear();
          continue;
        }
        row.push_back(parse_add());
        if (row.size() > MAX_ELEMS) throw ParseError();
      }
      if (!row.empty()) rows.push_back(node(N_TUPLE, row));
      r = node(N_MAT, rows);
    } else {
      throw ParseError();
    }
    leave();
    return r;
  }
};

static int parse(Tree& T, const B& ans) {
  if (len(ans) > MAX_ANSWER) return -1;
  std::vector<Tok> toks;
  if (!tokenize(ans, &toks) || toks.empty()) return -1;
  Parser p;
  p.t = std::move(toks);
  p.T = &T;
  try {
    return p.parse_answer();
  } catch (ParseError&) {
    return -1;
  }
}

// ----------------------------------------------------------------------------- evaluation
struct Ctx {
  int64_t steps = 0;
  void step() {
    steps++;
    if (steps > MAX_STEPS) throw Abort();
  }
};

static bool qfix(Q* q) {
  if (q->d.neg) {
    q->n = negate(q->n);
    q->d = negate(q->d);
  }
  if (!bits_ok(q->n, q->d)) return false;
  reduce(q);
  return true;
}

static bool qadd(const Q& a, const Q& b, int sign, Q* r) {
  Big x = mul(b.n, a.d);
  if (sign < 0) x = negate(x);
  r->n = add(mul(a.n, b.d), x);
  r->d = mul(a.d, b.d);
  if (!bits_ok(r->n, r->d)) return false;
  reduce(r);
  return true;
}
static bool qmul(const Q& a, const Q& b, Q* r) {
  r->n = mul(a.n, b.n);
  r->d = mul(a.d, b.d);
  if (!bits_ok(r->n, r->d)) return false;
  reduce(r);
  return true;
}
static bool qdiv(const Q& a, const Q& b, Q* r) {
  if (b.n.is_zero()) return false;
  r->n = mul(a.n, b.d);
  r->d = mul(a.d, b.n);
  return qfix(r);
}

static Big bpow(const Big& a, int64_t e) {
  Big r(1), base = a;
  while (e > 0) {
    if (e & 1) r = mul(r, base);
    e >>= 1;
    if (e) base = mul(base, base);
  }
  return r;
}

static bool qpow(const Q& a, int64_t e, Q* r) {
  if (e == 0) {
    r->n = Big(1);
    r->d = Big(1);
    return true;
  }
  if (a.n.is_zero()) {
    if (e > 0) {
      r->n = Big();
      r->d = Big(1);
      return true;
    }
    return false;
  }
  int64_t ae = e < 0 ? -e : e;
  if (ae > MAX_EXP) {
    if (a.d.bit_length() == 1 && a.n.bit_length() == 1) {  // den == 1 and num == +-1
      r->n = (e % 2) ? a.n : Big(1);
      r->d = Big(1);
      return true;
    }
    return false;
  }
  int64_t nb = std::max(a.n.bit_length() - 1, a.d.bit_length() - 1);
  if (nb * ae > MAX_BITS) return false;
  Big n = bpow(a.n, ae), d = bpow(a.d, ae);
  if (e < 0) std::swap(n, d);
  r->n = n;
  r->d = d;
  return qfix(r);
}

static bool to_i64(const Q& q, int64_t* v) {  // q is an integer with |q| < 2**62
  if (!(q.d.bit_length() == 1)) return false;
  if (q.n.bit_length() > 62) return false;
  int64_t m = (int64_t)q.n.mag_u64();
  *v = q.n.neg ? -m : m;
  return true;
}

static bool eval_q(Tree& T, int e, int64_t mask, Ctx& ctx, Q* out) {
  ctx.step();
  int k = T[e].kind;
  if (k == N_NUM) {
    *out = T[e].q;
    return true;
  }
  if (k == N_NEG) {
    Q a;
    if (!eval_q(T, T[e].kids[0], mask, ctx, &a)) return false;
    out->n = negate(a.n);
    out->d = a.d;
    return true;
  }
  if (k == N_ADD || k == N_SUB || k == N_MUL || k == N_DIV) {
    Q a, b;
    if (!eval_q(T, T[e].kids[0], mask, ctx, &a)) return false;
    if (!eval_q(T, T[e].kids[1], mask, ctx, &b)) return false;
    if (k == N_ADD) return qadd(a, b, 1, out);
    if (k == N_SUB) return qadd(a, b, -1, out);
    if (k == N_MUL) return qmul(a, b, out);
    return qdiv(a, b, out);
  }
  if (k == N_PM) {
    bool ng = ((mask >> T[e].op) & 1) == 1;
    if (T[e].lit) ng = !ng;
    if (T[e].kids.size() == 1) {
      Q a;
      if (!eval_q(T, T[e].kids[0], mask, ctx, &a)) return false;
      out->n = ng ? negate(a.n) : a.n;
      out->d = a.d;
      return true;
    }
    Q a, b;
    if (!eval_q(T, T[e].kids[0], mask, ctx, &a)) return false;
    if (!eval_q(T, T[e].kids[1], mask, ctx, &b)) return false;
    return qadd(a, b, ng ? -1 : 1, out);
  }
  if (k == N_POW) {
    Q b;
    if (!eval_q(T, T[e].kids[1], mask, ctx, &b)) return false;
    if (!(b.d.bit_length() == 1)) return false;  // den must be 1
    Q a;
    if (!eval_q(T, T[e].kids[0], mask, ctx, &a)) return false;
    int64_t ev;
    if (b.n.bit_length() > 62) {
      // |e| > MAX_EXP certainly: qpow decides with a stand-in exponent of the same parity/sign
      int64_t par = (b.n.mag[0] & 1u) ? 1 : 0;
      ev = (MAX_EXP + 1 + (((MAX_EXP + 1) % 2) != par ? 1 : 0)) * (b.n.neg ? -1 : 1);
    } else {
      to_i64(b, &ev);
    }
    return qpow(a, ev, out);
  }
  if (k == N_FACT) {
    Q a;
    if (!eval_q(T, T[e].kids[0], mask, ctx, &a)) return false;
    int64_t v;
    if (!to_i64(a, &v) || v < 0 || v > MAX_FACT) return false;
    Big r(1);
    for (int64_t i = 2; i <= v; i++) {
      ctx.step();
      r.mul_small_add((uint32_t)i, 0);
      if (r.bit_length() > MAX_BITS) return false;
    }
    out->n = r;
    out->d = Big(1);
    return true;
  }
  if (k == N_ABS) {
    Q a;
    if (!eval_q(T, T[e].kids[0], mask, ctx, &a)) return false;
    out->n = a.n;
    out->n.neg = false;
    out->d = a.d;
    return true;
  }
  return false;
}

static double q_to_double(const Q& q) {
  bool ng = q.n.neg;
  int64_t en, ed;
  double mn = top64(q.n, &en);
  double md = top64(q.d, &ed);
  int64_t sh = en - ed;
  if (sh > 100000) sh = 100000;
  if (sh < -100000) sh = -100000;
  double r = std::ldexp(mn / md, (int)sh);
  return ng ? -r : r;
}

static uint64_t fnv(const B& name, int j) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (char ch : name) {
    h ^= (unsigned char)ch;
    h *= 0x100000001B3ull;
  }
  h ^= 35;
  h *= 0x100000001B3ull;
  h ^= (uint64_t)(48 + j);
  h *= 0x100000001B3ull;
  return h;
}

static double var_value(const B& name, int j) {
  uint64_t h = fnv(name, j);
  double u = (double)(h >> 11) * (1.0 / 9007199254740992.0);
  return 0.5 + 2.0 * u;
}

static inline bool fin(double x) { return x - x == 0.0; }

static double call_fn(const B& fn, double x) {
  double r;
  if (fn == "sin")
    r = std::sin(x);
  else if (fn == "cos")
    r = std::cos(x);
  else if (fn == "tan")
    r = std::tan(x);
  else if (fn == "sec") {
    double c = std::cos(x);
    if (c == 0.0) return NAN;
    r = 1.0 / c;
  } else if (fn == "csc") {
    double c = std::sin(x);
    if (c == 0.0) return NAN;
    r = 1.0 / c;
  } else if (fn == "cot") {
    double c = std::tan(x);
    if (c == 0.0) return NAN;
    r = 1.0 / c;
  } else if (fn == "arcsin")
    r = std::asin(x);
  else if (fn == "arccos")
    r = std::acos(x);
  else if (fn == "arctan")
    r = std::atan(x);
  else if (fn == "sinh")
    r = std::sinh(x);
  else if (fn == "cosh")
    r = std::cosh(x);
  else if (fn == "tanh")
    r = std::tanh(x);
  else if (fn == "ln" || fn == "log") {
    if (x <= 0.0) return NAN;
    r = std::log(x);
  } else if (fn == "exp")
    r = std::exp(x);
  else
    r = NAN;
  return fin(r) ? r : NAN;
}

static double pow_d(double a, double b) {
  // Python's math.pow raises (-> NaN) for 0**negative and negative**non-integer
  if (a == 0.0 && b < 0.0) return NAN;
  if (a < 0.0 && b != std::floor(b)) return NAN;
  double r = std::pow(a, b);
  return fin(r) ? r : NAN;
}

static double eval_d(Tree& T, int e, int j, int64_t mask, Ctx& ctx) {
  ctx.step();
  int k = T[e].kind;
  if (k == N_NUM) return q_to_double(T[e].q);
  if (k == N_VAR) return var_value(T[e].name, j);
  if (k == N_PI) return M_PI;
  if (k == N_E) return M_E;
  if (k == N_INF) return INFINITY;
  if (k == N_NEG) return -eval_d(T, T[e].kids[0], j, mask, ctx);
  if (k == N_ADD || k == N_SUB || k == N_MUL || k == N_DIV || k == N_APPLY) {
    double a = eval_d(T, T[e].kids[0], j, mask, ctx);
    double b = eval_d(T, T[e].kids[1], j, mask, ctx);
    double r;
    if (k == N_ADD)
      r = a + b;
    else if (k == N_SUB)
      r = a - b;
    else if (k == N_MUL || k == N_APPLY) {
      if ((a == 0.0 && !fin(b)) || (b == 0.0 && !fin(a))) return NAN;
      r = a * b;
    } else {
      if (b == 0.0) return NAN;
      r = a / b;
    }
    if (!fin(r) && fin(a) && fin(b)) return NAN;
    return r;
  }
  if (k == N_PM) {
    bool ng = ((mask >> T[e].op) & 1) == 1;
    if (T[e].lit) ng = !ng;
    double a = eval_d(T, T[e].kids[0], j, mask, ctx);
    if (T[e].kids.size() == 1) return ng ? -a : a;
    double b = eval_d(T, T[e].kids[1], j, mask, ctx);
    return ng ? a - b : a + b;
  }
  if (k == N_POW) {
    double a = eval_d(T, T[e].kids[0], j, mask, ctx);
    double b = eval_d(T, T[e].kids[1], j, mask, ctx);
    if (!(fin(a) && fin(b))) return NAN;
    return pow_d(a, b);
  }
  if (k == N_ROOT) {
    double a = eval_d(T, T[e].kids[0], j, mask, ctx);
    if (T[e].kids.size() == 1) {
      if (!fin(a) || a < 0.0) return NAN;
      return std::sqrt(a);
    }
    double m = eval_d(T, T[e].kids[1], j, mask, ctx);
    if (!(fin(a) && fin(m)) || m == 0.0) return NAN;
    if (a < 0.0) {
      int64_t mi = std::fabs(m) < 1e6 ? (int64_t)m : 0;
      if ((double)mi == m && (((mi % 2) + 2) % 2) == 1) return -pow_d(-a, 1.0 / m);
      return NAN;
    }
    return pow_d(a, 1.0 / m);
  }
  if (k == N_FACT) {
    double a = eval_d(T, T[e].kids[0], j, mask, ctx);
    if (!fin(a) || a < 0.0 || a > 170.0 || a != std::floor(a)) return NAN;
    double r = 1.0;
    int64_t top = (int64_t)a;
    for (int64_t i = 2; i <= top; i++) r *= (double)i;
    return r;
  }
  if (k == N_ABS) return std::fabs(eval_d(T, T[e].kids[0], j, mask, ctx));
  if (k == N_FUNC) {
    double a = eval_d(T, T[e].kids[0], j, mask, ctx);
    if (!fin(a)) return NAN;
    return call_fn(T[e].name, a);
  }
  if (k == N_BINOM) {
    double a = eval_d(T, T[e].kids[0], j, mask, ctx);
    double b = eval_d(T, T[e].kids[1], j, mask, ctx);
    if (!(fin(a) && fin(b)) || b != std::floor(b) || b < 0.0 || b > 1000.0) return NAN;
    double r = 1.0;
    int64_t top = (int64_t)b;
    for (int64_t i = 1; i <= top; i++) {
      ctx.step();
      r = r * (a - b + (double)i) / (double)i;
    }
    return fin(r) ? r : NAN;
  }
  return NAN;
}

// ----------------------------------------------------------------------------- comparison
static bool has_var(Tree& T, int e) { return any_below(T, e, is_var_kind); }

static std::vector<int> pm_ids(Tree& T, int e) {
  std::vector<int> ids;
  std::vector<int> st{e};
  while (!st.empty()) {
    int x = st.back();
    st.pop_back();
    if (T[x].kind == N_PM) ids.push_back(T[x].op);
    for (int y : T[x].kids) st.push_back(y);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

static int approx_lit(Tree& T, int e) {
  int x = T[e].kind == N_NEG ? T[e].kids[0] : e;
  if (T[x].kind == N_NUM && T[x].lit && T[x].dec >= 1 && (T[x].dec >= 2 || T[x].sig >= 3)) return T[x].dec;
  return -1;
}

static bool plain_lit(Tree& T, int e) {
  int x = T[e].kind == N_NEG ? T[e].kids[0] : e;
  return T[x].kind == N_NUM && T[x].lit;
}

static bool close_d(double a, double b) {
  if (a == b) return true;
  if (!(fin(a) && fin(b))) return false;
  return std::fabs(a - b) <= RTOL * std::max(std::fabs(a), std::fabs(b)) + ATOL;
}

static bool round_close(double lit_value, int dec, double x) {
  if (!(fin(lit_value) && fin(x))) return false;
  double tol = 0.5 * std::pow(10.0, (double)(-dec)) * (1.0 + 1e-9) + 1e-15 * std::max(1.0, std::fabs(x));
  return std::fabs(x - lit_value) <= tol;
}

static bool expr_eq(Tree& T, int a, int64_t ma, int b, int64_t mb, Ctx& ctx) {
  if (has_var(T, a) || has_var(T, b)) {
    int valid = 0;
    for (int j = 0; j < NPOINTS; j++) {
      double x = eval_d(T, a, j, ma, ctx);
      double y = eval_d(T, b, j, mb, ctx);
      bool xn = x != x, yn = y != y;
      if (xn && yn) continue;
      if (xn || yn) return false;
      if (!close_d(x, y)) return false;
      valid++;
    }
    return valid > 0;
  }
  int da = approx_lit(T, a), db = approx_lit(T, b);
  Q qa, qb;
  bool oka = eval_q(T, a, ma, ctx, &qa);
  bool okb = eval_q(T, b, mb, ctx, &qb);
  if (oka && okb && eq(mul(qa.n, qb.d), mul(qb.n, qa.d))) return true;
  if (da >= 0 && !plain_lit(T, b))
    return round_close(eval_d(T, a, 0, ma, ctx), da, eval_d(T, b, 0, mb, ctx));
  if (db >= 0 && !plain_lit(T, a))
    return round_close(eval_d(T, b, 0, mb, ctx), db, eval_d(T, a, 0, ma, ctx));
  if (oka && okb) return false;
  double x = eval_d(T, a, 0, ma, ctx);
  double y = eval_d(T, b, 0, mb, ctx);
  if (x != x || y != y) return false;
  return close_d(x, y);
}

// No containers below e (an arithmetic expression).
static bool arith(Tree& T, int e) { return !any_below(T, e, is_container); }

static bool rel_eq(Tree& T, int a, int b, bool positive, Ctx& ctx) {
  for (int x : {a, b})
    for (int k : T[x].kids)
      if (!arith(T, k)) return false;
  bool have = false;
  double ratio = 0.0;
  for (int j = 0; j < NPOINTS; j++) {
    double fa = eval_d(T, T[a].kids[0], j, 0, ctx);
    fa = fa - eval_d(T, T[a].kids[1], j, 0, ctx);
    double fb = eval_d(T, T[b].kids[0], j, 0, ctx);
    fb = fb - eval_d(T, T[b].kids[1], j, 0, ctx);
    if (fa != fa || fb != fb) {
      if ((fa != fa) != (fb != fb)) return false;
      continue;
    }
    bool za = std::fabs(fa) <= 1e-10, zb = std::fabs(fb) <= 1e-10;
    if (za && zb) continue;
    if (za || zb) return false;
    double r = fa / fb;
    if (!have) {
      have = true;
      ratio = r;
      if (positive && r <= 0.0) return false;
    } else if (!close_d(r, ratio)) {
      return false;
    }
  }
  return true;
}

typedef std::pair<int, int64_t> Elem;

static void elements(Tree& T, int e, std::vector<Elem>& out, Ctx& ctx) {
  std::vector<int> kids = T[e].kids;
  for (int k : kids) {
    ctx.step();
    if (out.size() > MAX_ELEMS) throw Abort();
    if (arith(T, k)) {
      std::vector<int> ids = pm_ids(T, k);
      if (!ids.empty()) {
        for (int64_t m = 0; m < ((int64_t)1 << ids.size()); m++) {
          int64_t mask = FIXED;
          for (size_t bi = 0; bi < ids.size(); bi++)
            if ((m >> bi) & 1) mask |= (int64_t)1 << ids[bi];
          out.push_back({k, mask});
        }
        continue;
      }
    }
    out.push_back({k, FIXED});
  }
}

static std::vector<Elem> expand(Tree& T, int e, int64_t m, Ctx& ctx) {
  if (m & FIXED) return {Elem(e, m)};
  std::vector<Elem> out;
  int h = T.add(N_SEQ, {e});
  elements(T, h, out, ctx);
  return out;
}

static bool node_eq(Tree& T, int a, int64_t ma, int b, int64_t mb, Ctx& ctx);

// Every element of xs equals some element of ys (node_eq(x, y) in that argument order).
static bool covered(Tree& T, const std::vector<Elem>& xs, const std::vector<Elem>& ys, bool outer_is_x, Ctx& ctx) {
  const auto& outer = outer_is_x ? xs : ys;
  const auto& inner = outer_is_x ? ys : xs;
  for (auto& o : outer) {
    bool hit = false;
    for (auto& i : inner) {
      const Elem& x = outer_is_x ? o : i;
      const Elem& y = outer_is_x ? i : o;
      if (node_eq(T, x.first, x.second, y.first, y.second, ctx)) {
        hit = true;
        break;
      }
    }
    if (!hit) return false;
  }
  return true;
}

// Set equality: every element of each side equals some element of the other side.
static bool unordered_eq(Tree& T, const std::vector<Elem>& xs, const std::vector<Elem>& ys, Ctx& ctx) {
  if (xs.empty() || ys.empty()) return xs.empty() && ys.empty();
  return covered(T, xs, ys, true, ctx) && covered(T, xs, ys, false, ctx);
}

static std::vector<Elem> as_elems(Tree& T, int e, Ctx& ctx) {
  std::vector<Elem> out;
  if (T[e].kind == N_SET || T[e].kind == N_SEQ) {
    elements(T, e, out, ctx);
  } else {
    int h = T.add(N_SEQ, {e});
    elements(T, h, out, ctx);
  }
  return out;
}

static int rel_to_interval(Tree& T, int e) {
  int a = T[e].kids[0], b = T[e].kids[1], op = T[e].op;
  if (op != O_GT && op != O_GE) return -1;
  bool closed = op == O_GE;
  if (name_like(T, a) && is_const(T, b)) {
    int inf = T.add(N_INF);
    int iv = T.add(N_IVL, {b, inf});
    T[iv].op = closed ? 1 : 0;
    return iv;
  }
  if (name_like(T, b) && is_const(T, a)) {
    int inf = T.add(N_INF);
    int ninf = T.add(N_NEG, {inf});
    int iv = T.add(N_IVL, {ninf, a});
    T[iv].op = closed ? 2 : 0;
    return iv;
  }
  return -1;
}

static B text_of_node(Tree& T, int e) {
  B out;
  std::vector<int> st{e};
  while (!st.empty()) {
    int x = st.back();
    st.pop_back();
    out.push_back((char)(T[x].kind + 65));
    out += T[x].name;
    for (size_t q = T[x].kids.size(); q-- > 0;) st.push_back(T[x].kids[q]);
  }
  return out;
}

typedef std::vector<std::vector<int>> Cells;  // rows of node ids

// The cells of a matrix expression: a matrix, -M, M + N, M - N, c M, M c and M N for compatible
// shapes of at most MAX_MAT_CELLS cells, the cells left as expressions (new nodes in T); false when
// e is not one (or a matrix is ragged).
static bool mat_value(Tree& T, int e, int depth, Cells* out) {
  const int k = T[e].kind;
  if (k == N_MAT) {
    Cells rows;
    for (int r : T[e].kids) rows.push_back(T[r].kids);
    if (rows.empty() || rows[0].empty() || rows.size() * rows[0].size() > MAX_MAT_CELLS) return false;
    for (const auto& r : rows)
      if (r.size() != rows[0].size()) return false;
    *out = std::move(rows);
    return true;
  }
  if (depth >= 8 || !(k == N_NEG || k == N_ADD || k == N_SUB || (k == N_MUL && T[e].op == 0))) return false;
  const std::vector<int> kids = T[e].kids;  // a copy: T.add may move the nodes
  Cells x, y;
  const bool hx = mat_value(T, kids[0], depth + 1, &x);
  if (k == N_NEG) {
    if (!hx) return false;
    for (auto& r : x)
      for (int& c : r) c = T.add(N_NEG, {c});
    *out = std::move(x);
    return true;
  }
  const bool hy = mat_value(T, kids[1], depth + 1, &y);
  if (k == N_ADD || k == N_SUB) {
    if (!hx || !hy || x.size() != y.size() || x[0].size() != y[0].size()) return false;
    for (size_t i = 0; i < x.size(); i++)
      for (size_t j = 0; j < x[0].size(); j++) x[i][j] = T.add(k, {x[i][j], y[i][j]});
    *out = std::move(x);
    return true;
  }
  if (hx && hy) {  // M N
    if (x[0].size() != y.size() || x.size() * y[0].size() > MAX_MAT_CELLS) return false;
    Cells r(x.size(), std::vector<int>(y[0].size()));
    for (size_t i = 0; i < x.size(); i++)
      for (size_t j = 0; j < y[0].size(); j++) {
        int cell = T.add(N_MUL, {x[i][0], y[0][j]});
        for (size_t t = 1; t < y.size(); t++) {
          const int prod = T.add(N_MUL, {x[i][t], y[t][j]});
          cell = T.add(N_ADD, {cell, prod});
        }
        r[i][j] = cell;
      }
    *out = std::move(r);
    return true;
  }
  if (hx && arith(T, kids[1])) {  // M c
    for (auto& r : x)
      for (int& c : r) c = T.add(N_MUL, {c, kids[1]});
    *out = std::move(x);
    return true;
  }
  if (hy && arith(T, kids[0])) {  // c M
    for (auto& r : y)
      for (int& c : r) c = T.add(N_MUL, {kids[0], c});
    *out = std::move(y);
    return true;
  }
  return false;
}

static bool node_eq(Tree& T, int a, int64_t ma, int b, int64_t mb, Ctx& ctx) {
  ctx.step();
  int ka = T[a].kind, kb = T[b].kind;
  if (ka == N_EQ && kb == N_EQ) {
    if (T[a].op == 1 && T[b].op == 1 && text_of_node(T, T[a].kids[0]) == text_of_node(T, T[b].kids[0]))
      return node_eq(T, T[a].kids[1], ma, T[b].kids[1], mb, ctx);
    if (arith(T, T[a].kids[0]) && arith(T, T[a].kids[1]) && arith(T, T[b].kids[0]) && arith(T, T[b].kids[1]))
      return rel_eq(T, a, b, false, ctx);
    if (T[a].op == 1 && T[b].op == 1) return node_eq(T, T[a].kids[1], ma, T[b].kids[1], mb, ctx);
    return false;
  }
  if (ka == N_EQ && T[a].op == 1) return node_eq(T, T[a].kids[1], ma, b, mb, ctx);
  if (kb == N_EQ && T[b].op == 1) return node_eq(T, a, ma, T[b].kids[1], mb, ctx);
  if (ka == N_SEQ && T[a].kids.size() == 1) return node_eq(T, T[a].kids[0], ma, b, mb, ctx);
  if (kb == N_SEQ && T[b].kids.size() == 1) return node_eq(T, a, ma, T[b].kids[0], mb, ctx);
  if (ka == N_TEXT || kb == N_TEXT) return ka == kb && T[a].name == T[b].name;
  if (ka == N_REL && kb == N_REL) return T[a].op == T[b].op && rel_eq(T, a, b, T[a].op != O_NE, ctx);
  if (ka == N_REL && (kb == N_IVL || kb == N_UNION || kb == N_TUPLE)) {
    int iv = rel_to_interval(T, a);
    return iv >= 0 && node_eq(T, iv, 0, b, mb, ctx);
  }
  if (kb == N_REL && (ka == N_IVL || ka == N_UNION || ka == N_TUPLE)) {
    int iv = rel_to_interval(T, b);
    return iv >= 0 && node_eq(T, a, ma, iv, 0, ctx);
  }
  if (ka == N_EQ || kb == N_EQ || ka == N_REL || kb == N_REL) return false;
  if (ka == N_IVL && kb == N_IVL)
    return T[a].op == T[b].op && node_eq(T, T[a].kids[0], ma, T[b].kids[0], mb, ctx) &&
           node_eq(T, T[a].kids[1], ma, T[b].kids[1], mb, ctx);
  if ((ka == N_IVL && kb == N_TUPLE) || (ka == N_TUPLE && kb == N_IVL)) {
    int iv = ka == N_IVL ? a : b, tp = ka == N_IVL ? b : a;
    if (T[iv].op != 0 || T[tp].kids.size() != 2) return false;
    return node_eq(T, T[a].kids[0], ma, T[b].kids[0], mb, ctx) && node_eq(T, T[a].kids[1], ma, T[b].kids[1], mb, ctx);
  }
  if (ka == N_MAT && kb == N_MAT) {  // row by row (ragged rows too)
    if (T[a].kids.size() != T[b].kids.size()) return false;
    for (size_t q = 0; q < T[a].kids.size(); q++) {
      int ra = T[a].kids[q], rb = T[b].kids[q];
      if (T[ra].kids.size() != T[rb].kids.size()) return false;
      for (size_t w = 0; w < T[ra].kids.size(); w++)
        if (!node_eq(T, T[ra].kids[w], ma, T[rb].kids[w], mb, ctx)) return false;
    }
    return true;
  }
  if (ka == N_MAT || kb == N_MAT) {  // a matrix against matrix arithmetic: cell by cell
    Cells x, y;
    if (!mat_value(T, a, 0, &x) || !mat_value(T, b, 0, &y) || x.size() != y.size() || x[0].size() != y[0].size())
      return false;
    for (size_t q = 0; q < x.size(); q++)
      for (size_t w = 0; w < x[0].size(); w++)
        if (!node_eq(T, x[q][w], ma, y[q][w], mb, ctx)) return false;
    return true;
  }
  if ((ka == N_TUPLE && (kb == N_TUPLE || kb == N_SEQ)) || (kb == N_TUPLE && ka == N_SEQ)) {
    if (T[a].kids.size() != T[b].kids.size() || T[a].kids.size() > MAX_ELEMS) return false;
    for (size_t q = 0; q < T[a].kids.size(); q++)
      if (!node_eq(T, T[a].kids[q], ma, T[b].kids[q], mb, ctx)) return false;
    return true;
  }
  if (ka == N_UNION && kb == N_UNION) {
    std::vector<Elem> xs, ys;
    for (int x : T[a].kids) xs.push_back({x, ma});
    for (int y : T[b].kids) ys.push_back({y, mb});
    return unordered_eq(T, xs, ys, ctx);
  }
  if (ka == N_SET || ka == N_SEQ || kb == N_SET || kb == N_SEQ) {
    auto structural = [](int k) { return k == N_TUPLE || k == N_IVL || k == N_UNION || k == N_MAT; };
    if (structural(ka) || structural(kb)) return false;
    std::vector<Elem> xs = as_elems(T, a, ctx);
    std::vector<Elem> ys = as_elems(T, b, ctx);
    return unordered_eq(T, xs, ys, ctx);
  }
  if (is_container(ka) || is_container(kb)) return false;
  if ((!(ma & FIXED) && !pm_ids(T, a).empty()) || (!(mb & FIXED) && !pm_ids(T, b).empty())) {
    std::vector<Elem> xs = expand(T, a, ma, ctx);
    std::vector<Elem> ys = expand(T, b, mb, ctx);
    return unordered_eq(T, xs, ys, ctx);
  }
  return expr_eq(T, a, ma, b, mb, ctx);
}

static B norm_text(const B& s) {
  B out;
  int64_t n = len(s), i = 0;
  while (i < n) {
    int c = at(s, i);
    if (c == 92) {
      int64_t j = letters_end(s, i + 1, n);
      B name = sub(s, i + 1, j);
      if (j == i + 1) {
        bool skipnext = j < n && !isalp(at(s, j)) &&
                        (at(s, j) == 44 || at(s, j) == 33 || at(s, j) == 59 || at(s, j) == 58 || at(s, j) == 32);
        i = skipnext ? j + 1 : j;
        if (i == j) out.push_back('\\');
        continue;
      }
      if (in_list(name, TEXT_CMDS) || in_list(name, UNWRAP_CMDS) || name == "left" || name == "right" ||
          name == "displaystyle") {
        i = j;
        continue;
      }
      out += sub(s, i, j);
      i = j;
      continue;
    }
    if (issp(c) || c == 123 || c == 125 || c == 36) {
      i++;
      continue;
    }
    out.push_back((char)lowr(c));
    i++;
  }
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

static B squeeze(const B& s) {
  B out;
  for (char ch : s) {
    int c = (unsigned char)ch;
    if (!(issp(c) || c == 36)) out.push_back(ch);
  }
  return out;
}

// ----------------------------------------------------------------------------- verify
// The answer (without spaces) of prepared text t and its extraction; false when nothing
// non-empty is found.
static bool answer_of(const B& t, bool is_gold, Extracted* X, B* answer) {
  if (!extract_from(t, is_gold, X)) return false;
  *answer = strip_ws(X->ans);
  return !answer->empty();
}

bool gold_answer(const std::string& gold, std::string* out) {
  try {
    B t = normalize_text(gold.size() > (size_t)MAX_SCAN ? gold.substr(0, (size_t)MAX_SCAN) : gold);
    Extracted X;
    return answer_of(t, true, &X, out);
  } catch (...) {
    return false;
  }
}

bool extract(const std::string& resp, std::string* out) {
  try {
    B t;
    Extracted X;
    return prepare_response(resp, &t) && answer_of(t, false, &X, out);
  } catch (...) {
    return false;
  }
}

static bool verify_impl(const std::string& resp, const std::string& gold) {
  B g;
  if (!gold_answer(gold, &g)) return false;
  B t, p;
  Extracted X;
  if (!prepare_response(resp, &t) || !answer_of(t, false, &X, &p)) return false;
  uint32_t gm;
  bool gh;
  if (mc_letters(g, true, &gm, &gh)) {
    uint32_t pmk;
    bool ph;
    if (!mc_letters(p, false, &pmk, &ph) || ph) return false;
    int64_t lim = std::min(X.first_in_group, (int64_t)X.boxes.size());
    for (int64_t bi = 0; bi < lim; bi++) {
      const Span& bx = X.boxes[(size_t)bi];
      uint32_t m;
      bool h;
      if (mc_letters(sub(t, bx.cs, bx.ce), false, &m, &h) && m != pmk) return false;
    }
    return pmk == gm;
  }
  if (squeeze(p) == squeeze(g)) return true;
  if (len(p) > MAX_ANSWER || len(g) > MAX_ANSWER) return false;
  Tree T;
  T.nodes.reserve(512);
  int ga = parse(T, g);
  int pa = parse(T, p);
  if (ga < 0 || pa < 0) return norm_text(p) == norm_text(g);
  Ctx ctx;
  try {
    if (node_eq(T, ga, 0, pa, 0, ctx)) return true;
  } catch (Abort&) {
    return false;
  }
  if (T[ga].kind == N_TEXT || T[pa].kind == N_TEXT) return norm_text(p) == norm_text(g);
  return false;
}

bool verify(const std::string& resp, const std::string& gold) {
  try {
    return verify_impl(resp, gold);
  } catch (...) {
    return false;
  }
}

}  // namespace rlv
