// rlev_fast._verify.stages: each stage of the C++ verifier on its own, with the same inputs and the
// same outputs as rlev_fast/verifier/stages.py, so that tests/verify/test_verify_stages.py can check
// the twins stage by stage (not only end to end). Also the caps and tables, exported for the test
// that checks both sides define the same ones.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "caps.h"
#include "choice.h"
#include "compare.h"
#include "context.h"
#include "extract.h"
#include "tables.h"
#include "tokenize.h"

namespace py = pybind11;

namespace {

using rlv::B;

py::list str_list(const char* const* lst) {
  py::list out;
  for (int i = 0; lst[i]; i++) out.append(py::bytes(lst[i]));
  return out;
}

py::list op_list(const rlv::NamedOp* lst) {
  py::list out;
  for (int i = 0; lst[i].name; i++) out.append(py::make_tuple(py::bytes(lst[i].name), lst[i].op));
  return out;
}

py::list token_list(const rlv::NamedToken* lst) {
  py::list out;
  for (int i = 0; lst[i].name; i++)
    out.append(py::make_tuple(py::bytes(lst[i].name), lst[i].kind, lst[i].op));
  return out;
}

py::list name_list(const char* const* lst) {
  py::list out;
  for (int i = 0; lst[i]; i++) out.append(py::str(lst[i]));
  return out;
}

py::dict caps() {
  py::dict d;
#define CAP(name) d[#name] = rlv::name
  CAP(MAX_SCAN), CAP(MAX_ANSWER), CAP(MAX_SPAN), CAP(MAX_TOKENS), CAP(MAX_DEPTH), CAP(MAX_AST_DEPTH);
  CAP(MAX_NODES), CAP(MAX_DIGITS), CAP(MAX_BITS), CAP(MAX_EXP), CAP(MAX_FACT), CAP(MAX_FACT_DOUBLE);
  CAP(MAX_BINOM_K), CAP(MAX_SCI_EXP), CAP(MAX_BASE_DIGITS), CAP(MAX_ELEMS), CAP(MAX_MAT_CELLS), CAP(MAX_MAT_DEPTH);
  CAP(MAX_CHAIN), CAP(MAX_PM), CAP(MAX_STEPS), CAP(MAX_ANCHOR_TRIES), CAP(MAX_ANCHOR_HITS), CAP(MAX_BOLD_SPANS);
  CAP(MAX_GAP), CAP(MAX_AND_GAP), CAP(MAX_BOLD), CAP(MAX_SHORT_FORMULA), CAP(MAX_SHORT_TEXT);
  CAP(MAX_CHOICE_LETTERS), CAP(FIXED), CAP(MAX_LEAD), CAP(MAX_TAIL), CAP(MAX_EARLIER_BOXES), CAP(MAX_TEXT_DEPTH);
  CAP(MIN_SIG_DIGITS), CAP(NPOINTS), CAP(MIN_POINTS), CAP(RESOLUTION), CAP(MAX_THREADS);
#undef CAP
  return d;
}

py::dict tables() {
  py::dict d;
  d["TOKEN_KINDS"] = name_list(rlv::TOKEN_KINDS);
  d["OPS"] = name_list(rlv::OPS);
  d["NODE_KINDS"] = name_list(rlv::NODE_KINDS);
  d["VERDICTS"] = name_list(rlv::VERDICTS);
  py::list uni;
  for (int i = 0; rlv::UNICODE_FORMS[i].from; i++)
    uni.append(py::make_tuple(py::bytes(rlv::UNICODE_FORMS[i].from), py::bytes(rlv::UNICODE_FORMS[i].to)));
  d["UNICODE_FORMS"] = uni;
  d["BOX_COMMANDS"] = str_list(rlv::BOX_COMMANDS);
  d["GAP_SKIP_CMDS"] = str_list(rlv::GAP_SKIP_CMDS);
  d["AND_WORDS"] = str_list(rlv::AND_WORDS);
  d["OR_WORDS"] = str_list(rlv::OR_WORDS);
  d["TEXT_ANCHORS"] = str_list(rlv::TEXT_ANCHORS);
  d["CHOICE_ANCHOR"] = rlv::CHOICE_ANCHOR;
  d["CJK_COPULAS"] = str_list(rlv::CJK_COPULAS);
  d["IS_WORDS"] = str_list(rlv::IS_WORDS);
  d["PROSE_CONTINUERS"] = str_list(rlv::PROSE_CONTINUERS);
  d["MC_SKIP_CMDS"] = str_list(rlv::MC_SKIP_CMDS);
  d["MC_LEAD"] = str_list(rlv::MC_LEAD);
  d["FUNCS"] = str_list(rlv::FUNCS);
  d["SKIP_CMDS"] = str_list(rlv::SKIP_CMDS);
  d["TEXT_CMDS"] = str_list(rlv::TEXT_CMDS);
  d["UNWRAP_CMDS"] = str_list(rlv::UNWRAP_CMDS);
  d["MOD_CMDS"] = str_list(rlv::MOD_CMDS);
  d["REL_CMDS"] = op_list(rlv::REL_CMDS);
  d["COMMAND_TOKENS"] = token_list(rlv::COMMAND_TOKENS);
  d["UNIT_WORDS"] = str_list(rlv::UNIT_WORDS);
  d["WORD_FUNCS"] = str_list(rlv::WORD_FUNCS);
  d["INF_WORDS"] = str_list(rlv::INF_WORDS);
  d["TWO_BYTE_OPS"] = op_list(rlv::TWO_BYTE_OPS);
  d["ONE_BYTE_TOKENS"] = token_list(rlv::ONE_BYTE_TOKENS);
  d["TOKEN_SKIP"] = py::bytes(rlv::TOKEN_SKIP);
  d["NORM_SKIP_CMDS"] = str_list(rlv::NORM_SKIP_CMDS);
  d["PROSE_JOINERS"] = str_list(rlv::PROSE_JOINERS);
  d["MATH_WORDS"] = str_list(rlv::MATH_WORDS);
  d["NEGATORS"] = str_list(rlv::NEGATORS);
  d["PREDICATES"] = str_list(rlv::PREDICATES);
  d["HEDGES"] = str_list(rlv::HEDGES);
  d["RETRACTIONS"] = str_list(rlv::RETRACTIONS);
  d["WEAK_RETRACTIONS"] = str_list(rlv::WEAK_RETRACTIONS);
  d["REFERENCES"] = str_list(rlv::REFERENCES);
  d["CLAUSE_WORDS"] = str_list(rlv::CLAUSE_WORDS);
  d["COPULAS"] = str_list(rlv::COPULAS);
  py::list phrases;
  for (int i = 0; rlv::PHRASES[i].words; i++) {
    py::list words;
    B w;
    for (const char* c = rlv::PHRASES[i].words;; c++) {
      if (*c == ' ' || *c == 0) {
        words.append(py::bytes(w));
        w.clear();
        if (*c == 0) break;
      } else {
        w.push_back(*c);
      }
    }
    phrases.append(py::make_tuple(py::tuple(words), py::str(rlv::PHRASES[i].table)));
  }
  d["PHRASES"] = phrases;
  d["CJK_NEGATORS"] = str_list(rlv::CJK_NEGATORS);
  d["CJK_PREDICATES"] = str_list(rlv::CJK_PREDICATES);
  d["CJK_HEDGES"] = str_list(rlv::CJK_HEDGES);
  d["CJK_RETRACTIONS"] = str_list(rlv::CJK_RETRACTIONS);
  d["CJK_WEAK_RETRACTIONS"] = str_list(rlv::CJK_WEAK_RETRACTIONS);
  d["CJK_REFERENCES"] = str_list(rlv::CJK_REFERENCES);
  d["CJK_CLAUSE_WORDS"] = str_list(rlv::CJK_CLAUSE_WORDS);
  py::list ranges;
  for (int i = 0; rlv::INVISIBLE_RANGES[i].hi; i++)
    ranges.append(py::make_tuple(rlv::INVISIBLE_RANGES[i].lo, rlv::INVISIBLE_RANGES[i].hi));
  d["INVISIBLE_RANGES"] = ranges;
  d["ATTACH_AFTER_CMDS"] = str_list(rlv::ATTACH_AFTER_CMDS);
  d["ATTACH_BEFORE_CMDS"] = str_list(rlv::ATTACH_BEFORE_CMDS);
  d["MULTIPLIER_WORDS"] = str_list(rlv::MULTIPLIER_WORDS);
  d["UNIT_SYMBOLS"] = str_list(rlv::UNIT_SYMBOLS);
  return d;
}

py::tuple token_tuple(const rlv::Tok& t) {
  return py::make_tuple(t.kind, t.op, py::bytes(t.name), rlv::to_decimal(t.q.n), rlv::to_decimal(t.q.d), t.dec,
                        t.sig, py::bytes(t.raw), t.lit);
}

py::object tree_tuple(rlv::Tree& T, int e, int depth) {
  const rlv::Node& nd = T[e];
  py::list kids;
  if (depth < rlv::MAX_AST_DEPTH + 8)
    for (int k : nd.kids) kids.append(tree_tuple(T, k, depth + 1));
  return py::make_tuple(nd.kind, nd.op, py::bytes(nd.name), rlv::to_decimal(nd.q.n), rlv::to_decimal(nd.q.d), nd.dec,
                        nd.sig, nd.lit, py::tuple(kids));
}

py::object stage_extract(py::bytes text, bool is_gold) {
  B t = text;
  rlv::Extracted X;
  if (!rlv::extract_from(t, is_gold, &X)) return py::none();
  py::list boxes;
  for (const rlv::Span& s : X.boxes) boxes.append(py::make_tuple(s.s, s.e, s.cs, s.ce));
  return py::make_tuple(py::bytes(X.ans), boxes, X.first_in_group, X.a0, X.a1, X.how);
}

// the commitment verdict on prepared response text against a gold answer, None when it has no answer
py::object stage_context(py::bytes text, py::bytes gold) {
  B t = text, ans;
  rlv::Extracted X;
  if (!rlv::answer_of(t, false, &X, &ans)) return py::none();
  return py::int_(rlv::judge(t, X, B(gold)));
}

py::object stage_tokenize(py::bytes text) {
  std::vector<rlv::Tok> toks;
  if (!rlv::tokenize(B(text), &toks)) return py::none();
  py::list out;
  for (const rlv::Tok& t : toks) out.append(token_tuple(t));
  return out;
}

py::object stage_parse(py::bytes text, bool strict) {
  rlv::Tree T;
  int r = rlv::parse(T, B(text), strict);
  if (r < 0) return py::none();
  return tree_tuple(T, r, 0);
}

// (exact (num, den) or None, the (value, bound) pairs at the NPOINTS points), None when it does not
// parse, "abort" past MAX_STEPS
py::object stage_evaluate(py::bytes text) {
  rlv::Tree T;
  int r = rlv::parse(T, B(text), true);
  if (r < 0) return py::none();
  rlv::Ctx ctx;
  try {
    rlv::Q q;
    py::object exact = py::none();
    if (rlv::eval_q(T, r, 0, ctx, &q)) exact = py::make_tuple(rlv::to_decimal(q.n), rlv::to_decimal(q.d));
    py::list vals;
    for (int j = 0; j < rlv::NPOINTS; j++) {
      rlv::V v = rlv::eval_v(T, r, j, 0, ctx);
      vals.append(py::make_tuple(v.v, v.e));
    }
    return py::make_tuple(exact, vals);
  } catch (rlv::Abort&) {
    return py::str("abort");
  }
}

// node_eq of two answers' trees: True / False, None when either does not parse, "abort" past MAX_STEPS
py::object stage_compare(py::bytes gold, py::bytes answer) {
  rlv::Tree T;
  int g = rlv::parse(T, B(gold), false);
  int p = rlv::parse(T, B(answer), true);
  if (g < 0 || p < 0) return py::none();
  rlv::Ctx ctx;
  try {
    return py::bool_(rlv::node_eq(T, g, 0, p, 0, ctx));
  } catch (rlv::Abort&) {
    return py::str("abort");
  }
}

}  // namespace

