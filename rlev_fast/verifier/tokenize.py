"""Tokenizer: an extracted answer (LaTeX or plain text) as a list of tokens. Twin of csrc/tokenize.cpp.

Numbers are exact (num/den) with their decimals and significant digits kept for the decimal rule;
units, spacing and formatting commands are dropped; \\alpha, x_1 and unknown commands are opaque
symbols. None when the answer cannot be tokenized within the caps.
"""
from .caps import MAX_BASE_DIGITS, MAX_DIGITS, MAX_SCI_EXP, MAX_TEXT_DEPTH, MAX_TOKENS
from .rational import reduce
from .scan import brace_map
from .tables import (COMMAND_TOKENS, FUNCS, INF_WORDS, MOD_CMDS, MULTIPLIER_WORDS, ONE_BYTE_TOKENS, PROSE_JOINERS,
                     REL_CMDS, SKIP_CMDS, TEXT_CMDS, TOKEN_SKIP, TWO_BYTE_OPS, UNIT_SYMBOLS, UNIT_WORDS, UNWRAP_CMDS,
                     WORD_FUNCS, T_BAR, T_FUNC, T_INF, T_LS,
                     T_MATB, T_MATE, T_NUM, T_OP, T_PI, T_RB, T_RC, T_ROW, T_RP, T_RS, T_SEP, T_SQRT, T_TEXT, T_VAR)
from .text import (BACKSLASH, BAR, CARET, COMMA, DOT, LBRACE, LOWER_E, MINUS, PLUS, QUOTE, RBRACE, SPACE,
                   UNDERSCORE, UPPER_E, ZERO, isalpha, isdigit, isspace, letters_end, lower_bytes, skip_spaces, strip_ws)

_REL_OPS = dict(REL_CMDS)
_COMMAND_SPECS = {name: (kind, op) for name, kind, op in COMMAND_TOKENS}
_TWO_BYTE = dict(TWO_BYTE_OPS)
_ONE_BYTE = {a[0]: (kind, op) for a, kind, op in ONE_BYTE_TOKENS}


class Tok(object):
    __slots__ = ("kind", "op", "name", "num", "den", "dec", "sig", "raw", "lit")

    def __init__(self, kind, op=0, name=b""):
        self.kind = kind
        self.op = op
        self.name = name
        self.num = 0
        self.den = 1
        self.dec = -1  # digits after the decimal point; -1 = integer literal
        self.sig = 0
        self.raw = b""  # digits of an integer literal (for \frac94 splitting)
        self.lit = False


_THIN_SEPARATORS = (b"{,}", b"{, }", b",\\!", b"\\,", b"\\ ", b"\\;", b"~")


def _group_digits(s, i, n):
    """Where the next group of exactly three digits of a thousands-grouped number starts after
    t[i] ("1,000", "1{,}000", "10\\,000", "1 000"), or -1."""
    q = -1
    if s[i] == COMMA and i + 1 < n and s[i + 1] != SPACE:
        q = i + 1
        if s.startswith(b",\\!", i):
            q = i + 3
    else:
        k = skip_spaces(s, i, n)
        for sep in _THIN_SEPARATORS:
            if s.startswith(sep, k):
                q = k + len(sep)
                break
        if q < 0 and k > i:
            q = k  # a plain space
    if q < 0:
        return -1
    q = skip_spaces(s, q, n)
    if q + 3 > n or not (isdigit(s[q]) and isdigit(s[q + 1]) and isdigit(s[q + 2])):
        return -1
    if q + 3 < n and (isdigit(s[q + 3]) or (s[q + 3] == DOT and s[i] == SPACE)):
        return -1
    return q


def _multiplier_at(s, i):
    """A number word that scales a value starts at s[i] ("thousand", "万")."""
    for w in MULTIPLIER_WORDS:
        if s.startswith(w, i) and (w[0] >= 0x80 or not (i + len(w) < len(s) and isalpha(s[i + len(w)]))):
            return True
    return False


