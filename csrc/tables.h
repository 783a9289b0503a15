// Word, command and character tables of the verifier, and the codes of tokens and tree nodes. Twin
// of rlev_fast/verifier/tables.py; the binding exports them (rlev_fast._verify.tables()) and
// tests/verify/test_verify_stages.py checks both sides are equal, entry by entry and in order.
// String lists end with nullptr, struct lists with a nullptr name.
#pragma once

namespace rlv {

enum TokenKind {
  T_NUM, T_VAR, T_PI, T_INF, T_FUNC, T_FRAC, T_SQRT, T_BINOM, T_TEXT, T_OP, T_LP, T_RP, T_LB, T_RB,
  T_LC, T_RC, T_LS, T_RS, T_BAR, T_COMMA, T_SEMI, T_SEP, T_MATB, T_MATE, T_AMP, T_ROW, T_SUB
};
enum OpCode {  // O_SIM: \sim, \propto, \gg ... (a relation, never a value)
  O_ADD, O_SUB, O_MUL, O_DIV, O_POW, O_FACT, O_PM, O_MP, O_EQ, O_LT, O_GT, O_LE, O_GE, O_NE, O_APPROX,
  O_IN, O_CUP, O_CAP, O_RATIO, O_SIM
};
enum NodeKind {  // N_CHAIN: constants joined by = and \approx (true or not: compare decides)
  N_NUM, N_VAR, N_PI, N_E, N_INF, N_ADD, N_SUB, N_MUL, N_DIV, N_POW, N_NEG, N_FACT, N_FUNC, N_PM,
  N_ABS, N_APPLY, N_ROOT, N_BINOM, N_TUPLE, N_SET, N_SEQ, N_IVL, N_UNION, N_REL, N_EQ, N_TEXT,
  N_MAT, N_CHAIN
};
// what the commitment stage (context.cpp) says about an answer; anything but V_OK makes it wrong
enum Verdict { V_OK, V_NEGATED, V_RETRACTED, V_HEDGED, V_JOINED, V_ATTACHED, V_QUESTION };
extern const char* const TOKEN_KINDS[];  // names of the codes above, in order
extern const char* const OPS[];
extern const char* const NODE_KINDS[];
extern const char* const VERDICTS[];

struct Replacement {
  const char* from;
  const char* to;
};
struct NamedOp {
  const char* name;
  int op;
};
struct NamedToken {
  const char* name;
  int kind, op;
};
struct Phrase {
  const char* words;  // space-separated, lower case
  const char* table;  // the table whose class it has: "RETRACTIONS", "WEAK_RETRACTIONS", "HEDGES"
};
struct CodeRange {
  unsigned lo, hi;
};

// text
extern const Replacement UNICODE_FORMS[];
// extraction
extern const char* const BOX_COMMANDS[];
extern const char* const GAP_SKIP_CMDS[];
extern const char* const AND_CJK;
extern const char* const OR_CJK;
extern const char* const AND_WORDS[];
extern const char* const OR_WORDS[];
extern const char* const TEXT_ANCHORS[];
extern const int CHOICE_ANCHOR;
extern const char* const CJK_COPULAS[];
extern const char* const IS_WORDS[];
extern const char* const PROSE_CONTINUERS[];
extern const char* const PROSE_JOINERS[];
// multiple choice
extern const char* const MC_SKIP_CMDS[];
extern const char* const MC_LEAD[];
// tokens
extern const char* const FUNCS[];
extern const char* const SKIP_CMDS[];
extern const char* const TEXT_CMDS[];
extern const char* const UNWRAP_CMDS[];
extern const char* const MOD_CMDS[];
extern const NamedOp REL_CMDS[];
extern const NamedToken COMMAND_TOKENS[];
extern const char* const UNIT_WORDS[];
extern const char* const WORD_FUNCS[];
extern const char* const INF_WORDS[];
extern const char* const MATH_WORDS[];
extern const NamedOp TWO_BYTE_OPS[];
extern const NamedToken ONE_BYTE_TOKENS[];
extern const char* const TOKEN_SKIP;
// commitment (context.cpp)
extern const char* const NEGATORS[];
extern const char* const PREDICATES[];
extern const char* const HEDGES[];
extern const char* const RETRACTIONS[];
extern const char* const WEAK_RETRACTIONS[];
extern const char* const REFERENCES[];
extern const char* const CLAUSE_WORDS[];
extern const char* const COPULAS[];
extern const Phrase PHRASES[];
extern const char* const CJK_NEGATORS[];
extern const char* const CJK_PREDICATES[];
extern const char* const CJK_HEDGES[];
extern const char* const CJK_RETRACTIONS[];
extern const char* const CJK_WEAK_RETRACTIONS[];
extern const char* const CJK_REFERENCES[];
extern const char* const CJK_CLAUSE_WORDS[];
extern const CodeRange INVISIBLE_RANGES[];
extern const char* const ATTACH_AFTER_CMDS[];
extern const char* const ATTACH_BEFORE_CMDS[];
extern const char* const MULTIPLIER_WORDS[];
extern const char* const UNIT_SYMBOLS[];
// comparison
extern const char* const NORM_SKIP_CMDS[];

}  // namespace rlv
