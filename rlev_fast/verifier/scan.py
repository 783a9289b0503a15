"""Scanning the text: matched braces, \\boxed{} spans, math regions, connectors between answers,
plain-text numbers and sentence ends. Every scan is linear in the text (a thousand unbalanced
\\boxed{ or unclosed \\( cost one pass). Twin of csrc/scan.cpp.

Spans are tuples (start, end_exclusive, content_start, content_end).
"""
import re

from .caps import MAX_AND_GAP, MAX_DIGITS, MAX_ELEMS, MAX_GAP
from .tables import AND_WORDS, BOX_COMMANDS, GAP_SKIP_CMDS, OR_WORDS
from .text import (BACKSLASH, BANG, BAR, CARET, COMMA, DOLLAR, DOT, LBRACE, LBRACKET, LESS, LPAREN, MINUS,
                   NEWLINE, QMARK, RBRACE, SLASH, SPACE, UNDERSCORE, ZERO, isalpha, isdigit, isspace, lower, skip_spaces)

_BRACE_RE = re.compile(b"\\\\.|[{}]", re.S)


def brace_map(t):
    """{position of '{': position of its '}'} in one pass; a backslash escapes the next byte.

    Linear, so that thousands of unbalanced \\boxed{ cannot make extraction quadratic.
    """
    res = {}
    stack = []
    for m in _BRACE_RE.finditer(t):
        c = t[m.start()]
        if c == LBRACE:
            stack.append(m.start())
        elif c == RBRACE:
            if stack:
                res[stack.pop()] = m.start()
    return res


def find_boxes(t):
    """Outermost \\boxed{...} / \\fbox{...}: list of (start, end_exclusive, content_start, content_end)."""
    bm = None
    res = []
    n = len(t)
    i = 0
    while i < n:
        j = t.find(b"\\", i)
        if j < 0:
            break
        k = -1
        for cmd in BOX_COMMANDS:
            if t.startswith(cmd, j):
                k = j + len(cmd)
                break
        if k < 0:
            i = j + 1
            continue
        while k < n and t[k] == SPACE:
            k += 1
        if k < n and t[k] == LBRACE:
            if bm is None:
                bm = brace_map(t)
            e = bm.get(k, -1)
            if e < 0:
                i = k + 1
                continue
            res.append((j, e + 1, k + 1, e))
            i = e + 1
        else:
            i = k
    return res


_REG_CAND = re.compile(b"[$\\\\]")


def _next(t, pat, i, cache):
    """First position >= i of pat, remembered in cache[0] (-1: none left) so that a thousand
    unclosed \\( do not each rescan the text."""
    c = cache[0]
    if c == -1:
        return -1
    if c < i:
        c = t.find(pat, i)
        cache[0] = c
    return c


def find_regions(t):
    """Math regions $..$, $$..$$, \\(..\\), \\[..\\]: list of (start, end_excl, cs, ce).

    Inline $..$ and \\(..\\) may not span a newline. Linear time.
    """
    res = []
    n = len(t)
    i = 0
    c_dd = [-2]
    c_par = [-2]
    c_brk = [-2]
    c_nl = [-2]
    while i < n:
        m = _REG_CAND.search(t, i)
        if m is None:
            break
        i = m.start()
        c = t[i]
        if c == DOLLAR and (i == 0 or t[i - 1] != BACKSLASH):
            if i + 1 < n and t[i + 1] == DOLLAR:
                e = _next(t, b"$$", i + 2, c_dd)
                if e < 0:
                    i += 2
                    continue
                res.append((i, e + 2, i + 2, e))
                i = e + 2
                continue
            j = i + 1
            e = -1
            while j < n:
                d = t[j]
                if d == NEWLINE:
                    break
                if d == DOLLAR and t[j - 1] != BACKSLASH:
                    e = j
                    break
                j += 1
            if e < 0 or e == i + 1:
                i += 1
                continue
            res.append((i, e + 1, i + 1, e))
            i = e + 1
            continue
        if c == BACKSLASH and i + 1 < n and (t[i + 1] == LPAREN or t[i + 1] == LBRACKET):
            if t[i + 1] == LPAREN:
                e = _next(t, b"\\)", i + 2, c_par)
                bad = e < 0
                if not bad:
                    nl = _next(t, b"\n", i + 2, c_nl)
                    bad = 0 <= nl < e
            else:
                e = _next(t, b"\\]", i + 2, c_brk)
                bad = e < 0
            if bad:
                i += 2
                continue
            res.append((i, e + 2, i + 2, e))
            i = e + 2
            continue
        i += 1
    return res


