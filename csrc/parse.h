// Parser and expression tree (twin of rlev_fast/verifier/parse.py).
#pragma once

#include <utility>
#include <vector>

#include "rational.h"
#include "tables.h"
#include "text.h"

namespace rlv {

struct ParseError {};

struct Node {
  int kind = 0;           // N_* (tables.h)
  std::vector<int> kids;  // children (indices into the Tree)
  int op = 0;             // operator, interval ends, name=value flag, or the index of a \pm
  B name;                 // variable, function or text
  Q q;                    // the exact value of a number
  int dec = -1;           // digits after the decimal point of a literal; -1 = integer
  int sig = 0;            // significant digits of a literal
  bool lit = false;       // a plain literal; for \pm: minus first (\mp)
  int depth = 1;          // height of the subtree
};

// all nodes of both answers of one verify() call; nodes refer to each other by index
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

inline bool is_container(int k) {
  return k == N_TUPLE || k == N_SET || k == N_SEQ || k == N_IVL || k == N_UNION || k == N_REL || k == N_EQ ||
         k == N_TEXT || k == N_MAT || k == N_CHAIN;
}
inline bool is_var_kind(int k) { return k == N_VAR || k == N_APPLY; }

// Whether e or a node below it has a kind that `pred` accepts.
template <class Pred>
bool any_below(Tree& T, int e, Pred pred) {
  std::vector<int> st{e};
  while (!st.empty()) {
    int x = st.back();
    st.pop_back();
    if (pred(T[x].kind)) return true;
    for (int y : T[x].kids) st.push_back(y);
  }
  return false;
}

bool int_lit(Tree& T, int e);    // an integer literal
bool name_like(Tree& T, int e);  // x, f(x), xy, x/y, (x, y), |x|: what stands left of "x = 5"
bool is_const(Tree& T, int e);   // no variables and no containers below e
bool has_var(Tree& T, int e);    // a variable (or a function applied) below e
bool arith(Tree& T, int e);      // no containers below e (an arithmetic expression)
// the root of the answer's tree (nodes added to T), or -1 past a cap or on a syntax error;
// strict: the answer is a response's (a chain that starts with a constant must hold)
int parse(Tree& T, const B& ans, bool strict);

}  // namespace rlv