def _unit_tail(s, i, n):
    """s[i:] is a unit and nothing else ("J", "m/s^2", "kg*m/s"): unit symbols or words joined by
    '/', '*', '^' and digits, '.', spaces."""
    seen = False
    while i < n:
        c = s[i]
        if isalpha(c):
            j = letters_end(s, i, n)
            if s[i:j] not in UNIT_SYMBOLS and s[i:j].lower() not in UNIT_WORDS:
                return False
            seen = True
            i = j
        elif c in b" /*^.-{}" or isdigit(c):
            i += 1
        elif s.startswith(b"\\cdot", i):
            i += 5
        else:
            return False
    return seen


def _text_group(g, toks, depth):
    """\\text{...} after a value: a unit is dropped (False); with digits it is read as mathematics
    ("5\\text{, 6}" is the list 5, 6) when it holds only numbers and connectors; "5\\text{ thousand}"
    cannot be compared (None). True when its tokens were appended."""
    if _multiplier_at(lower_bytes(g), 0) or any(_multiplier_at(g, k) for k in range(len(g))):
        return None
    if not any(isdigit(c) for c in g):
        return False
    words = lower_bytes(g).replace(b",", b" ").replace(b".", b" ").split()
    if depth >= MAX_TEXT_DEPTH or any(not w.isdigit() and w not in PROSE_JOINERS for w in words):
        return None
    inner = tokenize(g, depth + 1)
    if inner is None:
        return None
    toks.extend(inner)
    return True


def make_num(intpart, frac):
    """Exact value of digits intpart.frac: (num, den, dec, sig)."""
    digits = intpart + frac
    num = int(digits) if digits else 0
    den = 10 ** len(frac) if frac else 1
    k = 0
    while k < len(digits) and digits[k] == ZERO:
        k += 1
    sig = len(digits) - k
    num, den = reduce(num, den)
    return num, den, (len(frac) if frac is not None and len(frac) > 0 else -1), sig


def read_group(s, i, n, bm):
    """After a command: a braced group {..} -> (content, next) or a single byte / command."""
    while i < n and s[i] == SPACE:
        i += 1
    if i >= n:
        return b"", i
    if s[i] == LBRACE:
        e = bm.get(i, -1)
        if e < 0:
            return None, n
        return s[i + 1:e], e + 1
    if s[i] == BACKSLASH:
        j = letters_end(s, i + 1, n)
        if j == i + 1:
            j += 1
        return s[i:j], j
    return s[i:i + 1], i + 1