void add_stages(py::module_& m) {
  m.def("caps", &caps, "the caps of csrc/caps.h by name");
  m.def("tables", &tables, "the tables of csrc/tables.cpp by name");
  py::module_ s = m.def_submodule("stages", "each stage of the C++ verifier alone (for the parity tests)");
  s.def("normalize", [](py::bytes t) { return py::bytes(rlv::normalize_text(B(t))); });
  s.def("prepare", [](py::bytes t) -> py::object {
    B out;
    if (!rlv::prepare_response(B(t), &out)) return py::none();
    return py::bytes(out);
  });
  s.def("extract", &stage_extract, py::arg("text"), py::arg("is_gold"));
  s.def("context", &stage_context, py::arg("text"), py::arg("gold"));
  s.def("mc_letters", [](py::bytes t, bool strict) -> py::object {
    uint32_t mask;
    bool hedge;
    if (!rlv::mc_letters(B(t), strict, &mask, &hedge)) return py::none();
    return py::make_tuple(mask, hedge);
  });
  s.def("tokenize", &stage_tokenize);
  s.def("parse", &stage_parse, py::arg("text"), py::arg("strict"));
  s.def("evaluate", &stage_evaluate);
  s.def("compare", &stage_compare, py::arg("gold"), py::arg("answer"));
  s.def("norm_text", [](py::bytes t) { return py::bytes(rlv::norm_text(B(t))); });
}
