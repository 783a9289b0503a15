// The tables declared in tables.h, written as characters (UTF-8 source). Twin of
// rlev_fast/verifier/tables.py: the same entries in the same order.
#include "tables.h"

namespace rlv {

const char* const TOKEN_KINDS[] = {"NUM", "VAR", "PI", "INF", "FUNC", "FRAC", "SQRT", "BINOM", "TEXT", "OP", "LP",
                                   "RP", "LB", "RB", "LC", "RC", "LS", "RS", "BAR", "COMMA", "SEMI", "SEP", "MATB",
                                   "MATE", "AMP", "ROW", "SUB", nullptr};
const char* const OPS[] = {"ADD", "SUB", "MUL", "DIV", "POW", "FACT", "PM", "MP", "EQ", "LT", "GT", "LE", "GE",
                           "NE", "APPROX", "IN", "CUP", "CAP", "RATIO", "SIM", nullptr};
const char* const NODE_KINDS[] = {"NUM", "VAR", "PI", "E", "INF", "ADD", "SUB", "MUL", "DIV", "POW",
                                  "NEG", "FACT", "FUNC", "PM", "ABS", "APPLY", "ROOT", "BINOM", "TUPLE", "SET",
                                  "SEQ", "IVL", "UNION", "REL", "EQ", "TEXT", "MAT", "CHAIN", nullptr};
const char* const VERDICTS[] = {"ok", "negated", "retracted", "hedged", "joined", "attached", "question", nullptr};

// ----------------------------------------------------------------------------- text
// unicode forms turned into ASCII before anything else (full-width U+FF01..U+FF5E also, by rule)
const Replacement UNICODE_FORMS[] = {
    {u8"²", "^2"},        {u8"³", "^3"},         {u8"°", ""},          {u8"×", "*"},       {u8"÷", "/"},
    {u8"·", "*"},         {u8"−", "-"},          {u8"–", "-"},         {u8"≤", "\\le "},   {u8"≥", "\\ge "},
    {u8"≠", "\\ne "},     {u8"π", "\\pi "},      {u8"√", "\\sqrt"},    {u8"∞", "\\infty "}, {u8"€", ""},
    {u8"£", ""},          {u8"¥", ""},           {u8"、", ","},        {u8"。", ". "},     {u8"\u00a0", " "},
    {u8"\u2009", " "},    {u8"\u202f", " "},     {u8"≈", "\\approx "}, {u8"’", "'"},       {u8"‘", "'"},
    {u8"…", "..."},       {nullptr, nullptr}};

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
// copulas in prose, then " = " (used only when no word copula is there): what follows is the answer
const char* const IS_WORDS[] = {" is ", " are ", " was ", " equals ", " be ", " = ", nullptr};
// ", and 5" / ", then 5" do not end an answer the way ", because ..." does
const char* const PROSE_CONTINUERS[] = {"and", "then", nullptr};
// connectors left dangling where prose was cut off ("5, or maybe 6" -> "5")
const char* const PROSE_JOINERS[] = {"or", "and", nullptr};

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
    {"sim", O_SIM},   {"simeq", O_SIM},  {"equiv", O_EQ},   {"propto", O_SIM}, {"gg", O_SIM},
    {"ll", O_SIM},    {"cong", O_SIM},   {"asymp", O_SIM},  {nullptr, 0}};
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
// lower-case words that are mathematics, not prose, in an answer written in plain text (FUNCS,
// WORD_FUNCS, INF_WORDS and a few more, in that order)
const char* const MATH_WORDS[] = {
    "sin", "cos", "tan", "sec", "csc", "cot", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "ln", "log", "exp",
    "abs", "sqrt", "sin", "cos", "tan", "ln", "log", "exp", "inf", "infinity", "oo", "and", "or", "pi", "mod", "max",
    "min", "gcd", "lcm", "lim", "det", nullptr};
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

