"""Word, command and character tables of the verifier, and the codes of tokens and tree nodes.

Defined once for the Python twin; csrc/tables.cpp defines the C++ side and the binding exports it
(`rlev_fast._verify.tables()`); tests/verify/test_verify_stages.py checks that TABLES below and the
C++ tables are equal, entry by entry and in order. Everything is UTF-8 bytes, written here as
characters.
"""


def _u8(*words):
    return tuple(w.encode("utf-8") for w in words)


# ----------------------------------------------------------------------------- codes
# what the commitment stage (context.py) says about an answer; anything but "ok" makes it wrong
VERDICTS = ("ok", "negated", "retracted", "hedged", "joined", "attached", "question")
(V_OK, V_NEGATED, V_RETRACTED, V_HEDGED, V_JOINED, V_ATTACHED, V_QUESTION) = range(7)

TOKEN_KINDS = ("NUM", "VAR", "PI", "INF", "FUNC", "FRAC", "SQRT", "BINOM", "TEXT", "OP", "LP", "RP", "LB", "RB",
               "LC", "RC", "LS", "RS", "BAR", "COMMA", "SEMI", "SEP", "MATB", "MATE", "AMP", "ROW", "SUB")
(T_NUM, T_VAR, T_PI, T_INF, T_FUNC, T_FRAC, T_SQRT, T_BINOM, T_TEXT, T_OP, T_LP, T_RP, T_LB, T_RB,
 T_LC, T_RC, T_LS, T_RS, T_BAR, T_COMMA, T_SEMI, T_SEP, T_MATB, T_MATE, T_AMP, T_ROW, T_SUB) = range(27)

OPS = ("ADD", "SUB", "MUL", "DIV", "POW", "FACT", "PM", "MP", "EQ", "LT", "GT", "LE", "GE", "NE", "APPROX",
       "IN", "CUP", "CAP", "RATIO", "SIM")
(O_ADD, O_SUB, O_MUL, O_DIV, O_POW, O_FACT, O_PM, O_MP, O_EQ, O_LT, O_GT, O_LE, O_GE, O_NE, O_APPROX,
 O_IN, O_CUP, O_CAP, O_RATIO, O_SIM) = range(20)  # O_SIM: \sim, \propto, \gg ... (a relation, never a value)

NODE_KINDS = ("NUM", "VAR", "PI", "E", "INF", "ADD", "SUB", "MUL", "DIV", "POW", "NEG", "FACT", "FUNC", "PM",
              "ABS", "APPLY", "ROOT", "BINOM", "TUPLE", "SET", "SEQ", "IVL", "UNION", "REL", "EQ", "TEXT",
              "MAT", "CHAIN")
(N_NUM, N_VAR, N_PI, N_E, N_INF, N_ADD, N_SUB, N_MUL, N_DIV, N_POW, N_NEG, N_FACT, N_FUNC, N_PM,
 N_ABS, N_APPLY, N_ROOT, N_BINOM, N_TUPLE, N_SET, N_SEQ, N_IVL, N_UNION, N_REL, N_EQ, N_TEXT,
 N_MAT, N_CHAIN) = range(28)  # N_CHAIN: constants joined by = and \approx (true or not: compare decides)

# ----------------------------------------------------------------------------- text
# unicode forms turned into ASCII before anything else (full-width U+FF01..U+FF5E also, by rule)
UNICODE_FORMS = (
    ("²", "^2"), ("³", "^3"), ("°", ""), ("×", "*"), ("÷", "/"), ("·", "*"), ("−", "-"), ("–", "-"),
    ("≤", "\\le "), ("≥", "\\ge "), ("≠", "\\ne "), ("π", "\\pi "), ("√", "\\sqrt"), ("∞", "\\infty "),
    ("€", ""), ("£", ""), ("¥", ""), ("、", ","), ("。", ". "), ("\u00a0", " "), ("\u2009", " "),
    ("\u202f", " "), ("≈", "\\approx "), ("’", "'"), ("‘", "'"), ("…", "..."),
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
# copulas in prose, then " = " (used only when no word copula is there): what follows is the answer
IS_WORDS = _u8(" is ", " are ", " was ", " equals ", " be ", " = ")
# ", and 5" / ", then 5" do not end an answer the way ", because ..." does
PROSE_CONTINUERS = _u8("and", "then")
# connectors left dangling where prose was cut off ("5, or maybe 6" -> "5")
PROSE_JOINERS = _u8("or", "and")

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
    ("div", O_DIV), ("ast", O_MUL), ("sim", O_SIM), ("simeq", O_SIM), ("equiv", O_EQ), ("propto", O_SIM),
    ("gg", O_SIM), ("ll", O_SIM), ("cong", O_SIM), ("asymp", O_SIM)))
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
# lower-case words that are mathematics, not prose, in an answer written in plain text
MATH_WORDS = FUNCS + WORD_FUNCS + INF_WORDS + _u8("and", "or", "pi", "mod", "max", "min", "gcd", "lcm", "lim", "det")
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

