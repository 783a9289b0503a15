// Extraction: the final answer a text commits to. Twin of rlev_fast/verifier/extract.py (read its
// docstring for the order in which anchors are tried).
#include "extract.h"

#include <algorithm>

#include "caps.h"
#include "tables.h"
#include "verify.h"

namespace rlv {

static const char* const THINK_START = "<think>";
static const char* const THINK_END = "</think>";

B strip_answer(B s) {
  s = strip_ws(s);
  while (!s.empty()) {
    int c = (unsigned char)s.back();
    if (c == '.' || c == ',' || c == ';' || c == ':' || c == '!' || c == '?' || c == ' ')
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
  if (isdig(c) || c == '-' || c == '+' || c == '.' || c == '(' || c == '[' || c == '\\' || c == '{' || c == '|') return true;
  if (isupr(c)) {
    int64_t j = 0;
    while (j < len(s) && isupr(at(s, j))) j++;
    if (j <= (int64_t)MAX_CHOICE_LETTERS && (j == len(s) || !isalp(at(s, j)))) return true;
  }
  return false;
}

// '5, because ...' -> '5': cut at ", " followed by a word of 3+ lower-case letters
static B cut_prose_tail(const B& s) {
  int64_t i = 0, n = len(s);
  while (i < n) {
    if (at(s, i) == ',' && i + 1 < n && at(s, i + 1) == ' ') {
      int64_t j = i + 2, k = j;
      while (k < n && islwr(at(s, k))) k++;
      if (k - j >= 3 && !in_list(sub(s, j, k), PROSE_CONTINUERS)) return sub(s, 0, i);
    }
    i++;
  }
  return s;
}

// the length of the Chinese copula at t[p] (是 为 项), 0 when there is none
static int64_t cjk_copula_at(const B& t, int64_t p) {
  for (int k = 0; CJK_COPULAS[k]; k++)
    if (starts(t, CJK_COPULAS[k], p)) return (int64_t)std::strlen(CJK_COPULAS[k]);
  return 0;
}

// the answer that follows an "answer is" / "Answer:" anchor ending at p
static bool answer_from_span(const B& t, int64_t p, const std::vector<Span>& regions, B* out) {
  int64_t n = len(t);
  while (p < n) {
    int c = at(t, p);
    bool skip = issp(c);
    if (!skip && (c == ':' || c == '*' || c == '"' || c == '\'' || c == '`' || c == '\\')) {
      bool keep = c == '\\' && p + 1 < n && (at(t, p + 1) == '(' || at(t, p + 1) == '[' || isalp(at(t, p + 1)));
      skip = !keep;
    }
    if (!skip) break;
    p++;
  }
  // a Chinese copula after the anchor: 答案是 B, 答案为 B
  for (int64_t w = cjk_copula_at(t, p); w > 0; w = cjk_copula_at(t, p)) {
    p += w;
    while (p < n && (issp(at(t, p)) || at(t, p) == ':')) p++;
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
    while (q < end && at(t, q) == ' ') q++;
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

// no English word of 3+ letters (outside \commands) and no second line: a bare formula
static bool mathish_text(const B& s) {
  int64_t i = 0, n = len(s);
  while (i < n) {
    int c = at(s, i);
    if (c == '\n') return false;
    if (isalp(c)) {
      int64_t j = letters_end(s, i, n);
      if (j - i >= 3 && !(i > 0 && at(s, i - 1) == '\\')) {
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

// rejects "**Step 3**", "**Final Answer**"
static bool bold_ok(const B& s0) {
  B s = strip_ws(s0);
  if (s.empty() || s.size() > MAX_BOLD) return false;
  if (!mathish_start(s) && at(s, 0) != '$') return false;
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

bool prepare_response(const B& data0, B* out) {
  B data;
  size_t k = data0.rfind(THINK_END);
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

bool extract_from(const B& t, bool is_gold, Extracted* X) {
  X->boxes = find_boxes(t);
  const std::vector<Span>& boxes = X->boxes;
  std::vector<Span> regions = find_regions(t);
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
    if (cd.idx == CHOICE_ANCHOR) {  // 选: only directly before a choice letter
      int64_t q = cd.pos + (int64_t)std::strlen(pat);
      while (q < len(t) && (at(t, q) == ':' || at(t, q) == ' ')) q++;
      if (!(q < len(t) && isupr(at(t, q)))) continue;
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
    if (!s.empty() && at(s, 0) != '$' && !starts(s, "\\(", 0) && !starts(s, "\\[", 0)) {
      B v;
      int64_t r = scan_number(s, 0, len(s), &v);
      if (r >= 0 && r == len(s) && at(s, 0) != '-') {
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
    if (!s.empty() && s.size() <= MAX_SHORT_FORMULA && mathish_text(s)) {
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
  if (!s.empty() && s.size() <= MAX_SHORT_TEXT) {
    X->ans = s;
    return true;
  }
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