// ----------------------------------------------------------------------------- commitment (context.cpp)
// Words around an answer that take it back (see rlev_fast/verifier/tables.py for the classes).
// ASCII words are matched whole and lower-cased; CJK_* entries as substrings, longest first.
const char* const NEGATORS[] = {
    "not", "isn't", "isnt", "aren't", "wasn't", "weren't", "cannot", "can't", "cant", "couldn't", "won't", "wouldn't",
    "shouldn't", "doesn't", "don't", "didn't", "never", "neither", "nor", "none", "ain't", "n't", "unequal",
    "pas", "n'est", "ne", "nicht", "kein", "keine", "keinen", "keinesfalls", "nunca", "non", u8"não", "nao",
    u8"не", u8"Не", u8"нет", u8"Нет", "ni", nullptr};
const char* const PREDICATES[] = {
    "wrong", "incorrect", "false", "invalid", "erroneous", "mistaken", "untrue", "faux", "fausse", "fausses",
    "incorrecte", "falsch", "incorrecto", "incorrecta", "falso", "falsa", "errado", "errada", u8"erróneo", u8"errónea",
    "sbagliato", "sbagliata", u8"неверно", u8"неверный", u8"неправильно", u8"неправильный", u8"ошибка", nullptr};
const char* const HEDGES[] = {
    "or", "either", "maybe", "perhaps", "possibly", "alternatively", "otherwise", "unless", "possibility",
    "alternative", "ou", "soit", "sinon", "sonst",
    u8"peut-être", "oder", "vielleicht", "entweder", "o", u8"quizás", u8"quizá", "quizas", "posiblemente", "oppure",
    "forse", "talvez", u8"или", u8"либо", u8"может", u8"возможно", u8"Или", u8"Может", u8"Возможно", nullptr};
const char* const RETRACTIONS[] = {
    "wait", "oops", "sorry", "nope", "correction", "scratch", "nevermind", "nein", "attends", "attendez", "warte",
    "espera", u8"стоп", u8"подождите", u8"постойте", nullptr};
const char* const WEAK_RETRACTIONS[] = {"actually", "rather", "instead", "mistake", "eigentlich", "realmente",
                                        u8"réalité", "realidad", u8"впрочем", u8"точнее", nullptr};
const char* const REFERENCES[] = {"that", "this", "it", "which", "it's", "that's", "this's", "these", "those", nullptr};
const char* const CLAUSE_WORDS[] = {
    "but", "so", "thus", "hence", "therefore", "since", "because", "then", "while", "although", "though",
    "however", "and", "sondern", "aber", "pero", "sino", "mais", "donc", "ma", u8"но", u8"а", u8"поэтому", nullptr};
const char* const COPULAS[] = {"is", "es", "est", "ist", "era", "son", "sont", "sind", u8"é", u8"è", u8"está", "was",
                               "are", nullptr};
const Phrase PHRASES[] = {
    {"never mind", "RETRACTIONS"}, {"just kidding", "RETRACTIONS"}, {"on second thought", "RETRACTIONS"},
    {"scratch that", "RETRACTIONS"}, {"hold on", "RETRACTIONS"}, {"let me correct", "RETRACTIONS"},
    {"i mean", "WEAK_RETRACTIONS"}, {"i meant", "WEAK_RETRACTIONS"}, {"en fait", "WEAK_RETRACTIONS"},
    {"in fact", "WEAK_RETRACTIONS"}, {"one of", "HEDGES"}, {"tal vez", "HEDGES"}, {"not sure", "HEDGES"},
    {"also possible", "HEDGES"}, {"could also", "HEDGES"}, {nullptr, nullptr}};
const char* const CJK_NEGATORS[] = {u8"不是", u8"并非", u8"並非", u8"不会是", u8"不可能是", u8"不等于", u8"不等於", u8"没有",
                                    u8"沒有", u8"非", u8"ではない", u8"じゃない", u8"ではありません", u8"아니", u8"不", nullptr};
const char* const CJK_PREDICATES[] = {u8"错误", u8"錯誤", u8"错的", u8"錯的", u8"不对", u8"不對", u8"不正确", u8"不正確",
                                      u8"不成立", u8"错", u8"錯", u8"間違い", u8"誤り", u8"틀렸", u8"틀린", nullptr};
