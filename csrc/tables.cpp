// The tables declared in tables.h, written as characters (UTF-8 source). Twin of
// rlev_fast/verifier/tables.py: the same entries in the same order.
#include "tables.h"

namespace rlv {

const char* const TOKEN_KINDS[] = {"NUM", "VAR", "PI", "INF", "FUNC", "FRAC", "SQRT", "BINOM", "TEXT", "OP", "LP",
                                   "RP", "LB", "RB", "LC", "RC", "LS", "RS", "BAR", "COMMA", "SEMI", "SEP", "MATB",
                                   "MATE", "AMP", "ROW", "SUB", nullptr};
const char* const OPS[] = {"ADD", "SUB", "MUL", "DIV", "POW", "FACT", "PM", "MP", "EQ", "LT", "GT", "LE", "GE",
                           "NE", "APPROX", "IN", "CUP", "CAP", "RATIO", nullptr};
const char* const NODE_KINDS[] = {"NUM", "VAR", "PI", "E", "INF", "ADD", "SUB", "MUL", "DIV", "POW",
                                  "NEG", "FACT", "FUNC", "PM", "ABS", "APPLY", "ROOT", "BINOM", "TUPLE", "SET",
                                  "SEQ", "IVL", "UNION", "REL", "EQ", "TEXT", "MAT", "LOG", nullptr};

// ----------------------------------------------------------------------------- text
// unicode forms turned into ASCII before anything else (full-width U+FF01..U+FF5E also, by rule)
const Replacement UNICODE_FORMS[] = {
    {u8"²", "^2"},        {u8"³", "^3"},         {u8"°", ""},          {u8"×", "*"},       {u8"÷", "/"},
    {u8"·", "*"},         {u8"−", "-"},          {u8"–", "-"},         {u8"≤", "\\le "},   {u8"≥", "\\ge "},
    {u8"≠", "\\ne "},     {u8"π", "\\pi "},      {u8"√", "\\sqrt"},    {u8"∞", "\\infty "}, {u8"€", ""},
    {u8"£", ""},          {u8"¥", ""},           {u8"、", ","},        {u8"。", ". "},     {u8"\u00a0", " "},
    {u8"\u2009", " "},    {u8"\u202f", " "},     {u8"≈", "\\approx "}, {nullptr, nullptr}};

// ----------------------------------------------------------------------------- extraction
const char* const BOX_COMMANDS[] = {"\\boxed", "\\fbox", nullptr};
// commands allowed between two answers that are still one answer ("$1$,\quad $2$")
const char* const GAP_SKIP_CMDS[] = {"\\quad", "\\qquad", "\\text", "\\mbox", "\\textbf", "\\,", "\\;", "\\ ",
                                     "\\\\",   "\\(",     "\\)",    "\\[",    "\\]",      "\\!", nullptr};
const char* const AND_CJK = u8"和";
const char* const OR_CJK = u8"或";
const char* const AND_WORDS[] = {"and", u8"和", nullptr};
const char* const OR_WORDS[] = {"or", u8"或", nullptr};
// anchors that introduce the final answer in prose (matched lower-cased); 选 only before a letter
const char* const TEXT_ANCHORS[] = {"answer is", "answer:", "answer :", "option is", "choice is",
                                    u8"答案",    u8"故选",  u8"选",      nullptr};
const int CHOICE_ANCHOR = 7;  // index of 选 in TEXT_ANCHORS
const char* const CJK_COPULAS[] = {u8"是", u8"为", u8"项", nullptr};  // "答案是 B", "答案为 B", "选 B 项"
const char* const IS_WORDS[] = {" is ", " are ", " was ", " equals ", " be ", " = ", nullptr};
// ", and 5" / ", then 5" do not end an answer the way ", because ..." does
const char* const PROSE_CONTINUERS[] = {"and", "then", nullptr};

// ----------------------------------------------------------------------------- multiple choice
const char* const MC_SKIP_CMDS[] = {"text", "textbf", "mathrm", "mathbf", "textrm", "boxed", "fbox", "mbox",
                                    "quad", "qquad", "left", "right", "textnormal", "mathit", "textit", nullptr};
const char* const MC_LEAD[] = {"option", "options", "choice", "choices", "answer", "the", "is", "correct", "are",
                               nullptr};

// ----------------------------------------------------------------------------- tokens
const char* const FUNCS[] = {"sin",  "cos",  "tan",  "sec", "csc", "cot", "arcsin", "arccos", "arctan",
                             "sinh", "cosh", "tanh", "ln",  "log", "exp", "abs",    nullptr};
const char* const SKIP_CMDS[] = {
    "left", "right", "big", "Big", "bigl", "bigr", "Bigl", "Bigr", "bigg", "Bigg", "displaystyle", "quad", "qquad",
    "boxed", "fbox", "dots", "ldots", "cdots", "hline", "limits", "nolimits", "textstyle", "scriptstyle", "mathrm",
    "mathbf", "mathit", "operatorname", "overline", "vec", "hat", "bar", "widehat", "overrightarrow", "mathbb",
    "mathcal", "bf", "rm", "it", "tilde", "circ", "degree", "cr", "underline", "mathsf", "bm", "boldsymbol",
    "text", "textbf", "mbox", "textnormal", "textit", "textrm", "dfrac", "tfrac", "cfrac", "frac", "sqrt",
    "dbinom", "binom", "tbinom", nullptr};
const char* const TEXT_CMDS[] = {"text", "textbf", "mbox", "textnormal", "textit", "textrm", "textsf", "texttt",
                                 nullptr};
const char* const UNWRAP_CMDS[] = {"mathrm", "mathbf", "mathit", "operatorname", "overline", "vec", "hat",
                                   "bar", "widehat", "overrightarrow", "mathbb", "mathcal", "boxed", "fbox",
                                   "tilde", "underline", "mathsf", "bm", "boldsymbol", nullptr};
const char* const MOD_CMDS[] = {"pmod", "bmod", "mod", nullptr};  // congruences: not an answer we compare
// relations and operators written as commands
const NamedOp REL_CMDS[] = {
    {"le", O_LE},     {"leq", O_LE},     {"leqslant", O_LE}, {"ge", O_GE},     {"geq", O_GE},
    {"geqslant", O_GE}, {"ne", O_NE},    {"neq", O_NE},      {"lt", O_LT},     {"gt", O_GT},
    {"approx", O_APPROX}, {"in", O_IN},  {"cup", O_CUP},     {"cap", O_CAP},   {"pm", O_PM},
    {"mp", O_MP},     {"cdot", O_MUL},   {"times", O_MUL},   {"div", O_DIV},   {"ast", O_MUL},
    {"sim", O_APPROX}, {"simeq", O_APPROX}, {"equiv", O_EQ}, {nullptr, 0}};
// LaTeX commands that are one token each
const NamedToken COMMAND_TOKENS[] = {
    {"frac", T_FRAC, 0},     {"dfrac", T_FRAC, 0},      {"tfrac", T_FRAC, 0},      {"cfrac", T_FRAC, 0},
    {"sqrt", T_SQRT, 0},     {"binom", T_BINOM, 0},     {"dbinom", T_BINOM, 0},    {"tbinom", T_BINOM, 0},
    {"pi", T_PI, 0},         {"infty", T_INF, 0},       {"infin", T_INF, 0},       {"infinity", T_INF, 0},
    {"lbrace", T_LS, 0},     {"rbrace", T_RS, 0},       {"langle", T_LP, 0},       {"rangle", T_RP, 0},
    {"vert", T_BAR, 0},      {"lvert", T_BAR, 0},       {"rvert", T_BAR, 0},       {"mid", T_BAR, 0},
    {"colon", T_OP, O_RATIO}, {"to", T_SEP, 0},         {"rightarrow", T_SEP, 0},  {"Rightarrow", T_SEP, 0},
    {"implies", T_SEP, 0},   {"iff", T_SEP, 0},         {"Leftrightarrow", T_SEP, 0}, {"therefore", T_SEP, 0},
    {"because", T_SEP, 0},   {nullptr, 0, 0}};
const char* const UNIT_WORDS[] = {
    "percent", "percentage", "pct", "cm", "mm", "km", "kg", "mg", "ml", "meters", "meter", "metres", "metre",
    "miles", "mile", "feet", "foot", "ft", "inches", "inch", "hours", "hour", "hrs", "minutes", "minute", "mins",
    "seconds", "second", "days", "day", "weeks", "years", "year", "yuan", "dollars", "dollar", "cents", "cent",
    "degrees", "degree", "units", "unit", "sq", "square", "cubic", "grams", "gram", "liters", "liter", "litres",
    "people", "students", "ways", "times", "points", "mph", "kmh", "usd", "rmb", "yards", "yard", "pounds",
    "pound", "lbs", "oz", "ounces", "m^2", "m^3", "s", nullptr};
const char* const WORD_FUNCS[] = {"sqrt", "sin", "cos", "tan", "ln", "log", "exp", nullptr};
const char* const INF_WORDS[] = {"inf", "infinity", "oo", nullptr};
// operator and bracket tokens by their bytes; two-byte operators are matched first ("==" is "=")
const NamedOp TWO_BYTE_OPS[] = {{"!=", O_NE}, {"<=", O_LE}, {"=<", O_LE}, {">=", O_GE}, {"==", O_EQ}, {nullptr, 0}};
const NamedToken ONE_BYTE_TOKENS[] = {
    {"+", T_OP, O_ADD}, {"-", T_OP, O_SUB}, {"*", T_OP, O_MUL}, {"/", T_OP, O_DIV},   {"^", T_OP, O_POW},
    {"!", T_OP, O_FACT}, {"=", T_OP, O_EQ}, {"<", T_OP, O_LT},  {">", T_OP, O_GT},    {":", T_OP, O_RATIO},
    {"(", T_LP, 0},     {")", T_RP, 0},     {"[", T_LB, 0},     {"]", T_RB, 0},       {"{", T_LC, 0},
    {"}", T_RC, 0},     {"|", T_BAR, 0},    {",", T_COMMA, 0},  {";", T_SEMI, 0},     {"&", T_AMP, 0},
    {nullptr, 0, 0}};
// bytes the tokenizer skips: spaces, $, %, ~, quotes, ?, #, `
const char* const TOKEN_SKIP = " \t\n\r\f\v$%~\"?#`";

// ----------------------------------------------------------------------------- comparison
const char* const NORM_SKIP_CMDS[] = {"left", "right", "displaystyle", nullptr};  // dropped by the loose text form

}  // namespace rlv
