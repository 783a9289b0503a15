// Commitment: whether a response stands by the answer extracted from it. Twin of
// rlev_fast/verifier/context.py (read its docstring for the rules and their reasons).
#include "context.h"

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "caps.h"
#include "tables.h"

namespace rlv {

namespace {

// kinds of the items read around an answer
enum { W_WORD, W_CAND, W_SENTENCE, W_CLAUSE, W_QMARK, W_NEG, W_PRED, W_HEDGE, W_RETRACT, W_WEAK, W_REF, W_CONJ, W_NO };

struct Item {
  int kind;
  B text;
};
typedef std::vector<Item> Items;
typedef std::vector<Span> Starts;  // math regions, sorted by start

struct Marker {
  const char* text;
  int kind;
};

const char* const LATEX_NEGATORS[] = {"ne", "neq", "not", "neg", "lnot", "nequiv", "notin", nullptr};
const char* const LATEX_VALUES[] = {"pi", "frac", "dfrac", "sqrt", nullptr};  // commands that start a value
const char* const SKIPPED = "()[]{}*\"`~|";

int classify(const B& word, const std::set<B>& exempt) {
  // the word tables as one map, built once (a word in two tables keeps the first one's class)
  static const std::unordered_map<B, int> classes = [] {
    std::unordered_map<B, int> m;
    const std::pair<const char* const*, int> lists[] = {
        {NEGATORS, W_NEG},          {PREDICATES, W_PRED}, {HEDGES, W_HEDGE},       {RETRACTIONS, W_RETRACT},
        {WEAK_RETRACTIONS, W_WEAK}, {REFERENCES, W_REF},  {CLAUSE_WORDS, W_CONJ}};
    for (const auto& l : lists)
      for (int k = 0; l.first[k]; k++) m.emplace(l.first[k], l.second);
    return m;
  }();
  if (!exempt.empty() && exempt.count(word)) return W_WORD;
  auto it = classes.find(word);
  return it == classes.end() ? W_WORD : it->second;
}

// CJK markers, longest first (不对 before 不, 也可能 before 可能); ties keep the order of the tables
const std::vector<Marker>& cjk_markers() {
  static const std::vector<Marker> markers = [] {
    std::vector<Marker> m;
    const std::pair<const char* const*, int> lists[] = {
        {CJK_RETRACTIONS, W_RETRACT}, {CJK_PREDICATES, W_PRED},    {CJK_NEGATORS, W_NEG}, {CJK_HEDGES, W_HEDGE},
        {CJK_WEAK_RETRACTIONS, W_WEAK}, {CJK_REFERENCES, W_REF}, {CJK_CLAUSE_WORDS, W_CONJ}};
    for (const auto& l : lists)
      for (int k = 0; l.first[k]; k++) m.push_back({l.first[k], l.second});
    std::stable_sort(m.begin(), m.end(),
                     [](const Marker& a, const Marker& b) { return std::strlen(a.text) > std::strlen(b.text); });
    return m;
  }();
  return markers;
}

int phrase_kind(const char* table) {
  B t = table;
  return t == "RETRACTIONS" ? W_RETRACT : t == "WEAK_RETRACTIONS" ? W_WEAK : W_HEDGE;
}

B no_spaces(const B& s) {
  B out;
  for (char ch : s)
    if (ch != ' ') out.push_back(ch);
  return out;
}

// End of the number starting at t[i] (digits with decimal points / commas between digits).
int64_t cand_end(const B& t, int64_t i, int64_t b) {
  int64_t j = i;
  while (j < b && (isdig(at(t, j)) || ((at(t, j) == '.' || at(t, j) == ',') && j + 1 < b && isdig(at(t, j + 1))))) j++;
  return j;
}

struct PhraseWords {
  std::vector<B> words;
  int kind;
  const char* text;
};

// PHRASES split into words, once
const std::vector<PhraseWords>& phrase_words() {
  static const std::vector<PhraseWords> out = [] {
    std::vector<PhraseWords> v;
    for (int p = 0; PHRASES[p].words; p++) {
      PhraseWords pw{{}, phrase_kind(PHRASES[p].table), PHRASES[p].words};
      B w;
      for (const char* c = PHRASES[p].words;; c++) {
        if (*c == ' ' || *c == 0) {
          pw.words.push_back(w);
          w.clear();
          if (*c == 0) break;
        } else {
          w.push_back(*c);
        }
      }
      v.push_back(pw);
    }
    return v;
  }();
  return out;
}

// text lower-cased equals the lower-case word w (without a copy)
bool same_lower(const B& text, const B& w) {
  if (text.size() != w.size()) return false;
  for (size_t k = 0; k < w.size(); k++)
    if (lowr((unsigned char)text[k]) != (unsigned char)w[k]) return false;
  return true;
}

// Multi-word markers ("never mind", "I mean", "one of") and the two uses of "no".
Items phrases(const Items& items, const std::set<B>& exempt) {
  Items out;
  size_t i = 0;
  while (i < items.size()) {
    bool hit = false;
    for (const PhraseWords& p : phrase_words()) {
      if (i + p.words.size() > items.size() || !same_lower(items[i].text, p.words[0])) continue;
      if (!exempt.empty() && exempt.count(p.words[0])) continue;
      bool all = true;
      for (size_t k = 1; k < p.words.size() && all; k++) all = same_lower(items[i + k].text, p.words[k]);
      if (!all) continue;
      out.push_back({p.kind, p.text});
      i += p.words.size();
      hit = true;
      break;
    }
    if (hit) continue;
    Item it = items[i];
    if (it.kind == W_WORD && it.text == "no" && (exempt.empty() || !exempt.count("no"))) {
      const Item* nxt = i + 1 < items.size() ? &items[i + 1] : nullptr;
      if (!nxt || nxt->kind == W_SENTENCE || nxt->kind == W_CLAUSE || nxt->kind == W_QMARK || nxt->kind == W_RETRACT)
        it.kind = W_NO;  // "No." / "No, 7" / "no wait": an interjection that takes back
      else if (in_list(nxt->text, COPULAS) || nxt->kind == W_CAND)
        it.kind = W_NEG;  // "no es 5" / "no 5"
    }
    out.push_back(it);
    i++;
  }
  return out;
}

// The words, candidates and breaks of t[a, b).
Items read_items(const B& t, int64_t a, int64_t b, const Starts& regions, const std::set<B>& exempt) {
  Items out;
  std::vector<int64_t> bm;
  bool have_bm = false;
  int64_t i = a;
  while (i < b) {
    int c = at(t, i);
    if ((issp(c) && c != '\n') || in_chars(c, SKIPPED)) {
      i++;
      continue;
    }
    if (c == '\n') {
      out.push_back({W_SENTENCE, B()});
      i++;
      continue;
    }
    if (c == '$' || (c == '\\' && i + 1 < b && (at(t, i + 1) == '(' || at(t, i + 1) == '[') &&
                     !(i > 0 && at(t, i - 1) == '\\'))) {
      auto r = std::lower_bound(regions.begin(), regions.end(), i, [](const Span& g, int64_t p) { return g.s < p; });
      if (r != regions.end() && r->s == i && r->e <= b) {  // a math region is one candidate
        out.push_back({W_CAND, no_spaces(sub(t, r->cs, r->ce))});
        i = r->e;
        continue;
      }
      i++;
      continue;
    }
    if (c == '\\') {
      int64_t j = letters_end(t, i + 1, b);
      B name = sub(t, i + 1, j);
      if (j == i + 1) {
        i += 2;
        continue;
      }
      if (in_list("\\" + name, BOX_COMMANDS)) {
        if (!have_bm) {
          bm = brace_map(t);
          have_bm = true;
        }
        int64_t k = j;
        while (k < b && at(t, k) == ' ') k++;
        int64_t e = (k < b && at(t, k) == '{') ? bm[(size_t)k] : -1;
        if (e >= 0 && e < b) {
          out.push_back({W_CAND, no_spaces(sub(t, k + 1, e))});
          i = e + 1;
          continue;
        }
      } else if (in_list(name, LATEX_NEGATORS)) {
        out.push_back({W_NEG, name});
      } else if (in_list(name, LATEX_VALUES)) {
        out.push_back({W_CAND, name});
      }
      i = j;
      continue;
    }
    if (isdig(c)) {
      int64_t j = cand_end(t, i, b);
      out.push_back({W_CAND, sub(t, i, j)});
      i = j;
      continue;
    }
    if (c == '?') {
      out.push_back({W_QMARK, "?"});
      i++;
      continue;
    }
    if (c == '.' || c == '!') {
      if (i + 1 >= len(t) || issp(at(t, i + 1)) || in_chars(at(t, i + 1), "\"')")) out.push_back({W_SENTENCE, B()});
      i++;
      continue;
    }
    if (c == ',' || c == ';' || c == ':') {
      out.push_back({W_CLAUSE, B(1, (char)c)});
      i++;
      continue;
    }
    if (c == '/' && !out.empty() && out.back().kind != W_CAND) {  // "and/or": the slash joins two words
      i++;
      continue;
    }
    if (isalp(c) || c >= 0x80) {
      int64_t j = i, word_end = i;
      while (j < b) {
        int d = at(t, j);
        if (isalp(d) || (d == '\'' && j + 1 < b && isalp(at(t, j + 1)) && j > i)) {
          j++;
        } else if (d >= 0x80) {
          int n;
          if (!is_word_char(decode_at(t, j, &n))) break;
          j += n;
        } else {
          break;
        }
        word_end = j;
      }
      if (word_end > i) {
        B w = sub(t, i, word_end);
        if (w.size() == 1 && isupr(c) && w != "I") {
          out.push_back({W_CAND, w});  // a choice letter (not the pronoun I)
        } else {
          B lw = lower_bytes(w);
          out.push_back({classify(lw, exempt), lw});
        }
        i = word_end;
        continue;
      }
      int n;
      unsigned cp = decode_at(t, i, &n);
      if (is_cjk(cp)) {
        bool hit = false;
        for (const Marker& m : cjk_markers())
          if (starts(t, m.text, i) && (exempt.empty() || !exempt.count(m.text))) {
            out.push_back({m.kind, m.text});
            i += (int64_t)std::strlen(m.text);
            hit = true;
            break;
          }
        if (hit) continue;
      }
      i += n;
      continue;
    }
    i++;
  }
  return phrases(out, exempt);
}

bool other(const Item& it, const B& key) { return it.kind == W_CAND && it.text != key; }

bool any_other(const Items& items, size_t from, const B& key) {
  for (size_t k = from; k < items.size(); k++)
    if (other(items[k], key)) return true;
  return false;
}

// The comma at items[k] separates candidates ("3, 4, 5"; the answer follows the last item).
bool in_list_sep(const Items& items, size_t k) {
  bool after = k + 1 == items.size() || items[k + 1].kind == W_CAND;
  return items[k].text == "," && after && k > 0 && items[k - 1].kind == W_CAND;
}

int judge_lead(const Items& items, const B& key) {
  size_t ci = 0, si = 0;
  for (size_t k = 0; k < items.size(); k++) {
    int kind = items[k].kind;
    if (kind == W_SENTENCE || kind == W_QMARK)
      ci = si = k + 1;
    else if (kind == W_CONJ || (kind == W_CLAUSE && !in_list_sep(items, k)))
      ci = k + 1;
  }
  bool hedge = false;
  for (size_t k = ci; k < items.size(); k++) {
    if (items[k].kind == W_NEG && !any_other(items, k + 1, key)) return V_NEGATED;
    hedge = hedge || items[k].kind == W_HEDGE;
  }
  if (hedge && any_other(items, si, key)) return V_HEDGED;
  return V_OK;
}

// The negator at sent[k] governs another candidate within three words ("not 6", "not equal to 6").
bool negates_other(const Items& sent, size_t k, const B& key) {
  for (size_t q = k + 1; q < sent.size() && q <= k + 3; q++) {
    int kind = sent[q].kind;
    if (kind == W_CLAUSE || kind == W_SENTENCE || kind == W_QMARK) return false;
    if (kind == W_CAND) return sent[q].text != key;
  }
  return false;
}

int judge_tail(const Items& items, const B& key, bool lead_other) {
  std::vector<Items> sentences(1);
  for (const Item& it : items) {
    if (it.kind == W_SENTENCE)
      sentences.emplace_back();
    else
      sentences.back().push_back(it);
  }
  for (size_t n = 0; n < sentences.size(); n++) {
    const Items& sent = sentences[n];
    bool seen_other = false;
    bool about_answer = n == 0 || (!sent.empty() && sent[0].kind == W_REF);
    for (size_t k = 0; k < sent.size(); k++) {
      int kind = sent[k].kind;
      if (kind == W_RETRACT || kind == W_NO) return V_RETRACTED;
      if (kind == W_WEAK) {
        bool later = any_other(sent, k + 1, key);
        for (size_t m = n + 1; m < sentences.size() && !later; m++) later = any_other(sentences[m], 0, key);
        if (later) return V_RETRACTED;
      }
      // a hedge in the answer's sentence, or a later one ("Or maybe 6.": "or" opening it)
      if (kind == W_HEDGE && (n == 0 || k == 0 || !in_list(sent[k].text, OR_WORDS)) &&
          (any_other(sent, 0, key) || (n == 0 && lead_other)))
        return V_HEDGED;
      if (other(sent[k], key)) seen_other = true;
      if (!about_answer || seen_other) continue;
      if (kind == W_PRED) return V_NEGATED;
      if (kind == W_NEG && !negates_other(sent, k, key)) return V_NEGATED;
    }
  }
  return V_OK;
}

bool invisible_inside(const B& t, int64_t a, int64_t b) {
  int64_t i = a;
  while (i < b) {
    if (at(t, i) >= 0x80) {
      int n;
      if (is_invisible(decode_at(t, i, &n))) return true;
      i += n;
    } else {
      i++;
    }
  }
  return false;
}

// The name of the command whose letters end at t[p - 1] ("" when none).
B cmd_before(const B& t, int64_t p) {
  int64_t j = p;
  while (j > 0 && isalp(at(t, j - 1))) j--;
  return (j > 0 && at(t, j - 1) == '\\' && j < p) ? sub(t, j, p) : B();
}

// A box glued into a larger expression (a script, a factor, an operand) before or after it.
bool attached(const B& t, const Span& first, const Span& last, const std::vector<Span>& regions) {
  const int64_t n = len(t), s = first.s, e = last.e;
  bool in_math = false;
  for (const Span& r : regions)
    if (r.cs <= s && e <= r.ce) in_math = true;
  // after the box
  int64_t i = e;
  if (i < n && (at(t, i) == '^' || at(t, i) == '_') && !(starts(t, "^\\circ", i) || starts(t, "^{\\circ}", i)))
    return true;
  if (i < n && (isdig(at(t, i)) || isalp(at(t, i)) || in_chars(at(t, i), "'(=<>+/"))) return true;
  if ((i + 1 < n && at(t, i) == '*' && at(t, i + 1) != '*') || (i < n && at(t, i) == '!' && in_math)) return true;
  if (in_math) {
    while (i < n && at(t, i) == ' ') i++;
    if (i < n && (isdig(at(t, i)) || in_chars(at(t, i), "^_'(=<>+-/*!"))) return true;
  }
  if (i < n && at(t, i) == '\\' && in_list(sub(t, i + 1, letters_end(t, i + 1, n)), ATTACH_AFTER_CMDS)) return true;
  // before the box
  int64_t p = s;
  if (p > 0 && (isdig(at(t, p - 1)) || in_chars(at(t, p - 1), "^_)]-+/"))) return true;
  if (p > 0 && isalp(at(t, p - 1)) && cmd_before(t, p).empty()) return true;
  if (p > 0 && at(t, p - 1) == '{') {  // an argument: \sqrt{\boxed{..}}, \frac{\boxed{..}}{2}, x^{\boxed{..}}
    int64_t q = p - 1;
    if (q > 0 && (in_chars(at(t, q - 1), "^_}") || in_list(cmd_before(t, q), ATTACH_BEFORE_CMDS))) return true;
  }
  if (in_math) {
    while (p > 0 && at(t, p - 1) == ' ') p--;
    if (p > 0 && (isdig(at(t, p - 1)) || in_chars(at(t, p - 1), "^_)]-+/*"))) return true;
  }
  return in_list(cmd_before(t, p), ATTACH_BEFORE_CMDS);
}

bool question_after(const B& t, int64_t a1) {
  int64_t i = a1;
  while (i < len(t) && (issp(at(t, i)) || in_chars(at(t, i), "$*)]}\"'") || starts(t, "\\)", i) || starts(t, "\\]", i)))
    i += at(t, i) == '\\' ? 2 : 1;
  return i < len(t) && (at(t, i) == '?' || starts(t, u8"？", i));
}

}  // namespace

std::set<B> gold_words(const B& gold) {
  std::set<B> words;
  for (const Item& it : read_items(gold, 0, std::min(len(gold), MAX_ANSWER), Starts(), std::set<B>()))
    if (it.kind != W_CAND && !it.text.empty()) words.insert(it.text);
  return words;
}

int judge(const B& t, const Extracted& X, const B& gold) {
  const B& ans = X.ans;
  if (invisible_inside(t, X.a0, X.a1) || invisible_inside(ans, 0, len(ans))) return V_JOINED;
  const std::vector<Span>& regions = X.regions;
  const Starts& starts_at = X.regions;
  if (X.how == HOW_BOX) {
    size_t last = (size_t)X.first_in_group;
    while (last + 1 < X.boxes.size() && X.boxes[last + 1].s < X.a1) last++;
    if (attached(t, X.boxes[(size_t)X.first_in_group], X.boxes[last], regions)) return V_ATTACHED;
  }
  std::set<B> exempt = gold_words(gold);
  B key = no_spaces(strip_ws(ans));
  // the answer itself: any marker but "or" (a set of solutions: "x = 3 or x = -3")
  for (const Item& it : read_items(ans, 0, std::min(len(ans), MAX_ANSWER), Starts(), exempt)) {  // longer: text only
    if ((it.kind == W_NEG || it.kind == W_PRED) && it.text != "ne" && it.text != "neq") return V_NEGATED;
    if (it.kind == W_RETRACT || it.kind == W_WEAK || it.kind == W_NO) return V_RETRACTED;
    if (it.kind == W_HEDGE && !in_list(it.text, OR_WORDS)) return V_HEDGED;
  }
  if (question_after(t, X.a1)) return V_QUESTION;
  Items lead = read_items(t, std::max<int64_t>(0, X.a0 - MAX_LEAD), X.a0, starts_at, exempt);
  int v = judge_lead(lead, key);
  if (v != V_OK) return v;
  size_t si = 0;
  for (size_t k = 0; k < lead.size(); k++)
    if (lead[k].kind == W_SENTENCE || lead[k].kind == W_QMARK) si = k + 1;
  bool lead_other = any_other(lead, si, key);
  return judge_tail(read_items(t, X.a1, std::min(len(t), X.a1 + MAX_TAIL), starts_at, exempt), key, lead_other);
}

}  // namespace rlv
