// Tokenizer: an extracted answer (LaTeX or plain text) as tokens. Twin of
// rlev_fast/verifier/tokenize.py.
#include "tokenize.h"

#include "caps.h"
#include "scan.h"
#include "tables.h"

namespace rlv {

void make_num(const B& intpart, const B& frac, Q* q, int* dec, int* sig) {
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
bool read_group(const B& s, int64_t i, int64_t n, const std::vector<int64_t>& bm, B* g, int64_t* next) {
  while (i < n && at(s, i) == ' ') i++;
  if (i >= n) {
    *g = B();
    *next = i;
    return true;
  }
  if (at(s, i) == '{') {
    int64_t e = bm[(size_t)i];
    if (e < 0) {
      *next = n;
      return false;
    }
    *g = sub(s, i + 1, e);
    *next = e + 1;
    return true;
  }
  if (at(s, i) == '\\') {
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
  while (i < n && (at(s, i) == '_' || at(s, i) == '\'')) {
    if (at(s, i) == '\'') {
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

static const char* const THIN_SEPARATORS[] = {"{,}", "{, }", ",\\!", "\\,", "\\ ", "\\;", "~", nullptr};

// Where the next group of exactly three digits of a thousands-grouped number starts after s[i]
// ("1,000", "1{,}000", "10\\,000", "1 000"), or -1.
static int64_t group_digits(const B& s, int64_t i, int64_t n) {
  int64_t q = -1;
  if (at(s, i) == ',' && i + 1 < n && at(s, i + 1) != ' ') {
    q = starts(s, ",\\!", i) ? i + 3 : i + 1;
  } else {
    int64_t k = skip_spaces(s, i, n);
    for (int p = 0; THIN_SEPARATORS[p]; p++)
      if (starts(s, THIN_SEPARATORS[p], k)) {
        q = k + (int64_t)std::strlen(THIN_SEPARATORS[p]);
        break;
      }
    if (q < 0 && k > i) q = k;  // a plain space
  }
  if (q < 0) return -1;
  q = skip_spaces(s, q, n);
  if (q + 3 > n || !(isdig(at(s, q)) && isdig(at(s, q + 1)) && isdig(at(s, q + 2)))) return -1;
  if (q + 3 < n && (isdig(at(s, q + 3)) || (at(s, q + 3) == '.' && at(s, i) == ' '))) return -1;
  return q;
}

// A number word that scales a value starts at s[i] ("thousand", "万").
static bool multiplier_at(const B& s, int64_t i) {
  for (int k = 0; MULTIPLIER_WORDS[k]; k++) {
    const char* w = MULTIPLIER_WORDS[k];
    const int64_t L = (int64_t)std::strlen(w);
    if (starts(s, w, i) && ((unsigned char)w[0] >= 0x80 || !(i + L < len(s) && isalp(at(s, i + L))))) return true;
  }
  return false;
}

// s[i, n) is a unit and nothing else ("J", "m/s^2", "kg*m/s").
static bool unit_tail(const B& s, int64_t i, int64_t n) {
  bool seen = false;
  while (i < n) {
    int c = at(s, i);
    if (isalp(c)) {
      int64_t j = letters_end(s, i, n);
      B w = sub(s, i, j);
      if (!in_list(w, UNIT_SYMBOLS) && !in_list(lower_bytes(w), UNIT_WORDS)) return false;
      seen = true;
      i = j;
    } else if (in_chars(c, " /*^.-{}") || isdig(c)) {
      i++;
    } else if (starts(s, "\\cdot", i)) {
      i += 5;
    } else {
      return false;
    }
  }
  return seen;
}

// \text{...} after a value: a unit is dropped (0); with digits it is read as mathematics when it holds
// only numbers and connectors (1: its tokens were appended); "5\text{ thousand}" cannot be compared (-1).
static int text_group(const B& g, std::vector<Tok>* toks, int depth) {
  const B lg = lower_bytes(g);
  if (multiplier_at(lg, 0)) return -1;
  for (int64_t k = 0; k < len(g); k++)
    if (multiplier_at(g, k)) return -1;
  bool digits = false;
  for (char ch : g) digits = digits || isdig((unsigned char)ch);
  if (!digits) return 0;
  if (depth >= MAX_TEXT_DEPTH) return -1;
  int64_t i = 0, n = len(lg);
  while (i < n) {  // words separated by spaces, commas and dots: numbers or "and" / "or"
    while (i < n && (issp(at(lg, i)) || at(lg, i) == ',' || at(lg, i) == '.')) i++;
    int64_t j = i;
    bool alldig = true;
    for (; j < n && !(issp(at(lg, j)) || at(lg, j) == ',' || at(lg, j) == '.'); j++) alldig = alldig && isdig(at(lg, j));
    if (j > i && !alldig && !in_list(sub(lg, i, j), PROSE_JOINERS)) return -1;
    i = j;
  }
  std::vector<Tok> inner;
  if (!tokenize(g, &inner, depth + 1)) return -1;
  toks->insert(toks->end(), inner.begin(), inner.end());
  return 1;
}

// table lookups: a relation command, a command token, an operator or bracket byte (-1 / false: none)
static int rel_cmd(const B& name) {
  for (int k = 0; REL_CMDS[k].name; k++)
    if (name == REL_CMDS[k].name) return REL_CMDS[k].op;
  return -1;
}

static bool command_token(const B& name, int* kind, int* op) {
  for (int k = 0; COMMAND_TOKENS[k].name; k++)
    if (name == COMMAND_TOKENS[k].name) {
      *kind = COMMAND_TOKENS[k].kind;
      *op = COMMAND_TOKENS[k].op;
      return true;
    }
  return false;
}

static int two_byte_op(const B& s, int64_t i) {
  for (int k = 0; TWO_BYTE_OPS[k].name; k++)
    if (starts(s, TWO_BYTE_OPS[k].name, i)) return TWO_BYTE_OPS[k].op;
  return -1;
}

static bool one_byte_token(int c, int* kind, int* op) {
  for (int k = 0; ONE_BYTE_TOKENS[k].name; k++)
    if ((unsigned char)ONE_BYTE_TOKENS[k].name[0] == c) {
      *kind = ONE_BYTE_TOKENS[k].kind;
      *op = ONE_BYTE_TOKENS[k].op;
      return true;
    }
  return false;
}

bool tokenize(const B& s, std::vector<Tok>* out, int depth) {
  std::vector<Tok>& toks = *out;
  int64_t n = len(s), i = 0;
  std::vector<int64_t> bm = brace_map(s);
  while (i < n) {
    if (toks.size() > MAX_TOKENS) return false;
    int c = at(s, i);
    if (in_chars(c, TOKEN_SKIP)) {
      i++;
      continue;
    }
    if (isdig(c) || (c == '.' && i + 1 < n && isdig(at(s, i + 1)))) {
      int64_t g0 = i;
      B intpart;
      while (i < n && isdig(at(s, i))) {
        intpart.push_back((char)at(s, i));
        i++;
      }
      int64_t first = i - g0;
      bool grouped = false;
      while (first >= 1 && first <= 3 && i < n && at(s, g0) != '0') {
        int64_t q = group_digits(s, i, n);
        if (q < 0) break;
        intpart += sub(s, q, q + 3);
        i = q + 3;
        grouped = true;
      }
      B frac;
      bool isdec = false;
      if (i + 1 < n && at(s, i) == '.' && isdig(at(s, i + 1))) {
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
      if (i < n && (at(s, i) == 'e' || at(s, i) == 'E')) {
        int64_t q = i + 1;
        int sg = 1;
        if (q < n && (at(s, q) == '+' || at(s, q) == '-')) {
          sg = at(s, q) == '-' ? -1 : 1;
          q++;
        }
        int64_t q0 = q;
        while (q < n && isdig(at(s, q)) && q - q0 < 6) q++;
        if (q > q0 && !(q < n && (isalp(at(s, q)) || isdig(at(s, q))))) {
          int64_t ex = std::stoll(sub(s, q0, q)) * sg;
          if (ex <= MAX_SCI_EXP && ex >= -MAX_SCI_EXP) {
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
      if (i + 1 < n && at(s, i) == '_' && !isdec) {
        B g;
        int64_t j;
        if (read_group(s, i + 1, n, bm, &g, &j) && g.size() >= 1 && g.size() <= 2) {
          bool alld = true;
          for (char ch : g)
            if (!isdig((unsigned char)ch)) alld = false;
          if (alld) {
            int base = std::stoi(g);
            bool okd = base >= 2 && base <= 36 && intpart.size() <= MAX_BASE_DIGITS;
            if (okd)
              for (char ch : intpart)
                if (ch - '0' >= base) okd = false;
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
    if (c == '\\') {
      int64_t j = letters_end(s, i + 1, n);
      B name = sub(s, i + 1, j);
      if (j == i + 1) {
        if (j >= n) break;
        int d = at(s, j);
        if (d == '{')
          toks.push_back(Tok(T_LS));
        else if (d == '}')
          toks.push_back(Tok(T_RS));
        else if (d == '\\')
          toks.push_back(Tok(T_ROW));
        else if (d == '|')
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
          int inline_math = text_group(g, &toks, depth);
          if (inline_math < 0) return false;
          if (inline_math > 0) continue;
          // a unit after a value: drop it, and a ^2 / ^3 right after it
          int64_t k = i;
          while (k < n && at(s, k) == ' ') k++;
          if (k < n && at(s, k) == '^') {
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
      if (name == "begin" || name == "end") {
        B g;
        if (!read_group(s, i, n, bm, &g, &i)) return false;
        bool ismat = (g.size() >= 6 && g.compare(g.size() - 6, 6, "matrix") == 0) || g == "array";
        if (ismat) {
          toks.push_back(Tok(name == "begin" ? T_MATB : T_MATE));
          if (g == "array" && name == "begin") {  // its column spec
            B g2;
            int64_t i2;
            if (read_group(s, i, n, bm, &g2, &i2)) i = i2;
          }
        }
        continue;
      }
      if (name == "left" || name == "right") {
        if (i < n && at(s, i) == '.') i++;
        continue;
      }
      if (in_list(name, SKIP_CMDS) || in_list(name, UNWRAP_CMDS)) continue;
      if (in_list(name, MOD_CMDS)) return false;
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
      const int prev = toks.empty() ? -1 : toks.back().kind;
      if ((prev == T_NUM || prev == T_RP || prev == T_RC || prev == T_RB) &&
          (issp(at(s, i - 1)) || (j < n && (at(s, j) == '^' || at(s, j) == '/'))) && unit_tail(s, i, n))
        break;  // "1.2e3 J", "9.8 m/s^2": the unit ends the answer
      if (multiplier_at(lw, 0)) return false;
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
        if (in_list(lw, UNIT_WORDS) && (prev == T_NUM || prev == T_RP || prev == T_RC || prev == T_RB)) {
          i = j;
          if (i < n && at(s, i) == '^' && i + 1 < n && isdig(at(s, i + 1))) i += 2;
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
        if (in_list(lw, INF_WORDS)) {
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
    if (c == '^' && (starts(s, "^\\circ", i) || starts(s, "^{\\circ}", i))) {
      i += at(s, i + 1) == '\\' ? 6 : 8;  // ^\circ / ^{\circ}: degrees, dropped
      continue;
    }
    const int op2 = two_byte_op(s, i);
    if (op2 >= 0) {
      toks.push_back(Tok(T_OP, op2));
      i += 2;
      continue;
    }
    int kind, op;
    if (one_byte_token(c, &kind, &op))
      toks.push_back(Tok(kind, op));
    else if (c == '_') {
      B g;
      if (!read_group(s, i + 1, n, bm, &g, &i)) return false;
      continue;
    } else if (c == '\'') {
      if (!toks.empty() && toks.back().kind == T_VAR) toks.back().name += "'";
    } else if (c >= 0x80 && multiplier_at(s, i)) {
      return false;  // "5万" is not 5
    }
    i++;
  }
  if (toks.size() > MAX_TOKENS) return false;
  return true;
}

}  // namespace rlv
