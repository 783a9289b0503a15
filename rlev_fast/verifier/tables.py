"""Word, command and character tables of the verifier, and the codes of tokens and tree nodes.

Defined once for the Python twin; csrc/tables.cpp defines the C++ side and the binding exports it
(`rlev_fast._verify.tables()`); tests/verify/test_verify_stages.py checks that TABLES below and the
C++ tables are equal, entry by entry and in order. Everything is UTF-8 bytes, written here as
characters.
"""


def _u8(*words):
    return tuple(w.encode("utf-8") for w in words)


# ----------------------------------------------------------------------------- codes
TOKEN_KINDS = ("NUM", "VAR", "PI", "INF", "FUNC", "FRAC", "SQRT", "BINOM", "TEXT", "OP", "LP", "RP", "LB", "RB",
               "LC", "RC", "LS", "RS", "BAR", "COMMA", "SEMI", "SEP", "MATB", "MATE", "AMP", "ROW", "SUB")
(T_NUM, T_VAR, T_PI, T_INF, T_FUNC, T_FRAC, T_SQRT, T_BINOM, T_TEXT, T_OP, T_LP, T_RP, T_LB, T_RB,
 T_LC, T_RC, T_LS, T_RS, T_BAR, T_COMMA, T_SEMI, T_SEP, T_MATB, T_MATE, T_AMP, T_ROW, T_SUB) = range(27)

OPS = ("ADD", "SUB", "MUL", "DIV", "POW", "FACT", "PM", "MP", "EQ", "LT", "GT", "LE", "GE", "NE", "APPROX",
       "IN", "CUP", "CAP", "RATIO")
(O_ADD, O_SUB, O_MUL, O_DIV, O_POW, O_FACT, O_PM, O_MP, O_EQ, O_LT, O_GT, O_LE, O_GE, O_NE, O_APPROX,
 O_IN, O_CUP, O_CAP, O_RATIO) = range(19)

NODE_KINDS = ("NUM", "VAR", "PI", "E", "INF", "ADD", "SUB", "MUL", "DIV", "POW", "NEG", "FACT", "FUNC", "PM",
              "ABS", "APPLY", "ROOT", "BINOM", "TUPLE", "SET", "SEQ", "IVL", "UNION", "REL", "EQ", "TEXT",
              "MAT", "LOG")
(N_NUM, N_VAR, N_PI, N_E, N_INF, N_ADD, N_SUB, N_MUL, N_DIV, N_POW, N_NEG, N_FACT, N_FUNC, N_PM,
 N_ABS, N_APPLY, N_ROOT, N_BINOM, N_TUPLE, N_SET, N_SEQ, N_IVL, N_UNION, N_REL, N_EQ, N_TEXT,
 N_MAT, N_LOG) = range(28)

# ----------------------------------------------------------------------------- text
# unicode forms turned into ASCII before anything else (full-width U+FF01..U+FF5E also, by rule)
UNICODE_FORMS = (
    ("²", "^2"), ("³", "^3"), ("°", ""), ("×", "*"), ("÷", "/"), ("·", "*"), ("−", "-"), ("–", "-"),
    ("≤", "\\le "), ("≥", "\\ge "), ("≠", "\\ne "), ("π", "\\pi "), ("√", "\\sqrt"), ("∞", "\\infty "),
    ("€", ""), ("£", ""), ("¥", ""), ("、", ","), ("。", ". "), ("\u00a0", " "), ("\u2009", " "),
    ("\u202f", " "), ("≈", "\\approx "),
)
UNICODE_FORMS_B = tuple((a.encode("utf-8"), b.encode("ascii")) for a, b in UNICODE_FORMS)

# ----------------------------------------------------------------------------- extraction
BOX_COMMANDS = _u8("\\boxed", "\\fbox")
# commands allowed between two answers that are still one answer ("$1$,\quad $2$")
GAP_SKIP_CMDS = _u8("\\quad", "\\qquad", "\\text", "\\mbox", "\\textbf", "\\,", "\\;", "\\ ", "\\\\", "\\(",
                    "\\)", "\\[", "\\]", "\\!")