# ----------------------------------------------------------------------------- commitment (context.py)
# Words around an answer that take it back. A rule about the words, not a list of sentences:
#   NEGATORS negate what follows them ("not 5"; "not the answer" negates the answer before it),
#   PREDICATES negate what precedes them ("5 is wrong"), HEDGES offer an alternative ("5 or maybe 6"),
#   RETRACTIONS void the answer before them ("5. Wait, 7"); WEAK_RETRACTIONS only when another
#   candidate follows ("5. Actually, 7"), REFERENCES start a sentence about the answer ("That is wrong"),
#   CLAUSE_WORDS start a new clause ("..., but the answer is 5"), COPULAS make "no" a negator ("no es 5").
# Words the gold answer itself uses ("No", "not possible") never count. ASCII words are matched
# whole and lower-cased; CJK_* entries are matched as substrings, longest first.
NEGATORS = _u8(
    "not", "isn't", "isnt", "aren't", "wasn't", "weren't", "cannot", "can't", "cant", "couldn't", "won't", "wouldn't",
    "shouldn't", "doesn't", "don't", "didn't", "never", "neither", "nor", "none", "ain't", "n't", "unequal",
    "pas", "n'est", "ne", "nicht", "kein", "keine", "keinen", "keinesfalls", "nunca", "non", "não", "nao",
    "не", "Не", "нет", "Нет", "ni")
PREDICATES = _u8(
    "wrong", "incorrect", "false", "invalid", "erroneous", "mistaken", "untrue", "faux", "fausse", "fausses",
    "incorrecte", "falsch", "incorrecto", "incorrecta", "falso", "falsa", "errado", "errada", "erróneo", "errónea",
    "sbagliato", "sbagliata", "неверно", "неверный", "неправильно", "неправильный", "ошибка")
HEDGES = _u8(
    "or", "either", "maybe", "perhaps", "possibly", "alternatively", "otherwise", "unless", "possibility",
    "alternative", "ou", "soit", "sinon", "sonst",
    "peut-être", "oder", "vielleicht", "entweder", "o", "quizás", "quizá", "quizas", "posiblemente", "oppure",
    "forse", "talvez", "или", "либо", "может", "возможно", "Или", "Может", "Возможно")
RETRACTIONS = _u8(
    "wait", "oops", "sorry", "nope", "correction", "scratch", "nevermind", "nein", "attends", "attendez", "warte",
    "espera", "стоп", "подождите", "постойте")
WEAK_RETRACTIONS = _u8(
    "actually", "rather", "instead", "mistake", "eigentlich", "realmente", "réalité", "realidad", "впрочем",
    "точнее")
REFERENCES = _u8("that", "this", "it", "which", "it's", "that's", "this's", "these", "those")
CLAUSE_WORDS = _u8(
    "but", "so", "thus", "hence", "therefore", "since", "because", "then", "while", "although", "though",
    "however", "and", "sondern", "aber", "pero", "sino", "mais", "donc", "ma", "но", "а", "поэтому")
COPULAS = _u8("is", "es", "est", "ist", "era", "son", "sont", "sind", "é", "è", "está", "was", "are")
# multi-word forms: (words, class); the class names are those of the tables above
PHRASES = tuple((tuple(w.encode() for w in words.split()), cls) for words, cls in (
    ("never mind", "RETRACTIONS"), ("just kidding", "RETRACTIONS"), ("on second thought", "RETRACTIONS"),
    ("scratch that", "RETRACTIONS"), ("hold on", "RETRACTIONS"), ("let me correct", "RETRACTIONS"),
    ("i mean", "WEAK_RETRACTIONS"), ("i meant", "WEAK_RETRACTIONS"), ("en fait", "WEAK_RETRACTIONS"),
    ("in fact", "WEAK_RETRACTIONS"), ("one of", "HEDGES"), ("tal vez", "HEDGES"), ("not sure", "HEDGES"), ("also possible", "HEDGES"),
    ("could also", "HEDGES")))
CJK_NEGATORS = _u8("不是", "并非", "並非", "不会是", "不可能是", "不等于", "不等於", "没有", "沒有", "非", "ではない",
                   "じゃない", "ではありません", "아니", "不")
