// Parser: tokens into an expression tree. Twin of rlev_fast/verifier/parse.py: recursive descent
// with a depth cap (MAX_DEPTH), a node cap (MAX_NODES) and a tree-depth cap (MAX_AST_DEPTH).
#include "parse.h"

#include <utility>

#include "caps.h"
#include "tables.h"
#include "tokenize.h"

namespace rlv {

bool int_lit(Tree& T, int e) { return T[e].kind == N_NUM && T[e].lit && T[e].dec < 0; }

bool name_like(Tree& T, int e) {
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

bool has_var(Tree& T, int e) { return any_below(T, e, is_var_kind); }

bool arith(Tree& T, int e) { return !any_below(T, e, is_container); }

// No variables and no containers below e (an arithmetic constant).
bool is_const(Tree& T, int e) {
  return !any_below(T, e, [](int k) { return is_var_kind(k) || is_container(k); });
}

namespace {

struct Parser {
  bool strict = false;  // a response: constant-first chains must hold (an answer key is trusted)
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
           tk->op == O_APPROX || tk->op == O_IN || tk->op == O_SIM)) {
        i++;
        ops.push_back(tk->op);
        exprs.push_back(parse_union());
        if (ops.size() > MAX_CHAIN) throw ParseError();
      } else {
        break;
      }
    }
    return reduce_chain(exprs, ops);
  }

  // A chain of relations (see reduce_chain in parse.py for the rules and their reasons).
  int reduce_chain(const std::vector<int>& exprs, const std::vector<int>& ops) {
    if (ops.empty()) return exprs[0];
    const size_t n = ops.size();
    bool alleq = true, sim = false;
    for (int o : ops) {
      if (!(o == O_EQ || o == O_APPROX)) alleq = false;
      if (o == O_SIM) sim = true;
    }
    if (alleq) {
      if (name_like(*T, exprs[0])) {
        std::vector<int> values(exprs.begin() + 1, exprs.end()), rest(ops.begin() + 1, ops.end());
        int e = node(N_EQ, {exprs[0], derived(values, rest)});
        (*T)[e].op = 1;
        return e;
      }
      if (n == 1 && name_like(*T, exprs[1]) && !has_var(*T, exprs[0])) {
        int e = node(N_EQ, {exprs[1], exprs[0]});
        (*T)[e].op = 1;
        return e;
      }
      bool vars = false;
      for (int x : exprs) vars = vars || has_var(*T, x);
      if (vars) {
        if (n == 1 && ops[0] == O_EQ) return node(N_EQ, {exprs[0], exprs[1]});
        if (!strict) return derived(exprs, ops);  // an answer key "1 = \zzz = x = 0" stands for 0
      }
      int approx = 0;
      for (size_t q = 0; q < n; q++)
        if (ops[q] == O_APPROX) approx |= 1 << q;
      int e = node(N_CHAIN, exprs);
      (*T)[e].op = approx;  // bit q: link q is \approx
      return e;
    }
    if (sim) {
      if (n != 1) throw ParseError();
      return node(N_REL, {exprs[0], exprs[1]}, O_SIM);
    }
    if (n == 1 && ops[0] == O_IN) return exprs[1];
    if (n == 2 && name_like(*T, exprs[1])) {
      bool lt = (ops[0] == O_LT || ops[0] == O_LE) && (ops[1] == O_LT || ops[1] == O_LE);
      bool gt = (ops[0] == O_GT || ops[0] == O_GE) && (ops[1] == O_GT || ops[1] == O_GE);
      if (lt) return between(exprs[0], exprs[1], exprs[2], ops[0] == O_LE, ops[1] == O_LE);
      if (gt) return between(exprs[2], exprs[1], exprs[0], ops[1] == O_GE, ops[0] == O_GE);
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

  // the value a derivation stands for: the one before its first \approx, else the last
  static int derived(const std::vector<int>& values, const std::vector<int>& ops) {
    for (size_t q = 0; q < ops.size(); q++)
      if (ops[q] == O_APPROX) return values[q];
    return values.back();
  }

  // lo < name < hi as an interval; lo <= |z| <= hi as [-hi, -lo] U [lo, hi]
  int between(int lo, int name, int hi, bool lo_closed, bool hi_closed) {
    int iv = node(N_IVL, {lo, hi});
    (*T)[iv].op = (lo_closed ? 1 : 0) | (hi_closed ? 2 : 0);
    if ((*T)[name].kind != N_ABS) return iv;
    int nhi = node(N_NEG, {hi});
    int nlo = node(N_NEG, {lo});
    int neg = node(N_IVL, {nhi, nlo});
    (*T)[neg].op = (hi_closed ? 1 : 0) | (lo_closed ? 2 : 0);
    return node(N_UNION, {neg, iv});
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
      } else if (starts_factor(tk) && tk->kind != T_NUM) {
        // juxtaposition is a product only where mathematics writes one: never before a number
        // ("2 3" is neither 6 nor 23), so a number before a symbol or a bracket (2x, 2(3), 2\pi)
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
      a = factorials(node(N_POW, {a, b}));
    }
    return a;
  }

  int parse_postfix() { return factorials(parse_primary()); }

  // a!, a!! ...: every "!" that follows
  int factorials(int a) {
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
      first.q.n = Big((int64_t)(tk->raw[0] - '0'));
      first.q.d = Big(1);
      first.lit = true;
      first.sig = (tk->raw[0] - '0') ? 1 : 0;
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

}  // namespace

int parse(Tree& T, const B& ans, bool strict) {
  if (len(ans) > MAX_ANSWER) return -1;
  std::vector<Tok> toks;
  if (!tokenize(ans, &toks) || toks.empty()) return -1;
  Parser p;
  p.strict = strict;
  p.t = std::move(toks);
  p.T = &T;
  try {
    return p.parse_answer();
  } catch (ParseError&) {
    return -1;
  }
}

}  // namespace rlv
