// Scanning the text: matched braces, \boxed{} spans, math regions, connectors between answers,
// plain-text numbers and sentence ends. Twin of rlev_fast/verifier/scan.py. Every scan is linear in
// the text (a thousand unbalanced \boxed{ or unclosed \( cost one pass).
#include "scan.h"

#include <algorithm>
#include <utility>

#include "caps.h"
#include "tables.h"

namespace rlv {

std::vector<int64_t> brace_map(const B& t) {
  std::vector<int64_t> res(t.size(), -1);
  std::vector<int64_t> stack;
  int64_t n = len(t), i = 0;
  while (i < n) {
    int c = at(t, i);
    if (c == '\\') {
      i += 2;
      continue;
    }
    if (c == '{') {
      stack.push_back(i);
    } else if (c == '}') {
      if (!stack.empty()) {
        res[(size_t)stack.back()] = i;
        stack.pop_back();
      }
    }
    i++;
  }
  return res;
}

std::vector<Span> find_boxes(const B& t) {
  std::vector<int64_t> bm;
  bool have_bm = false;
  std::vector<Span> res;
  int64_t n = len(t);
  int64_t i = 0;
  while (i < n) {
    int64_t j = findp(t, "\\", i);
    if (j < 0) break;
    int64_t k = -1;
    for (int c = 0; BOX_COMMANDS[c]; c++)
      if (starts(t, BOX_COMMANDS[c], j)) {
        k = j + (int64_t)std::strlen(BOX_COMMANDS[c]);
        break;
      }
    if (k < 0) {
      i = j + 1;
      continue;
    }
    while (k < n && at(t, k) == ' ') k++;
    if (k < n && at(t, k) == '{') {
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

std::vector<Span> find_regions(const B& t) {
  std::vector<Span> res;
  int64_t n = len(t);
  int64_t i = 0;
  int64_t c_dd = -2, c_par = -2, c_brk = -2, c_nl = -2;
  while (i < n) {
    int c = at(t, i);
    if (c != '$' && c != '\\') {
      i++;
      continue;
    }
    if (c == '$' && (i == 0 || at(t, i - 1) != '\\')) {
      if (i + 1 < n && at(t, i + 1) == '$') {
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
        if (d == '\n') break;
        if (d == '$' && at(t, j - 1) != '\\') {
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
    if (c == '\\' && i + 1 < n && (at(t, i + 1) == '(' || at(t, i + 1) == '[')) {
      int64_t e;
      bool bad;
      if (at(t, i + 1) == '(') {
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

int gap_kind(const B& t, int64_t a, int64_t b) {
  if (b - a > MAX_GAP) return 0;
  B words;
  int64_t i = a;
  while (i < b) {
    int c = at(t, i);
    if (c == '\\') {
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
    if (c < 0x80 && !isalp(c) && !isdig(c)) {  // punctuation and symbols: "$1$, $2$", "\boxed{35} ++ \boxed{4}"
      words.push_back(' ');
      i++;
      continue;
    }
    words.push_back((char)lowr(c));
    i++;
  }
  std::vector<B> ws = split_ws(words);
  if (ws.empty()) return 1;
  bool has_and = false, has_or = false, other = false;
  for (auto& w : ws) {
    if (in_list(w, AND_WORDS))
      has_and = true;
    else if (in_list(w, OR_WORDS))
      has_or = true;
    else
      other = true;
  }
  if (has_or) return other ? 0 : 2;  // "or possibly" is a hedge between two answers, not a list
  if (has_and && b - a <= MAX_AND_GAP) return 1;
  return 0;
}

B join_parts(const std::vector<B>& parts, bool has_or) {
  B r;
  for (size_t i = 0; i < parts.size(); i++) {
    if (i) r += has_or ? " or " : ", ";
    r += parts[i];
  }
  return r;
}

int64_t sentence_end(const B& t, int64_t p, int64_t lim) {
  int64_t n = std::min(len(t), p + lim);
  int64_t i = p;
  while (i < n) {
    int c = at(t, i);
    if (c == '\n') return i;
    if (c == '<' && i + 1 < n && at(t, i + 1) == '|') return i;
    if ((c == '.' || c == '!' || c == '?') && (i + 1 >= len(t) || issp(at(t, i + 1)))) return i;
    i++;
  }
  return n;
}

// (start, end) of the digits after an optional sign at t[j] (start == end: none)
static std::pair<int64_t, int64_t> signed_digits(const B& t, int64_t j, int64_t n) {
  if (j < n && (at(t, j) == '+' || at(t, j) == '-')) j++;
  int64_t k = j;
  while (j < n && isdig(at(t, j))) j++;
  return {k, j};
}

static int64_t power_end(const B& t, int64_t i, int64_t n) {
  if (i + 1 < n && at(t, i) == '^') {
    if (isdig(at(t, i + 1))) return signed_digits(t, i + 1, n).second;
    if (at(t, i + 1) == '{') {
      auto d = signed_digits(t, i + 2, n);
      if (d.second > d.first && d.second < n && at(t, d.second) == '}') return d.second + 1;
    }
  }
  return i;
}

static const char* const TIMES[] = {"\\times", "\\cdot", "*", nullptr};

// End of the exponent part after a number at t[i]: e3 / E-5 (no letter after), a power, or
// "\times 10^{k}" / "\cdot 10^k" / "*10^k"; i when there is none.
static int64_t exponent_end(const B& t, int64_t i, int64_t n) {
  if (i + 1 < n && (at(t, i) == 'e' || at(t, i) == 'E')) {
    auto d = signed_digits(t, i + 1, n);
    return (d.second > d.first && !(d.second < n && isalp(at(t, d.second)))) ? d.second : i;
  }
  int64_t e = power_end(t, i, n);
  if (e > i) return e;
  const int64_t j = skip_spaces(t, i, n);
  for (int o = 0; TIMES[o]; o++) {
    if (!starts(t, TIMES[o], j)) continue;
    const int64_t k = skip_spaces(t, j + (int64_t)std::strlen(TIMES[o]), n);
    if (starts(t, "10", k)) {
      e = power_end(t, k + 2, n);
      if (e > k + 2) return e;
    }
  }
  return i;
}

// returns end or -1; out gets the normalized number
int64_t scan_number(const B& t, int64_t p, int64_t n, B* outp) {
  int64_t i = p;
  B out;
  if (i < n && at(t, i) == '-') {
    out.push_back('-');
    i++;
  }
  if (i < n && at(t, i) == '.' && i + 1 < n && isdig(at(t, i + 1))) {
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
  while (first >= 1 && first <= 3 && i < n && at(t, g0) != '0') {
    int sep = 0;
    if (at(t, i) == ',' || at(t, i) == ' ')
      sep = 1;
    else if (starts(t, "{,}", i))
      sep = 3;
    if (sep == 0 || i + sep + 3 > n) break;
    int64_t q = i + sep;
    if (!(isdig(at(t, q)) && isdig(at(t, q + 1)) && isdig(at(t, q + 2)))) break;
    if (q + 3 < n && isdig(at(t, q + 3))) break;
    if (at(t, i) == ' ' && !thousands && at(t, g0) == '0') break;
    out += sub(t, q, q + 3);
    i = q + 3;
    thousands = true;
  }
  bool decimal = false;
  if (i + 1 < n && at(t, i) == '.' && isdig(at(t, i + 1))) {
    out.push_back('.');
    i++;
    while (i < n && isdig(at(t, i))) {
      out.push_back((char)at(t, i));
      i++;
    }
    decimal = true;
  } else if (!thousands && i + 1 < n && at(t, i) == ',' && isdig(at(t, i + 1))) {
    int64_t q = i + 1;
    while (q < n && isdig(at(t, q))) q++;
    int64_t nd = q - (i + 1);
    if ((nd <= 2 || (first == 1 && at(t, g0) == '0')) && !(q < n && at(t, q) == ',' && q + 1 < n && isdig(at(t, q + 1)))) {
      out.push_back('.');
      out += sub(t, i + 1, q);
      i = q;
      decimal = true;
    }
  }
  if (!decimal && i + 1 < n && at(t, i) == '/' && isdig(at(t, i + 1))) {
    out.push_back('/');
    i++;
    while (i < n && isdig(at(t, i))) {
      out.push_back((char)at(t, i));
      i++;
    }
  } else {
    int64_t e = exponent_end(t, i, n);  // 1.2e3, 10^6, 10^{-3}, 1.5 \times 10^{3}
    if (e > i) {
      out += sub(t, i, e);
      i = e;
    }
  }
  if (out.size() > MAX_DIGITS) return -1;
  *outp = out;
  return i;
}

bool last_number(const B& t, int64_t a, int64_t b, NumHit* best) {
  bool found = false;
  int64_t i = a;
  while (i < b) {
    int c = at(t, i);
    if (isdig(c) || ((c == '-' || c == '.') && i + 1 < b && isdig(at(t, i + 1)))) {
      int prev = i > 0 ? at(t, i - 1) : ' ';
      if (isalp(prev) || isdig(prev) || prev == '_' || prev == '.' || prev == '\\' || prev == '^') {
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
B group_back(const B& t, const std::vector<Span>& boxes, int64_t k, int64_t* jout) {
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
  return join_parts(parts, has_or);
}

B region_group_fwd(const B& t, const std::vector<Span>& regions, int64_t k, int64_t lim, int64_t* jout) {
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
  *jout = j;
  return join_parts(parts, has_or);
}

}  // namespace rlv
