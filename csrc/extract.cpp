// Extraction: the final answer a text commits to. Twin of rlev_fast/verifier/extract.py (read its
// docstring for the order in which anchors are tried).
#include "extract.h"

#include <algorithm>
#include <cstring>

#include "caps.h"
#include "tables.h"
#include "verify.h"

namespace rlv {

static const char* const THINK_START = "<think>";
static const char* const THINK_END = "</think>";
static const char* const TRIM_TAIL = ".,;:!? *([";  // final punctuation, markdown, a bracket left open by a cut

void trim(const B& t, int64_t* pa, int64_t* pb) {
  int64_t a = *pa, b = *pb;
  while (a < b && issp(at(t, a))) a++;
  while (true) {
    while (b > a && in_chars(at(t, b - 1), TRIM_TAIL)) b--;
    int64_t w = b;
    while (w > a && islwr(at(t, w - 1))) w--;
    if (w < b && in_list(sub(t, w, b), PROSE_JOINERS) && (w == a || !isalp(at(t, w - 1)))) {
      b = w;
      continue;
    }
    if (b > a && issp(at(t, b - 1))) {
      b--;
      continue;
    }
    break;
  }
  *pa = a;
  *pb = b;
}

B strip_answer(const B& s) {
  int64_t a = 0, b = len(s);
  trim(s, &a, &b);
  return sub(s, a, b);
}

static int64_t regions_index(const std::vector<Span>& regions, int64_t p) {
  for (size_t k = 0; k < regions.size(); k++) {
    if (regions[k].s == p) return (int64_t)k;
    if (regions[k].s > p) break;
  }
  return -1;
}

// t[p, end) starts like a formula: a digit or symbol, a run of capitals ("B", "ACD"), or one lower-case
// letter that an operator or the end follows ("x = 3", "b)", "b."), not a word ("a prime")
static bool mathish_start(const B& t, int64_t p, int64_t end) {
  if (p >= end) return false;
  int c = at(t, p);
  if (isdig(c) || in_chars(c, "-+.([\\{|")) return true;
  if (isupr(c)) {
    int64_t j = p;
    while (j < end && isupr(at(t, j))) j++;
    if (j - p <= (int64_t)MAX_CHOICE_LETTERS && (j == end || !isalp(at(t, j)))) return true;
  }
  if (islwr(c) && (p + 1 == end || !isalp(at(t, p + 1)))) {
    int64_t j = p + 1;
    while (j < end && at(t, j) == ' ') j++;
    return j == end || in_chars(at(t, j), "=<>^_(),.;:+-*/!'");
  }
  return false;
}

// The first position in t[a, b) where prose begins, or b (see prose_start in extract.py).
static int64_t prose_start(const B& t, int64_t a, int64_t b) {
  int depth = 0;
  int64_t i = a;
  while (i < b) {
    int c = at(t, i);
    if (c == '{') {
      depth++;
    } else if (c == '}') {
      if (depth > 0) depth--;
    } else if (c == '\\') {
      i = (i + 1 < b && isalp(at(t, i + 1))) ? letters_end(t, i + 1, b) : i + 2;
      continue;
    } else if (c == ',' && i + 1 < b && at(t, i + 1) == ' ') {
      int64_t j = i + 2, k = j;
      while (k < b && islwr(at(t, k))) k++;
      if (k - j >= 3 && !in_list(sub(t, j, k), PROSE_CONTINUERS)) return i;
    } else if (depth == 0 && islwr(c) && (i == a || !isalp(at(t, i - 1)))) {
      int64_t j = letters_end(t, i, b);
      if (j - i >= 2 && !in_list(sub(t, i, j), MATH_WORDS)) return i;
      i = j;
      continue;
    } else if (c >= 0x80 && depth == 0) {
      int n;
      unsigned cp = decode_at(t, i, &n);
      if (is_cjk(cp) || is_word_char(cp)) return i;
      i += n;
      continue;
    }
    i++;
  }
  return b;
}

// The last w in t[p, end) that is not inside a math region ("x = 1 + 1 = 2" is one formula); the
// search stays inside [p, end) (std::string::rfind would scan back to the start of the text).
static int64_t rfind_outside(const B& t, const char* w, int64_t p, int64_t end, const std::vector<Span>& regions) {
  const int64_t L = (int64_t)std::strlen(w);
  int64_t q = end - L;  // candidates end by `end`; after one inside a region, by its start (as Python's rfind)
  while (q >= p) {
    if (at(t, q) != (unsigned char)w[0] || std::memcmp(t.data() + q, w, (size_t)L) != 0) {
      q--;
      continue;
    }
    bool inside = false;
    for (const Span& g : regions)
      if (g.s < q && q < g.e) inside = true;
    if (!inside) return q;
    q -= L;
  }
  return -1;
}

struct Found {  // an answer and where it lies in the text
  B ans;
  int64_t s = 0, e = 0;
};

// In prose: the formula after the last " is " / " are " / ... of t[p, end), else (unless words_only)
// after its last " = ".
static bool after_copula(const B& t, int64_t p, int64_t end, const std::vector<Span>& regions, bool words_only,
                         Found* out) {
  int nwords = 0;
  while (IS_WORDS[nwords]) nwords++;
  int64_t best = -1;
  for (int w = 0; w < (words_only ? nwords - 1 : nwords); w++) {
    int64_t q = rfind_outside(t, IS_WORDS[w], p, end, regions);
    int64_t e = q + (int64_t)std::strlen(IS_WORDS[w]);
    if (q >= 0 && e > best && (w != nwords - 1 || best < 0)) best = e;
  }
  if (best < 0) return false;
  int64_t q = best;
  while (q < end && at(t, q) == ' ') q++;
  int64_t k = regions_index(regions, q);
  if (k >= 0) {
    int64_t j;
    out->ans = region_group_fwd(t, regions, k, p + MAX_SPAN, &j);
    out->s = regions[(size_t)k].s;
    out->e = regions[(size_t)j].e;
    return true;
  }
  if (mathish_start(t, q, end)) {
    int64_t a = q, b = prose_start(t, q, end);
    trim(t, &a, &b);
    if (b > a) {
      *out = {sub(t, a, b), a, b};
      return true;
    }
  }
  return false;
}

// the answer that follows an "answer is" / "Answer:" anchor ending at p
static bool answer_from_span(const B& t, int64_t p, const std::vector<Span>& regions, Found* out) {
  int64_t n = len(t);
  while (p < n) {
    int c = at(t, p);
    bool skip = issp(c);
    if (!skip && in_chars(c, ":*\"'`\\")) {
      bool keep = c == '\\' && p + 1 < n && (at(t, p + 1) == '(' || at(t, p + 1) == '[' || isalp(at(t, p + 1)));
      skip = !keep;
    }
    if (!skip) break;
    p++;
  }
  // a Chinese copula after the anchor: 答案是 B, 答案为 B
  for (bool hit = true; hit && p + 2 < n;) {
    hit = false;
    for (int k = 0; CJK_COPULAS[k]; k++)
      if (starts(t, CJK_COPULAS[k], p)) {
        p += (int64_t)std::strlen(CJK_COPULAS[k]);
        while (p < n && (issp(at(t, p)) || at(t, p) == ':')) p++;
        hit = true;
        break;
      }
  }
  if (p >= n) return false;
  int64_t k = regions_index(regions, p);
  if (k >= 0) {
    const Span& r = regions[(size_t)k];
    if (r.ce <= r.cs) return false;
    int64_t j;
    out->ans = region_group_fwd(t, regions, k, p + MAX_SPAN, &j);
    out->s = r.s;
    out->e = regions[(size_t)j].e;
    return true;
  }
  int64_t end = sentence_end(t, p, MAX_SPAN);
  if (mathish_start(t, p, end)) {
    int64_t a = p, b = prose_start(t, p, end);
    trim(t, &a, &b);
    if (b <= a) return false;
    *out = {sub(t, a, b), a, b};
    return true;
  }
  if (after_copula(t, p, end, regions, false, out)) return true;
  // else the last math region or number inside the sentence
  const Span* lr = nullptr;
  for (auto& r : regions)
    if (r.s >= p && r.e <= end) lr = &r;
  NumHit ln;
  bool has_ln = last_number(t, p, end, &ln);
  if (lr && (!has_ln || lr->e >= ln.e)) {
    if (lr->ce <= lr->cs) return false;
    *out = {sub(t, lr->cs, lr->ce), lr->s, lr->e};
    return true;
  }
  if (has_ln) {
    *out = {ln.v, ln.s, ln.e};
    return true;
  }
  return false;
}

// no English word of 3+ letters (outside \commands; "and", "or" and function names are mathematics)
// and no second line: a bare formula
static bool mathish_text(const B& s) {
  int64_t i = 0, n = len(s);
  while (i < n) {
    int c = at(s, i);
    if (c == '\n') return false;
    if (isalp(c)) {
      int64_t j = letters_end(s, i, n);
      if (j - i >= 3 && !(i > 0 && at(s, i - 1) == '\\')) {
        B w = sub(s, i, j);
        if (w != upper_bytes(w) && !in_list(w, MATH_WORDS)) return false;
      }
      i = j;
    } else {
      i++;
    }
  }
  return true;
}

// rejects "**Step 3**", "**Final Answer**"
static bool bold_ok(const B& s0) {
  B s = strip_ws(s0);
  if (s.empty() || s.size() > MAX_BOLD) return false;
  if (!mathish_start(s, 0, len(s)) && at(s, 0) != '$') return false;
  return mathish_text(s);
}

static std::vector<Span> bold_spans(const B& t) {
  std::vector<Span> res;
  int64_t i = 0;
  while (res.size() < MAX_BOLD_SPANS) {
    int64_t a = findp(t, "**", i);
    if (a < 0) break;
    int64_t b = findp(t, "**", a + 2);
    if (b < 0) break;
    res.push_back({a, b + 2, a + 2, b});
    i = b + 2;
  }
  return res;
}

// the last occurrence of pat in s (npos when none), comparing only where its first byte is
// (std::string::rfind calls memcmp at every position of the text)
static size_t rfind_bytes(const B& s, const char* pat) {
  const size_t L = std::strlen(pat);
  if (L == 0 || s.size() < L) return B::npos;
  for (size_t i = s.size() - L + 1; i-- > 0;)
    if (s[i] == pat[0] && std::memcmp(s.data() + i, pat, L) == 0) return i;
  return B::npos;
}

bool prepare_response(const B& data0, B* out) {
  B data;
  size_t k = rfind_bytes(data0, THINK_END);
  if (k != B::npos) {
    data = data0.substr(k + std::strlen(THINK_END));
  } else if (data0.find(THINK_START) != B::npos) {
    return false;
  } else {
    data = data0;
  }
  if (len(data) > MAX_SCAN) data = data.substr(data.size() - (size_t)MAX_SCAN);
  *out = normalize_text(data);
  return true;
}

struct Cand {
  int64_t pos;
  int kind;
  int64_t idx;
};

static void set_answer(Extracted* X, const B& ans, int64_t first_in_group, int64_t a0, int64_t a1, int how) {
  X->ans = ans;
  X->first_in_group = first_in_group;
  X->a0 = a0;
  X->a1 = a1;
  X->how = how;
}

// The answer of the last anchor that yields one (tried from the end, MAX_ANCHOR_TRIES of them).
static bool anchored(const B& t, Extracted* X) {
  const std::vector<Span>& regions = X->regions;
  const std::vector<Span>& boxes = X->boxes;
  B tl = lower_bytes(t);
  std::vector<Cand> cands;
  for (size_t bi = 0; bi < boxes.size(); bi++) cands.push_back({boxes[bi].s, 0, (int64_t)bi});
  for (int ai = 0; TEXT_ANCHORS[ai]; ai++) {
    int64_t i = 0;
    int cnt = 0;
    while (cnt < MAX_ANCHOR_HITS) {
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
  const int64_t nb = (int64_t)boxes.size();
  int tries = 0;
  for (auto& cd : cands) {
    if (tries++ >= MAX_ANCHOR_TRIES) break;
    if (cd.kind == 0) {
      int64_t j;
      B ans = group_back(t, boxes, cd.idx, &j);
      if (strip_ws(ans).empty()) continue;
      set_answer(X, ans, j, boxes[(size_t)j].s, boxes[(size_t)cd.idx].e, HOW_BOX);
      return true;
    }
    if (cd.kind == 2) {
      const Span& b = bolds[(size_t)cd.idx];
      if (!bold_ok(sub(t, b.cs, b.ce))) continue;
      int64_t a = b.cs, e = b.ce;
      trim(t, &a, &e);
      set_answer(X, sub(t, a, e), nb, a, e, HOW_BOLD);
      return true;
    }
    const char* pat = TEXT_ANCHORS[cd.idx];
    if (cd.idx == CHOICE_ANCHOR) {  // 选: only directly before a choice letter
      int64_t q = cd.pos + (int64_t)std::strlen(pat);
      while (q < len(t) && (at(t, q) == ':' || at(t, q) == ' ')) q++;
      if (!(q < len(t) && isupr(at(t, q)))) continue;
    }
    Found f;
    if (answer_from_span(t, cd.pos + (int64_t)std::strlen(pat), regions, &f) && !strip_ws(f.ans).empty()) {
      set_answer(X, f.ans, nb, f.s, f.e, HOW_TEXT);
      return true;
    }
  }
  return false;
}

// The start of the sentence around position p (after the last ". ", "! ", "? " or newline).
static int64_t sentence_start(const B& t, int64_t p) {
  int64_t i = p;
  while (i > 0) {
    int c = at(t, i - 1);
    if (c == '\n' || (in_chars(c, ".!?") && i < len(t) && issp(at(t, i)))) return i;
    i--;
  }
  return 0;
}

bool extract_from(const B& t, bool is_gold, Extracted* X) {
  X->boxes = find_boxes(t);
  X->regions = find_regions(t);
  const std::vector<Span>& regions = X->regions;
  if (anchored(t, X)) return true;
  // no anchor
  const int64_t nb = (int64_t)X->boxes.size();
  int64_t s0 = 0, s1 = len(t);
  while (s0 < s1 && issp(at(t, s0))) s0++;
  while (s1 > s0 && issp(at(t, s1 - 1))) s1--;
  if (s0 >= s1) s0 = len(t), s1 = 0;  // all space (as Python's lstrip / rstrip)
  B s = strip_ws(t);
  auto take = [&](const B& ans, int64_t a, int64_t e, int how) {
    set_answer(X, ans, nb, a, e, how);
    return true;
  };
  if (is_gold && !s.empty() && at(s, 0) != '$' && !starts(s, "\\(", 0) && !starts(s, "\\[", 0)) {
    B v;
    int64_t r = scan_number(s, 0, len(s), &v);
    if (r >= 0 && r == len(s) && at(s, 0) != '-') return take(v, s0, s1, HOW_WHOLE);
    if (regions.empty()) return take(s, s0, s1, HOW_WHOLE);
  }
  bool has_lr = false;
  int64_t lr_end = 0, lr_k = (int64_t)regions.size() - 1;
  while (lr_k >= 0 && regions[(size_t)lr_k].ce <= regions[(size_t)lr_k].cs) lr_k--;
  if (lr_k >= 0) {
    has_lr = true;
    lr_end = regions[(size_t)lr_k].e;
  }
  if (!has_lr && !s.empty() && s.size() <= MAX_SHORT_FORMULA && mathish_start(s, 0, len(s)) && mathish_text(s)) {
    B v;
    int64_t r = scan_number(s, 0, len(s), &v);
    return take(r >= 0 && r == len(s) ? v : s, s0, s1, HOW_WHOLE);
  }
  NumHit ln;
  bool has_ln = last_number(t, 0, len(t), &ln);
  // the last statement: "The roots are 2 and 3." -> what follows its last " is " / " are "
  const bool region_last = has_lr && (!has_ln || lr_end >= ln.e);
  const int64_t last = region_last ? lr_end : has_ln ? ln.e : -1;
  const int64_t p = sentence_start(t, (last >= 0 ? last : s1) - 1);
  Found stmt;
  if (after_copula(t, p, sentence_end(t, p, MAX_SPAN), regions, true, &stmt) && !strip_ws(stmt.ans).empty() &&
      stmt.e >= last)
    return take(stmt.ans, stmt.s, stmt.e, HOW_TEXT);
  if (region_last) {
    int64_t j;
    B ans = group_back(t, regions, lr_k, &j);
    return take(ans, regions[(size_t)j].s, lr_end, HOW_REGION);
  }
  if (has_ln) return take(ln.v, ln.s, ln.e, HOW_NUMBER);
  if (!s.empty() && s.size() <= MAX_SHORT_TEXT) return take(s, s0, s1, HOW_WHOLE);
  return false;
}

bool answer_of(const B& t, bool is_gold, Extracted* X, B* answer) {
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

}  // namespace rlv