def tokenize(s, depth=0):
    """Tokens of a cleaned answer, or None when it cannot be tokenized within the caps."""
    toks = []
    n = len(s)
    bm = brace_map(s)
    i = 0
    while i < n:
        if len(toks) > MAX_TOKENS:
            return None
        c = s[i]
        if c in TOKEN_SKIP:
            i += 1
            continue
        if isdigit(c) or (c == DOT and i + 1 < n and isdigit(s[i + 1])):
            g0 = i
            intpart = bytearray()
            while i < n and isdigit(s[i]):
                intpart.append(s[i])
                i += 1
            first = i - g0
            grouped = False
            while 1 <= first <= 3 and i < n and s[g0] != ZERO:
                q = _group_digits(s, i, n)
                if q < 0:
                    break
                intpart += s[q:q + 3]
                i = q + 3
                grouped = True
            frac = bytearray()
            isdec = False
            if i + 1 < n and s[i] == DOT and isdigit(s[i + 1]):
                isdec = True
                i += 1
                while i < n and isdigit(s[i]):
                    frac.append(s[i])
                    i += 1
            if len(intpart) + len(frac) > MAX_DIGITS:
                return None
            t = Tok(T_NUM)
            t.num, t.den, t.dec, t.sig = make_num(bytes(intpart), bytes(frac))
            if isdec:
                t.dec = len(frac)
            t.lit = True
            if not isdec and not grouped:
                t.raw = bytes(intpart)
            # scientific notation 1.5e10 / 2E-3
            if i < n and (s[i] == LOWER_E or s[i] == UPPER_E):
                q = i + 1
                sg = 1
                if q < n and (s[q] == PLUS or s[q] == MINUS):
                    sg = -1 if s[q] == MINUS else 1
                    q += 1
                q0 = q
                while q < n and isdigit(s[q]) and q - q0 < 6:
                    q += 1
                if q > q0 and not (q < n and (isalpha(s[q]) or isdigit(s[q]))):
                    ex = int(s[q0:q]) * sg
                    if abs(ex) <= MAX_SCI_EXP:
                        if ex >= 0:
                            t.num = t.num * 10 ** ex
                        else:
                            t.den = t.den * 10 ** (-ex)
                        t.num, t.den = reduce(t.num, t.den)
                        t.dec = -1
                        t.lit = False
                        t.raw = b""
                        i = q
            # base subscript 204_5
            if i + 1 < n and s[i] == UNDERSCORE and not isdec:
                sub, j = read_group(s, i + 1, n, bm)
                if sub is not None and len(sub) >= 1 and len(sub) <= 2 and all(isdigit(x) for x in sub):
                    base = int(sub)
                    if 2 <= base <= 36 and len(intpart) <= MAX_BASE_DIGITS and all(x - ZERO < base for x in intpart):
                        t.num = int(bytes(intpart), base)
                        t.den = 1
                        t.raw = b""
                        t.lit = False
                        i = j
            toks.append(t)
            continue
        if c == BACKSLASH:  # command
            j = letters_end(s, i + 1, n)
            name = s[i + 1:j]
            if j == i + 1:  # control symbol
                if j >= n:
                    break
                d = s[j]
                if d == LBRACE:
                    toks.append(Tok(T_LS))
                elif d == RBRACE:
                    toks.append(Tok(T_RS))
                elif d == BACKSLASH:
                    toks.append(Tok(T_ROW))
                elif d == BAR:
                    toks.append(Tok(T_BAR))
                # \, \! \; \: \  \% \$ \# \& and others: spacing / escaped symbols
                i = j + 1
                continue
            i = j
            if name.startswith(b"qquad") and len(name) > 5 and name not in _REL_OPS:
                i = i - (len(name) - 5)
                continue
            if name.startswith(b"quad") and len(name) > 4 and name not in _REL_OPS:
                i = i - (len(name) - 4)
                continue
            if name in TEXT_CMDS:
                g, i = read_group(s, i, n, bm)
                if g is None:
                    return None
                w = strip_ws(g).lower()
                if w == b"and" or w == b"or" or w == b"," or w == b"":
                    if w:
                        toks.append(Tok(T_SEP, 1 if w == b"or" else 0))
                    continue
                prev = toks[-1].kind if toks else -1
                if prev in (T_NUM, T_RP, T_RB, T_RC, T_PI):
                    inline = _text_group(g, toks, depth)
                    if inline is None:
                        return None
                    if inline:
                        continue
                    # a unit after a value: drop it, and a ^2 / ^3 right after it
                    k = i
                    while k < n and s[k] == SPACE:
                        k += 1
                    if k < n and s[k] == CARET:
                        g2, k2 = read_group(s, k + 1, n, bm)
                        if g2 is not None and len(g2) == 1 and isdigit(g2[0]):
                            i = k2
                    continue
                t = Tok(T_TEXT)
                t.name = w
                toks.append(t)
                continue
            if name in _REL_OPS:
                toks.append(Tok(T_OP, _REL_OPS[name]))
                continue
            spec = _COMMAND_SPECS.get(name)
            if spec is not None:
                toks.append(Tok(*spec))
                continue
            if name in FUNCS:
                toks.append(Tok(T_FUNC, 0, name))
                continue
            if name == b"begin" or name == b"end":
                g, i = read_group(s, i, n, bm)
                if g is None:
                    return None
                if g.endswith(b"matrix") or g == b"array":
                    toks.append(Tok(T_MATB if name == b"begin" else T_MATE))
                    if g == b"array" and name == b"begin":  # its column spec
                        g2, i2 = read_group(s, i, n, bm)
                        if g2 is not None:
                            i = i2
                continue
            if name in (b"left", b"right"):
                if i < n and s[i] == DOT:
                    i += 1
                continue
            if name in SKIP_CMDS or name in UNWRAP_CMDS:
                continue
            if name in MOD_CMDS:
                return None
            t = Tok(T_VAR)
            t.name = name  # \alpha, \theta, unknown commands: opaque symbols
            toks.append(t)
            i = attach_sub(s, i, n, t, bm)
            continue
        if isalpha(c):
            j = letters_end(s, i, n)
            w = s[i:j]
            lw = w.lower()
            prev = toks[-1].kind if toks else -1
            if prev in (T_NUM, T_RP, T_RC, T_RB) and (isspace(s[i - 1]) or (j < n and s[j] in b"^/")) \
                    and _unit_tail(s, i, n):
                break  # "1.2e3 J", "9.8 m/s^2": the unit ends the answer
            if _multiplier_at(lw, 0):
                return None
            if j - i >= 2:
                if lw == b"and":
                    toks.append(Tok(T_SEP, 0))
                    i = j
                    continue
                if lw == b"or":
                    toks.append(Tok(T_SEP, 1))
                    i = j
                    continue
                if lw in UNIT_WORDS and prev in (T_NUM, T_RP, T_RC, T_RB):
                    i = j
                    if i < n and s[i] == CARET and i + 1 < n and isdigit(s[i + 1]):
                        i += 2
                    continue
                if lw in WORD_FUNCS:
                    toks.append(Tok(T_SQRT) if lw == b"sqrt" else Tok(T_FUNC, 0, lw))
                    i = j
                    continue
                if lw == b"pi":
                    toks.append(Tok(T_PI))
                    i = j
                    continue
                if lw in INF_WORDS:
                    toks.append(Tok(T_INF))
                    i = j
                    continue
            # single letters (LaTeX reads "xy" as x*y)
            for k in range(i, j):
                t = Tok(T_VAR)
                t.name = s[k:k + 1]
                toks.append(t)
            i = j
            if toks:
                i = attach_sub(s, i, n, toks[-1], bm)
            continue
        if c == CARET and (s.startswith(b"^\\circ", i) or s.startswith(b"^{\\circ}", i)):
            i += 6 if s[i + 1] == BACKSLASH else 8  # ^\circ / ^{\circ}: degrees, dropped
            continue
        op2 = _TWO_BYTE.get(s[i:i + 2])
        if op2 is not None:
            toks.append(Tok(T_OP, op2))
            i += 2
            continue
        spec = _ONE_BYTE.get(c)
        if spec is not None:
            toks.append(Tok(*spec))
        elif c == UNDERSCORE:
            # a stray subscript (after ')' etc.): skip its group
            g, i = read_group(s, i + 1, n, bm)
            if g is None:
                return None
            continue
        elif c == QUOTE:
            if toks and toks[-1].kind == T_VAR:
                toks[-1].name = toks[-1].name + b"'"
        elif c >= 0x80 and _multiplier_at(s, i):
            return None  # "5万" is not 5
        # any other byte (non-ASCII text, punctuation) is dropped
        i += 1
    if len(toks) > MAX_TOKENS:
        return None
    return toks


def attach_sub(s, i, n, t, bm):
    """x_1, x_{12}, F_{n-k-1}, x': appended to a variable's name (an opaque symbol)."""
    if t.kind != T_VAR:
        return i
    while i < n and (s[i] == UNDERSCORE or s[i] == QUOTE):
        if s[i] == QUOTE:
            t.name = t.name + b"'"
            i += 1
            continue
        g, j = read_group(s, i + 1, n, bm)
        if g is None:
            return n
        t.name = t.name + b"_" + bytes(x for x in g if not isspace(x))
        i = j
    return i