CJK_PREDICATES = _u8("错误", "錯誤", "错的", "錯的", "不对", "不對", "不正确", "不正確", "不成立", "错", "錯", "間違い",
                     "誤り", "틀렸", "틀린")
CJK_HEDGES = _u8("也可能", "或者", "或是", "可能", "还是", "還是", "也许", "也許", "大概", "否则", "否則", "或", "または", "あるいは",
                 "もしくは", "かもしれない", "たぶん", "多分", "또는", "혹은", "아마")
CJK_RETRACTIONS = _u8("不对", "不對", "错了", "錯了", "等等", "等一下", "更正", "纠正", "糾正", "待って", "잠깐")
CJK_WEAK_RETRACTIONS = _u8("其实", "其實", "实际上", "實際上", "実は", "いや")
CJK_REFERENCES = _u8("这个", "這個", "这", "這", "以上", "上面")
CJK_CLAUSE_WORDS = _u8("但是", "但", "所以", "因此", "而是", "因为", "因為", "而")
# invisible format characters: zero-width space / non-joiner / joiner, marks, bidi controls, word
# joiner, invisible operators, BOM, soft hyphen, fillers, variation selectors, tags (code point ranges)
INVISIBLE_RANGES = ((0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
                    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
                    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF))
# after a box, these glue it into a larger expression; before a box, ATTACH_BEFORE_CMDS do
ATTACH_AFTER_CMDS = _u8("cdot", "times", "div", "pm", "mp", "ast", "cdots", "le", "leq", "ge", "geq", "ne", "neq",
                        "approx", "sim", "equiv", "lt", "gt", "prime")
ATTACH_BEFORE_CMDS = _u8("cdot", "times", "div", "pm", "mp", "ast", "sqrt", "frac", "dfrac", "tfrac", "cfrac",
                         "binom", "dbinom", "overline", "not", "neg", "lnot", "log", "ln", "sin", "cos", "tan", "exp")
# number words that scale a value: "5 thousand" is not 5
MULTIPLIER_WORDS = _u8("thousand", "thousands", "million", "millions", "billion", "billions", "trillion",
                       "trillions", "hundred", "hundreds", "dozen", "dozens", "lakh", "lakhs", "crore", "crores",
                       "十", "百", "千", "万", "萬", "亿", "億", "兆")
# unit symbols read as units only when a space separates them from a number and they end the answer
UNIT_SYMBOLS = _u8("J", "kJ", "MJ", "N", "kN", "W", "kW", "MW", "V", "kV", "mV", "K", "Pa", "kPa", "MPa", "Hz", "kHz",
                   "MHz", "GHz", "eV", "keV", "MeV", "GeV", "m", "km", "cm", "mm", "nm", "s", "ms", "ns", "g", "kg",
                   "mg", "L", "mL", "l", "ml", "mol", "h", "min", "A", "mA", "C", "F", "T", "Wb", "lm", "lx", "dB")

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
    "TOKEN_SKIP": TOKEN_SKIP, "NORM_SKIP_CMDS": NORM_SKIP_CMDS, "PROSE_JOINERS": PROSE_JOINERS,
    "MATH_WORDS": MATH_WORDS, "NEGATORS": NEGATORS, "PREDICATES": PREDICATES,
    "HEDGES": HEDGES, "RETRACTIONS": RETRACTIONS, "WEAK_RETRACTIONS": WEAK_RETRACTIONS, "REFERENCES": REFERENCES,
    "CLAUSE_WORDS": CLAUSE_WORDS, "COPULAS": COPULAS, "PHRASES": PHRASES, "CJK_NEGATORS": CJK_NEGATORS,
    "CJK_PREDICATES": CJK_PREDICATES, "CJK_HEDGES": CJK_HEDGES, "CJK_RETRACTIONS": CJK_RETRACTIONS,
    "CJK_WEAK_RETRACTIONS": CJK_WEAK_RETRACTIONS, "CJK_REFERENCES": CJK_REFERENCES,
    "CJK_CLAUSE_WORDS": CJK_CLAUSE_WORDS, "INVISIBLE_RANGES": INVISIBLE_RANGES,
    "ATTACH_AFTER_CMDS": ATTACH_AFTER_CMDS, "ATTACH_BEFORE_CMDS": ATTACH_BEFORE_CMDS,
    "MULTIPLIER_WORDS": MULTIPLIER_WORDS, "UNIT_SYMBOLS": UNIT_SYMBOLS, "VERDICTS": VERDICTS,
}