AND_CJK, OR_CJK = "和".encode(), "或".encode()
AND_WORDS = (b"and", AND_CJK)
OR_WORDS = (b"or", OR_CJK)
# anchors that introduce the final answer in prose (matched lower-cased); 选 only before a letter
TEXT_ANCHORS = _u8("answer is", "answer:", "answer :", "option is", "choice is", "答案", "故选", "选")
CHOICE_ANCHOR = 7  # index of 选 in TEXT_ANCHORS
CJK_COPULAS = _u8("是", "为", "项")  # "答案是 B", "答案为 B", "选 B 项"
IS_WORDS = _u8(" is ", " are ", " was ", " equals ", " be ", " = ")
# ", and 5" / ", then 5" do not end an answer the way ", because ..." does
PROSE_CONTINUERS = _u8("and", "then")

# ----------------------------------------------------------------------------- multiple choice
MC_SKIP_CMDS = _u8("text", "textbf", "mathrm", "mathbf", "textrm", "boxed", "fbox", "mbox", "quad", "qquad",
                   "left", "right", "textnormal", "mathit", "textit")
MC_LEAD = _u8("option", "options", "choice", "choices", "answer", "the", "is", "correct", "are")

# ----------------------------------------------------------------------------- tokens
FUNCS = _u8("sin", "cos", "tan", "sec", "csc", "cot", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "ln",
            "log", "exp", "abs")
SKIP_CMDS = _u8("left", "right", "big", "Big", "bigl", "bigr", "Bigl", "Bigr", "bigg", "Bigg", "displaystyle",
                "quad", "qquad", "boxed", "fbox", "dots", "ldots", "cdots", "hline", "limits", "nolimits",
                "textstyle", "scriptstyle", "mathrm", "mathbf", "mathit", "operatorname", "overline", "vec", "hat",
                "bar", "widehat", "overrightarrow", "mathbb", "mathcal", "bf", "rm", "it", "tilde", "circ", "degree",
                "cr", "underline", "mathsf", "bm", "boldsymbol", "text", "textbf", "mbox", "textnormal", "textit",
                "textrm", "dfrac", "tfrac", "cfrac", "frac", "sqrt", "dbinom", "binom", "tbinom")
TEXT_CMDS = _u8("text", "textbf", "mbox", "textnormal", "textit", "textrm", "textsf", "texttt")
UNWRAP_CMDS = _u8("mathrm", "mathbf", "mathit", "operatorname", "overline", "vec", "hat", "bar", "widehat",
                  "overrightarrow", "mathbb", "mathcal", "boxed", "fbox", "tilde", "underline", "mathsf", "bm",
                  "boldsymbol")
MOD_CMDS = _u8("pmod", "bmod", "mod")  # congruences: not an answer we can compare
# relations and operators written as commands: (name, operator code)
REL_CMDS = tuple((n.encode(), op) for n, op in (
    ("le", O_LE), ("leq", O_LE), ("leqslant", O_LE), ("ge", O_GE), ("geq", O_GE), ("geqslant", O_GE),
    ("ne", O_NE), ("neq", O_NE), ("lt", O_LT), ("gt", O_GT), ("approx", O_APPROX), ("in", O_IN),
    ("cup", O_CUP), ("cap", O_CAP), ("pm", O_PM), ("mp", O_MP), ("cdot", O_MUL), ("times", O_MUL),
    ("div", O_DIV), ("ast", O_MUL), ("sim", O_APPROX), ("simeq", O_APPROX), ("equiv", O_EQ)))
# LaTeX commands that are one token each: (name, token kind, operator code)
COMMAND_TOKENS = tuple((n.encode(), k, op) for n, k, op in (
    ("frac", T_FRAC, 0), ("dfrac", T_FRAC, 0), ("tfrac", T_FRAC, 0), ("cfrac", T_FRAC, 0), ("sqrt", T_SQRT, 0),
    ("binom", T_BINOM, 0), ("dbinom", T_BINOM, 0), ("tbinom", T_BINOM, 0), ("pi", T_PI, 0), ("infty", T_INF, 0),
    ("infin", T_INF, 0), ("infinity", T_INF, 0), ("lbrace", T_LS, 0), ("rbrace", T_RS, 0), ("langle", T_LP, 0),
    ("rangle", T_RP, 0), ("vert", T_BAR, 0), ("lvert", T_BAR, 0), ("rvert", T_BAR, 0), ("mid", T_BAR, 0),
    ("colon", T_OP, O_RATIO), ("to", T_SEP, 0), ("rightarrow", T_SEP, 0), ("Rightarrow", T_SEP, 0),
    ("implies", T_SEP, 0), ("iff", T_SEP, 0), ("Leftrightarrow", T_SEP, 0), ("therefore", T_SEP, 0),
    ("because", T_SEP, 0)))
