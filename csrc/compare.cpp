// Comparison: whether two parsed answers are equal, and the loose text form. Twin of
// rlev_fast/verifier/compare.py.
#include "compare.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "caps.h"
#include "tables.h"
#include "values.h"

namespace rlv {

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
    out.push_back((char)(T[x].kind + 'A'));  // the kind as a letter
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
  if (depth >= MAX_MAT_DEPTH || !(k == N_NEG || k == N_ADD || k == N_SUB || (k == N_MUL && T[e].op == 0))) return false;
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

// The value a chain of = and \approx stands for (its last member: "22/7 \approx 3.14" is 3.14), or -1
// when one of its links is false ("7 = 5", "5 \approx 7").
static int chain_value(Tree& T, int e, Ctx& ctx) {
  const std::vector<int> kids = T[e].kids;  // a copy: comparing may add nodes to T
  const int approx = T[e].op;
  for (size_t i = 0; i + 1 < kids.size(); i++) {
    bool ok = ((approx >> i) & 1) ? approx_true(T, kids[i], kids[i + 1], ctx) : node_eq(T, kids[i], 0, kids[i + 1], 0, ctx);
    if (!ok) return -1;
  }
  return kids.back();
}

bool node_eq(Tree& T, int a, int64_t ma, int b, int64_t mb, Ctx& ctx) {
  ctx.step();
  if (T[a].kind == N_CHAIN && (a = chain_value(T, a, ctx)) < 0) return false;
  if (T[b].kind == N_CHAIN && (b = chain_value(T, b, ctx)) < 0) return false;
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

// Spaces at s[i] separate two digits ("2 3" is not "23"): *apart, and the index after the spaces.
static int64_t digits_apart(const B& out, const B& s, int64_t i, bool* apart) {
  int64_t j = i;
  while (j < len(s) && issp(at(s, j))) j++;
  *apart = !out.empty() && isdig((unsigned char)out.back()) && j < len(s) && isdig(at(s, j));
  return j;
}

B norm_text(const B& s) {
  B out;
  int64_t n = len(s), i = 0;
  while (i < n) {
    int c = at(s, i);
    if (c == '\\') {
      int64_t j = letters_end(s, i + 1, n);
      B name = sub(s, i + 1, j);
      if (j == i + 1) {
        bool skipnext = j < n && !isalp(at(s, j)) && in_chars(at(s, j), ",!;: ");
        i = skipnext ? j + 1 : j;
        if (i == j) out.push_back('\\');
        continue;
      }
      if (in_list(name, TEXT_CMDS) || in_list(name, UNWRAP_CMDS) || in_list(name, NORM_SKIP_CMDS)) {
        i = j;
        continue;
      }
      out += sub(s, i, j);
      i = j;
      continue;
    }
    if (issp(c)) {
      bool apart;
      i = digits_apart(out, s, i, &apart);
      if (apart) out.push_back(' ');
      continue;
    }
    if (c == '{' || c == '}' || c == '$') {
      i++;
      continue;
    }
    out.push_back((char)lowr(c));
    i++;
  }
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

B squeeze(const B& s) {
  B out;
  int64_t i = 0;
  while (i < len(s)) {
    int c = at(s, i);
    if (issp(c)) {
      bool apart;
      i = digits_apart(out, s, i, &apart);
      if (apart) out.push_back(' ');
      continue;
    }
    if (c != '$') out.push_back((char)c);
    i++;
  }
  return out;
}

}  // namespace rlv