def gap_kind(t, a, b):
    """Text between two answers: 0 = not a connector, 1 = connector, 2 = connector with 'or'."""
    if b - a > MAX_GAP:
        return 0
    words = bytearray()
    i = a
    while i < b:
        c = t[i]
        if c == BACKSLASH:
            hit = False
            for cmd in GAP_SKIP_CMDS:
                if t.startswith(cmd, i) and i + len(cmd) <= b:
                    i += len(cmd)
                    hit = True
                    break
            if hit:
                continue
            return 0
        if c < 0x80 and not isalpha(c) and not isdigit(c):
            words.append(SPACE)  # punctuation and symbols: "$1$, $2$", "\\boxed{35} ++ \\boxed{4}"
            i += 1
            continue
        words.append(lower(c))
        i += 1
    ws = bytes(words).split()
    if not ws:
        return 1
    has_and = False
    has_or = False
    other = False
    for w in ws:
        if w in AND_WORDS:
            has_and = True
        elif w in OR_WORDS:
            has_or = True
        else:
            other = True
    if has_or:
        return 0 if other else 2  # "or possibly" is a hedge between two answers, not a list
    if has_and and b - a <= MAX_AND_GAP:
        return 1
    return 0


def join_parts(parts, has_or):
    return (b" or " if has_or else b", ").join(parts)


def sentence_end(t, p, lim):
    n = min(len(t), p + lim)
    i = p
    while i < n:
        c = t[i]
        if c == NEWLINE:
            return i
        if c == LESS and i + 1 < n and t[i + 1] == BAR:  # "<|"
            return i
        if (c == DOT or c == BANG or c == QMARK) and (i + 1 >= len(t) or isspace(t[i + 1])):
            return i
        i += 1
    return n


_TIMES = (b"\\times", b"\\cdot", b"*")


def scan_number(t, p, n):
    """A plain-text number at t[p]: (end, normalized bytes) or None.

    Thousands separators (',' or ' ' or '{,}' before exactly 3 digits), decimal point or decimal
    comma (1-2 digits, or after a leading 0), a '/b' fraction, a leading '-'.
    """
    i = p
    out = bytearray()
    if i < n and t[i] == MINUS:
        out.append(MINUS)
        i += 1
    if i < n and t[i] == DOT and i + 1 < n and isdigit(t[i + 1]):
        out += b"0"
    elif not (i < n and isdigit(t[i])):
        return None
    g0 = i
    while i < n and isdigit(t[i]):
        out.append(t[i])
        i += 1
    first = i - g0
    thousands = False
    while first >= 1 and first <= 3 and i < n and t[g0] != ZERO:
        sep = 0
        if t[i] == COMMA or t[i] == SPACE:
            sep = 1
        elif t.startswith(b"{,}", i):
            sep = 3
        if sep == 0 or i + sep + 3 > n:
            break
        q = i + sep
        if not (isdigit(t[q]) and isdigit(t[q + 1]) and isdigit(t[q + 2])):
            break
        if q + 3 < n and isdigit(t[q + 3]):
            break
        if t[i] == SPACE and not thousands and (t[g0] == ZERO):
            break
        out += t[q:q + 3]
        i = q + 3
        thousands = True
    decimal = False
    if i + 1 < n and t[i] == DOT and isdigit(t[i + 1]):
        out.append(DOT)
        i += 1
        while i < n and isdigit(t[i]):
            out.append(t[i])
            i += 1
        decimal = True
    elif not thousands and i + 1 < n and t[i] == COMMA and isdigit(t[i + 1]):
        q = i + 1
        while q < n and isdigit(t[q]):
            q += 1
        nd = q - (i + 1)
        if (nd <= 2 or (first == 1 and t[g0] == ZERO)) and not (q < n and t[q] == COMMA and q + 1 < n and isdigit(t[q + 1])):
            out.append(DOT)
            out += t[i + 1:q]
            i = q
            decimal = True
    if not decimal and i + 1 < n and t[i] == SLASH and isdigit(t[i + 1]):
        out.append(SLASH)
        i += 1
        while i < n and isdigit(t[i]):
            out.append(t[i])
            i += 1
    else:
        e = _exponent_end(t, i, n)  # 1.2e3, 10^6, 10^{-3}, 1.5 \times 10^{3}
        if e > i:
            out += t[i:e]
            i = e
    if len(out) > MAX_DIGITS:
        return None
    return i, bytes(out)