UNIT_WORDS = _u8("percent", "percentage", "pct", "cm", "mm", "km", "kg", "mg", "ml", "meters", "meter", "metres",
                 "metre", "miles", "mile", "feet", "foot", "ft", "inches", "inch", "hours", "hour", "hrs", "minutes",
                 "minute", "mins", "seconds", "second", "days", "day", "weeks", "years", "year", "yuan", "dollars",
                 "dollar", "cents", "cent", "degrees", "degree", "units", "unit", "sq", "square", "cubic", "grams",
                 "gram", "liters", "liter", "litres", "people", "students", "ways", "times", "points", "mph", "kmh",
                 "usd", "rmb", "yards", "yard", "pounds", "pound", "lbs", "oz", "ounces", "m^2", "m^3", "s")
WORD_FUNCS = _u8("sqrt", "sin", "cos", "tan", "ln", "log", "exp")
INF_WORDS = _u8("inf", "infinity", "oo")
# operator and bracket tokens by their bytes; two-byte operators are matched first ("==" is "=")
TWO_BYTE_OPS = tuple((a.encode(), op) for a, op in (("!=", O_NE), ("<=", O_LE), ("=<", O_LE), (">=", O_GE),
                                                     ("==", O_EQ)))
ONE_BYTE_TOKENS = tuple((a.encode(), k, op) for a, k, op in (
    ("+", T_OP, O_ADD), ("-", T_OP, O_SUB), ("*", T_OP, O_MUL), ("/", T_OP, O_DIV), ("^", T_OP, O_POW),
    ("!", T_OP, O_FACT), ("=", T_OP, O_EQ), ("<", T_OP, O_LT), (">", T_OP, O_GT), (":", T_OP, O_RATIO),
    ("(", T_LP, 0), (")", T_RP, 0), ("[", T_LB, 0), ("]", T_RB, 0), ("{", T_LC, 0), ("}", T_RC, 0),
    ("|", T_BAR, 0), (",", T_COMMA, 0), (";", T_SEMI, 0), ("&", T_AMP, 0)))
# bytes the tokenizer skips: spaces, $, %, ~, quotes, ?, #, `
TOKEN_SKIP = b" \t\n\r\f\v$%~\"?#`"

# ----------------------------------------------------------------------------- comparison
NORM_SKIP_CMDS = _u8("left", "right", "displaystyle")  # dropped by the loose text form, like TEXT_CMDS

TABLES = {
    "TOKEN_KINDS": TOKEN_KINDS, "OPS": OPS, "NODE_KINDS": NODE_KINDS, "UNICODE_FORMS": UNICODE_FORMS_B,
    "BOX_COMMANDS": BOX_COMMANDS, "GAP_SKIP_CMDS": GAP_SKIP_CMDS, "AND_WORDS": AND_WORDS, "OR_WORDS": OR_WORDS,
    "TEXT_ANCHORS": TEXT_ANCHORS, "CHOICE_ANCHOR": CHOICE_ANCHOR, "CJK_COPULAS": CJK_COPULAS, "IS_WORDS": IS_WORDS,
    "PROSE_CONTINUERS": PROSE_CONTINUERS, "MC_SKIP_CMDS": MC_SKIP_CMDS, "MC_LEAD": MC_LEAD, "FUNCS": FUNCS,
    "SKIP_CMDS": SKIP_CMDS, "TEXT_CMDS": TEXT_CMDS, "UNWRAP_CMDS": UNWRAP_CMDS, "MOD_CMDS": MOD_CMDS,
    "REL_CMDS": REL_CMDS, "COMMAND_TOKENS": COMMAND_TOKENS, "UNIT_WORDS": UNIT_WORDS, "WORD_FUNCS": WORD_FUNCS,
    "INF_WORDS": INF_WORDS, "TWO_BYTE_OPS": TWO_BYTE_OPS, "ONE_BYTE_TOKENS": ONE_BYTE_TOKENS,
    "TOKEN_SKIP": TOKEN_SKIP, "NORM_SKIP_CMDS": NORM_SKIP_CMDS,
}