const char* const CJK_HEDGES[] = {u8"也可能", u8"或者", u8"或是", u8"可能", u8"还是", u8"還是", u8"也许", u8"也許",
                                  u8"大概", u8"否则", u8"否則", u8"或", u8"または", u8"あるいは", u8"もしくは", u8"かもしれない", u8"たぶん",
                                  u8"多分", u8"또는", u8"혹은", u8"아마", nullptr};
const char* const CJK_RETRACTIONS[] = {u8"不对", u8"不對", u8"错了", u8"錯了", u8"等等", u8"等一下", u8"更正", u8"纠正",
                                       u8"糾正", u8"待って", u8"잠깐", nullptr};
const char* const CJK_WEAK_RETRACTIONS[] = {u8"其实", u8"其實", u8"实际上", u8"實際上", u8"実は", u8"いや", nullptr};
const char* const CJK_REFERENCES[] = {u8"这个", u8"這個", u8"这", u8"這", u8"以上", u8"上面", nullptr};
const char* const CJK_CLAUSE_WORDS[] = {u8"但是", u8"但", u8"所以", u8"因此", u8"而是", u8"因为", u8"因為", u8"而", nullptr};
// invisible format characters: zero-width space / non-joiner / joiner, marks, bidi controls, word
// joiner, invisible operators, BOM, soft hyphen, fillers, variation selectors, tags (code point ranges)
const CodeRange INVISIBLE_RANGES[] = {{0x00AD, 0x00AD}, {0x034F, 0x034F}, {0x061C, 0x061C}, {0x115F, 0x1160},
                                      {0x17B4, 0x17B5}, {0x180B, 0x180F}, {0x200B, 0x200F}, {0x202A, 0x202E},
                                      {0x2060, 0x206F}, {0x3164, 0x3164}, {0xFE00, 0xFE0F}, {0xFEFF, 0xFEFF},
                                      {0xFFA0, 0xFFA0}, {0x1D173, 0x1D17A}, {0xE0000, 0xE0FFF}, {0, 0}};
// after a box, these glue it into a larger expression; before a box, ATTACH_BEFORE_CMDS do
const char* const ATTACH_AFTER_CMDS[] = {"cdot", "times", "div", "pm", "mp", "ast", "cdots", "le", "leq", "ge", "geq",
                                         "ne", "neq", "approx", "sim", "equiv", "lt", "gt", "prime", nullptr};
const char* const ATTACH_BEFORE_CMDS[] = {"cdot", "times", "div", "pm", "mp", "ast", "sqrt", "frac", "dfrac", "tfrac",
                                          "cfrac", "binom", "dbinom", "overline", "not", "neg", "lnot", "log", "ln",
                                          "sin", "cos", "tan", "exp", nullptr};
// number words that scale a value: "5 thousand" is not 5
const char* const MULTIPLIER_WORDS[] = {
    "thousand", "thousands", "million", "millions", "billion", "billions", "trillion", "trillions", "hundred",
    "hundreds", "dozen", "dozens", "lakh", "lakhs", "crore", "crores", u8"十", u8"百", u8"千", u8"万", u8"萬", u8"亿",
    u8"億", u8"兆", nullptr};
// unit symbols read as units only when a space separates them from a number and they end the answer
const char* const UNIT_SYMBOLS[] = {
    "J", "kJ", "MJ", "N", "kN", "W", "kW", "MW", "V", "kV", "mV", "K", "Pa", "kPa", "MPa", "Hz", "kHz", "MHz", "GHz",
    "eV", "keV", "MeV", "GeV", "m", "km", "cm", "mm", "nm", "s", "ms", "ns", "g", "kg", "mg", "L", "mL", "l", "ml",
    "mol", "h", "min", "A", "mA", "C", "F", "T", "Wb", "lm", "lx", "dB", nullptr};

// ----------------------------------------------------------------------------- comparison
const char* const NORM_SKIP_CMDS[] = {"left", "right", "displaystyle", nullptr};  // dropped by the loose text form

}  // namespace rlv