def _signed_digits(t, j, n):
    """(start, end) of the digits after an optional sign at t[j] (start == end: none)."""
    if j < n and t[j] in b"+-":
        j += 1
    k = j
    while j < n and isdigit(t[j]):
        j += 1
    return k, j


def _power_end(t, i, n):
    """End of "^6" / "^{-3}" at t[i] (digits only), else i."""
    if i + 1 < n and t[i] == CARET:
        if isdigit(t[i + 1]):
            return _signed_digits(t, i + 1, n)[1]
        if t[i + 1] == LBRACE:
            k, j = _signed_digits(t, i + 2, n)
            if j > k and j < n and t[j] == RBRACE:
                return j + 1
    return i


def _exponent_end(t, i, n):
    """End of the exponent part after a number at t[i]: e3 / E-5 (no letter after), a power, or
    "\\times 10^{k}" / "\\cdot 10^k" / "*10^k"; i when there is none."""
    if i + 1 < n and t[i] in b"eE":
        k, j = _signed_digits(t, i + 1, n)
        return j if j > k and not (j < n and isalpha(t[j])) else i
    e = _power_end(t, i, n)
    if e > i:
        return e
    j = skip_spaces(t, i, n)
    for op in _TIMES:
        if t.startswith(op, j):
            k = skip_spaces(t, j + len(op), n)
            if t.startswith(b"10", k):
                e = _power_end(t, k + 2, n)
                if e > k + 2:
                    return e
    return i


def last_number(t, a, b):
    """The last plain number in t[a:b] that does not start inside a word: (start, end, bytes)."""
    best = None
    i = a
    while i < b:
        c = t[i]
        if isdigit(c) or ((c == MINUS or c == DOT) and i + 1 < b and isdigit(t[i + 1])):
            prev = t[i - 1] if i > 0 else SPACE
            if isalpha(prev) or isdigit(prev) or prev == UNDERSCORE or prev == DOT or prev == BACKSLASH or prev == CARET:
                # inside a word / a number / a command / an exponent: skip the whole run
                s0 = i
                while i < b and (isdigit(t[i]) or isalpha(t[i])):
                    i += 1
                if i == s0:
                    i += 1
                continue
            r = scan_number(t, i, b)
            if r is None or r[0] <= i:
                i += 1
                continue
            best = (i, r[0], r[1])
            i = r[0]
            continue
        i += 1
    return best


def group_back(t, boxes, k):
    """Spans boxes[j..k] (boxes or math regions) joined by connector gaps: (j, answer bytes)."""
    parts = [t[boxes[k][2]:boxes[k][3]]]
    has_or = False
    j = k
    while j > 0 and len(parts) < MAX_ELEMS:
        g = gap_kind(t, boxes[j - 1][1], boxes[j][0])
        if g == 0:
            break
        has_or = has_or or g == 2
        j -= 1
        parts.append(t[boxes[j][2]:boxes[j][3]])
    parts.reverse()
    return j, join_parts(parts, has_or)


def region_group_fwd(t, regions, k, lim):
    """regions[k..j] joined forward while they start before lim: (answer bytes, j)."""
    parts = [t[regions[k][2]:regions[k][3]]]
    has_or = False
    j = k
    while j + 1 < len(regions) and regions[j + 1][0] < lim and len(parts) < MAX_ELEMS:
        g = gap_kind(t, regions[j][1], regions[j + 1][0])
        if g == 0:
            break
        has_or = has_or or g == 2
        j += 1
        parts.append(t[regions[j][2]:regions[j][3]])
    return join_parts(parts, has_or), j
