"""Pure-Python twin of the C++ answer verifier (csrc/verify.cpp).

Same semantics, same caps, same order of normalization: the C++ file is a line-by-line port of
this one, and tests/verify/test_verify_parity.py checks that both give the same answer on every case.
It works on UTF-8 bytes (lone surrogates encoded with "surrogatepass") so both sides see the same
input and the same byte offsets. No regular expressions on hostile input, no recursion without a
depth cap, no sympy: exact rationals are pairs of Python ints kept under MAX_BITS bits (the C++
side uses its own small bigint), everything else is IEEE double evaluated in the same order.

Entry points (bytes in, bytes/bool out): extract(bytes) -> bytes | None, verify(resp, gold) -> bool.
The public API with str arguments lives in rlev_fast/verify.py.
"""
import math
import re

# ----------------------------------------------------------------------------- caps
MAX_SCAN = 65536  # bytes of the response (after </think>) that are scanned, from the end
MAX_ANSWER = 4096  # bytes of an extracted answer that are parsed
MAX_SPAN = 512  # bytes of prose after an "answer is" anchor
MAX_TOKENS = 1024
MAX_DEPTH = 48  # parser nesting depth (groups, unary signs, exponents)
MAX_AST_DEPTH = 200  # depth of the expression tree (1+1+...+1 is a left-deep chain)
MAX_NODES = 2048
MAX_DIGITS = 2000  # digits of one number literal
MAX_BITS = 8192  # bits of an exact numerator / denominator
MAX_EXP = 100000  # |integer exponent| tried exactly
MAX_FACT = 1000  # n! computed exactly up to this n (and under MAX_BITS)
MAX_ELEMS = 64  # elements of a set / tuple that are compared
MAX_MAT_CELLS = 64  # cells of a matrix in matrix arithmetic (sums, scalings, products)
MAX_PM = 4  # \pm signs expanded per expression (2**4 variants)
MAX_STEPS = 200000  # evaluation steps per verify() call
MAX_ANCHOR_TRIES = 64
FIXED = 1 << 16  # mask flag: the \\pm signs of this element are chosen (bits 0..MAX_PM-1)
NPOINTS = 4  # random points for symbolic comparison
RTOL = 1e-9
ATOL = 1e-12

# ----------------------------------------------------------------------------- helpers


class _Abort(Exception):
    """A cap was hit: the item is judged on what is left (usually: not equal)."""


def _isdigit(c):
    return 48 <= c <= 57


def _isalpha(c):
    return (65 <= c <= 90) or (97 <= c <= 122)


def _isspace(c):
    return c == 32 or c == 9 or c == 10 or c == 13 or c == 12 or c == 11


def _lower(c):
    return c + 32 if 65 <= c <= 90 else c


# unicode forms turned into ASCII before anything else (same table in C++)
_UNI = [
    ("\u00b2", "^2"), ("\u00b3", "^3"), ("\u00b0", ""), ("\u00d7", "*"), ("\u00f7", "/"),
    ("\u00b7", "*"), ("\u2212", "-"), ("\u2013", "-"), ("\u2264", "\\le "), ("\u2265", "\\ge "),
    ("\u2260", "\\ne "), ("\u03c0", "\\pi "), ("\u221a", "\\sqrt"), ("\u221e", "\\infty "),
    ("\u20ac", ""), ("\u00a3", ""), ("\u00a5", ""), ("\u3001", ","), ("\u3002", ". "),
    ("\u00a0", " "), ("\u2009", " "), ("\u202f", " "), ("\u2248", "\\approx "),
]
_UNI_B = [(a.encode("utf-8"), b.encode("ascii")) for a, b in _UNI]


_UNI_MAP = dict(_UNI_B)
_NORM_RE = re.compile(
    b"\\xef\\xbc[\\x81-\\xbf]|\\xef\\xbd[\\x80-\\x9e]|"
    + b"|".join(re.escape(a) for a, _ in _UNI_B)
    + b"|(?<!\\\\)\\\\\\\\(?=[A-Za-z])"
)


def _norm_sub(m):
    g = m.group(0)
    if g[0] == 0xEF:
        cp = 0xF000 | ((g[1] & 0x3F) << 6) | (g[2] & 0x3F)
        return bytes([cp - 0xFF01 + 0x21])
    if g[0] == 92:
        return b"\\"
    return _UNI_MAP[g]


def normalize_text(t):
    """Full-width forms (U+FF01..U+FF5E) to ASCII, the table above, `\\\\cmd` -> `\\cmd`.

    One left-to-right pass (the C++ port is the equivalent byte loop).
    """
    return _NORM_RE.sub(_norm_sub, t)


def _lower_bytes(t):
    return t.lower()  # ASCII only, like the C++ loop


# ----------------------------------------------------------------------------- scanning


_BRACE_RE = re.compile(b"\\\\.|[{}]", re.S)


def brace_map(t):
    """{position of '{': position of its '}'} in one pass; a backslash escapes the next byte.

    Linear, so that thousands of unbalanced \\boxed{ cannot make extraction quadratic.
    """
    res = {}
    stack = []
    for m in _BRACE_RE.finditer(t):
        c = t[m.start()]
        if c == 123:
            stack.append(m.start())
        elif c == 125:
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
        if t.startswith(b"\\boxed", j):
            k = j + 6
        elif t.startswith(b"\\fbox", j):
            k = j + 5
        if k < 0:
            i = j + 1
            continue
        while k < n and t[k] == 32:
            k += 1
        if k < n and t[k] == 123:
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
        if c == 36 and (i == 0 or t[i - 1] != 92):
            if i + 1 < n and t[i + 1] == 36:
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
                if d == 10:
                    break
                if d == 36 and t[j - 1] != 92:
                    e = j
                    break
                j += 1
            if e < 0 or e == i + 1:
                i += 1
                continue
            res.append((i, e + 1, i + 1, e))
            i = e + 1
            continue
        if c == 92 and i + 1 < n and (t[i + 1] == 40 or t[i + 1] == 91):
            if t[i + 1] == 40:
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


_GAP_SKIP_CMDS = (b"\\quad", b"\\qquad", b"\\text", b"\\mbox", b"\\textbf", b"\\,", b"\\;", b"\\ ",
                  b"\\\\", b"\\(", b"\\)", b"\\[", b"\\]", b"\\!")


def gap_kind(t, a, b):
    """Text between two answers: 0 = not a connector, 1 = connector, 2 = connector with 'or'."""
    if b - a > 64:
        return 0
    words = bytearray()
    i = a
    while i < b:
        c = t[i]
        if c == 92:
            hit = False
            for cmd in _GAP_SKIP_CMDS:
                if t.startswith(cmd, i) and i + len(cmd) <= b:
                    i += len(cmd)
                    hit = True
                    break
            if hit:
                continue
            return 0
        if c in (36, 44, 59, 46, 123, 125, 32, 10, 9, 13):
            words.append(32)
            i += 1
            continue
        words.append(_lower(c))
        i += 1
    ws = bytes(words).split()
    if not ws:
        return 1
    has_and = False
    has_or = False
    for w in ws:
        if w == b"and" or w == b"\xe5\x92\x8c":
            has_and = True
        elif w == b"or" or w == b"\xe6\x88\x96":
            has_or = True
    if has_or:
        return 2
    if has_and and b - a <= 48:
        return 1
    return 0


def _join(parts, has_or):
    return (b" or " if has_or else b", ").join(parts)


def _sentence_end(t, p, lim):
    n = min(len(t), p + lim)
    i = p
    while i < n:
        c = t[i]
        if c == 10:
            return i
        if c == 60 and i + 1 < n and t[i + 1] == 124:  # "<|"
            return i
        if (c == 46 or c == 33 or c == 63) and (i + 1 >= len(t) or _isspace(t[i + 1])):
            return i
        i += 1
    return n


def scan_number(t, p, n):
    """A plain-text number at t[p]: (end, normalized bytes) or None.

    Thousands separators (',' or ' ' or '{,}' before exactly 3 digits), decimal point or decimal
    comma (1-2 digits, or after a leading 0), a '/b' fraction, a leading '-'.
    """
    i = p
    out = bytearray()
    if i < n and t[i] == 45:
        out.append(45)
        i += 1
    if i < n and t[i] == 46 and i + 1 < n and _isdigit(t[i + 1]):
        out += b"0"
    elif not (i < n and _isdigit(t[i])):
        return None
    g0 = i
    while i < n and _isdigit(t[i]):
        out.append(t[i])
        i += 1
    first = i - g0
    thousands = False
    while first >= 1 and first <= 3 and i < n and t[g0] != 48:
        sep = 0
        if t[i] == 44 or t[i] == 32:
            sep = 1
        elif t.startswith(b"{,}", i):
            sep = 3
        if sep == 0 or i + sep + 3 > n:
            break
        q = i + sep
        if not (_isdigit(t[q]) and _isdigit(t[q + 1]) and _isdigit(t[q + 2])):
            break
        if q + 3 < n and _isdigit(t[q + 3]):
            break
        if t[i] == 32 and not thousands and (t[g0] == 48):
            break
        out += t[q:q + 3]
        i = q + 3
        thousands = True
    decimal = False
    if i + 1 < n and t[i] == 46 and _isdigit(t[i + 1]):
        out.append(46)
        i += 1
        while i < n and _isdigit(t[i]):
            out.append(t[i])
            i += 1
        decimal = True
    elif not thousands and i + 1 < n and t[i] == 44 and _isdigit(t[i + 1]):
        q = i + 1
        while q < n and _isdigit(t[q]):
            q += 1
        nd = q - (i + 1)
        if (nd <= 2 or (first == 1 and t[g0] == 48)) and not (q < n and t[q] == 44 and q + 1 < n and _isdigit(t[q + 1])):
            out.append(46)
            out += t[i + 1:q]
            i = q
            decimal = True
    if not decimal and i + 1 < n and t[i] == 47 and _isdigit(t[i + 1]):
        out.append(47)
        i += 1
        while i < n and _isdigit(t[i]):
            out.append(t[i])
            i += 1
    if len(out) > MAX_DIGITS:
        return None
    return i, bytes(out)


def last_number(t, a, b):
    """The last plain number in t[a:b] that does not start inside a word: (start, end, bytes)."""
    best = None
    i = a
    while i < b:
        c = t[i]
        if _isdigit(c) or ((c == 45 or c == 46) and i + 1 < b and _isdigit(t[i + 1])):
            prev = t[i - 1] if i > 0 else 32
            if _isalpha(prev) or _isdigit(prev) or prev == 95 or prev == 46 or prev == 92 or prev == 94:
                # inside a word / a number / a command / an exponent: skip the whole run
                s0 = i
                while i < b and (_isdigit(t[i]) or _isalpha(t[i])):
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


def _group_back(t, boxes, k):
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
    return j, _join(parts, has_or)


def _region_group_fwd(t, regions, k, lim):
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
    return _join(parts, has_or)


def _strip_ws(s):
    a = 0
    b = len(s)
    while a < b and _isspace(s[a]):
        a += 1
    while b > a and _isspace(s[b - 1]):
        b -= 1
    return s[a:b]


def _strip_answer(s):
    s = _strip_ws(s)
    while s and s[-1] in (46, 44, 59, 58, 33, 63, 32):
        s = s[:-1]
    return _strip_ws(s)


def _regions_index(regions, p):
    for idx, r in enumerate(regions):
        if r[0] == p:
            return idx
        if r[0] > p:
            break
    return -1


def _mathish_start(s):
    if not s:
        return False
    c = s[0]
    if _isdigit(c) or c in (45, 43, 46, 40, 91, 92, 123, 124):
        return True
    if 65 <= c <= 90:
        j = 0
        while j < len(s) and 65 <= s[j] <= 90:
            j += 1
        if j <= 10 and (j == len(s) or not _isalpha(s[j])):
            return True
    return False


def _cut_prose_tail(s):
    """'5, because ...' -> '5': cut at ', ' followed by a word of 3+ lowercase letters."""
    i = 0
    n = len(s)
    while i < n:
        if s[i] == 44 and i + 1 < n and s[i + 1] == 32:
            j = i + 2
            k = j
            while k < n and 97 <= s[k] <= 122:
                k += 1
            if k - j >= 3 and s[j:k] not in (b"and", b"then"):
                return s[:i]
        i += 1
    return s


_IS_WORDS = (b" is ", b" are ", b" was ", b" equals ", b" be ", b" = ")


def answer_from_span(t, p, regions):
    """The answer that follows an 'answer is' / 'Answer:' anchor ending at p, or None."""
    n = len(t)
    while p < n and (_isspace(t[p]) or t[p] in (58, 42, 34, 39, 96, 92) and not (t[p] == 92 and p + 1 < n and (t[p + 1] == 40 or t[p + 1] == 91 or _isalpha(t[p + 1])))):
        p += 1
    # Chinese copula after the anchor: 是 为 项
    while p + 2 < n and t[p:p + 3] in (b"\xe6\x98\xaf", b"\xe4\xb8\xba", b"\xe9\xa1\xb9"):
        p += 3
        while p < n and (_isspace(t[p]) or t[p] == 58):
            p += 1
    if p >= n:
        return None
    k = _regions_index(regions, p)
    if k >= 0:
        r = regions[k]
        if r[3] <= r[2]:
            return None
        return _region_group_fwd(t, regions, k, p + MAX_SPAN)
    end = _sentence_end(t, p, MAX_SPAN)
    s = t[p:end]
    if _mathish_start(s):
        s = _strip_answer(_cut_prose_tail(s))
        return s if s else None
    # prose: "The volume of $V$ is 120" -> after the last " is "
    best = -1
    for w in _IS_WORDS:
        q = s.rfind(w)
        if q >= 0 and q + len(w) > best:
            best = q + len(w)
    if best >= 0:
        q = p + best
        while q < end and t[q] == 32:
            q += 1
        k = _regions_index(regions, q)
        if k >= 0:
            return _region_group_fwd(t, regions, k, p + MAX_SPAN)
        sub = t[q:end]
        if _mathish_start(sub):
            sub = _strip_answer(_cut_prose_tail(sub))
            if sub:
                return sub
    # else the last math region or number inside the sentence
    lr = None
    for r in regions:
        if r[0] >= p and r[1] <= end:
            lr = r
    ln = last_number(t, p, end)
    if lr is not None and (ln is None or lr[1] >= ln[1]):
        return t[lr[2]:lr[3]] if lr[3] > lr[2] else None
    if ln is not None:
        return ln[2]
    return None


_TEXT_ANCHORS = (b"answer is", b"answer:", b"answer :", b"option is", b"choice is",
                 b"\xe7\xad\x94\xe6\xa1\x88",  # 答案
                 b"\xe6\x95\x85\xe9\x80\x89",  # 故选
                 b"\xe9\x80\x89")  # 选


def _letters_end(s, j, n):
    """The first index >= j of s[:n] that is not an ASCII letter (the end of a command or word)."""
    while j < n and _isalpha(s[j]):
        j += 1
    return j


def _mathish_text(s):
    """No English word of 3+ letters (outside \\commands) and no second line: a bare formula."""
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == 10:
            return False
        if _isalpha(c):
            j = _letters_end(s, i, n)
            if j - i >= 3 and not (i > 0 and s[i - 1] == 92):
                w = s[i:j]
                if w != w.upper():
                    return False
            i = j
        else:
            i += 1
    return True


def _bold_ok(s):
    s = _strip_ws(s)
    if not s or len(s) > 40:
        return False
    if not _mathish_start(s) and s[0] != 36:
        return False
    return _mathish_text(s)  # rejects "**Step 3**", "**Final Answer**"


def _bold_spans(t):
    res = []
    i = 0
    while len(res) < 4096:
        a = t.find(b"**", i)
        if a < 0:
            break
        b = t.find(b"**", a + 2)
        if b < 0:
            break
        res.append((a, b + 2, a + 2, b))
        i = b + 2
    return res


def prepare_response(data):
    """Bytes after the last </think> (None when a <think> is never closed), tail-capped, normalized."""
    k = data.rfind(b"</think>")
    if k >= 0:
        data = data[k + 8:]
    elif data.find(b"<think>") >= 0:
        return None
    if len(data) > MAX_SCAN:
        data = data[len(data) - MAX_SCAN:]
    return normalize_text(data)


def extract_from(t, is_gold):
    """(answer bytes, boxes, group_first_box_index) or None. t is already prepared."""
    boxes = find_boxes(t)
    regions = find_regions(t)
    tl = _lower_bytes(t)
    cands = []
    for bi in range(len(boxes)):
        cands.append((boxes[bi][0], 0, bi))
    for ai in range(len(_TEXT_ANCHORS)):
        pat = _TEXT_ANCHORS[ai]
        i = 0
        cnt = 0
        while cnt < 4096:
            q = tl.find(pat, i)
            if q < 0:
                break
            cands.append((q, 1, ai))
            i = q + 1
            cnt += 1
    bolds = _bold_spans(t)
    for bi in range(len(bolds)):
        cands.append((bolds[bi][0], 2, bi))
    cands.sort(key=lambda x: (x[0], x[1], x[2]), reverse=True)
    tries = 0
    for pos, kind, idx in cands:
        if tries >= MAX_ANCHOR_TRIES:
            break
        tries += 1
        if kind == 0:
            j, ans = _group_back(t, boxes, idx)
            if _strip_ws(ans):
                return ans, boxes, j
            continue
        if kind == 2:
            b = bolds[idx]
            s = t[b[2]:b[3]]
            if _bold_ok(s):
                return _strip_answer(s), boxes, len(boxes)
            continue
        pat = _TEXT_ANCHORS[idx]
        if idx == 7:  # 选: only directly before a choice letter
            q = pos + 3
            while q < len(t) and (t[q] == 58 or t[q] == 32):
                q += 1
            if not (q < len(t) and 65 <= t[q] <= 90):
                continue
        ans = answer_from_span(t, pos + len(pat), regions)
        if ans is not None and _strip_ws(ans):
            return ans, boxes, len(boxes)
    # no anchor
    if is_gold:
        s = _strip_ws(t)
        if s and s[0] != 36 and not s.startswith(b"\\(") and not s.startswith(b"\\["):
            r = scan_number(s, 0, len(s))
            if r is not None and r[0] == len(s) and s[0] != 45:
                return r[1], boxes, len(boxes)
            if not regions:
                return s, boxes, len(boxes)
    lr = None
    if regions:
        k = len(regions) - 1
        while k >= 0 and regions[k][3] <= regions[k][2]:
            k -= 1
        if k >= 0:
            lr = (regions[k][1], k)
    if lr is None:
        s = _strip_ws(t)
        if s and len(s) <= 256 and _mathish_text(s):
            r = scan_number(s, 0, len(s))
            if r is not None and r[0] == len(s):
                return r[1], boxes, len(boxes)
            return s, boxes, len(boxes)
    ln = last_number(t, 0, len(t))
    if lr is not None and (ln is None or lr[0] >= ln[1]):
        _, ans = _group_back(t, regions, lr[1])
        return ans, boxes, len(boxes)
    if ln is not None:
        return ln[2], boxes, len(boxes)
    s = _strip_ws(t)
    if s and len(s) <= 16:
        return s, boxes, len(boxes)
    return None


def _answer_of(t, is_gold):
    """(answer without spaces, the extraction) of prepared text t, or None when nothing non-empty
    is found."""
    r = extract_from(t, is_gold)
    if r is None:
        return None
    a = _strip_ws(r[0])
    return (a, r) if a else None


def extract(data):
    """Public extraction on response bytes: answer bytes or None."""
    t = prepare_response(data)
    x = None if t is None else _answer_of(t, False)
    return None if x is None else x[0]


# ----------------------------------------------------------------------------- multiple choice

_MC_SKIP_CMDS = (b"text", b"textbf", b"mathrm", b"mathbf", b"textrm", b"boxed", b"fbox", b"mbox",
                 b"quad", b"qquad", b"left", b"right", b"textnormal", b"mathit", b"textit")
_MC_LEAD = (b"option", b"options", b"choice", b"choices", b"answer", b"the", b"is", b"correct", b"are")


def mc_letters(s, strict):
    """Choice letters in an answer: (bitmask, hedged) or None.

    strict (the gold side): the whole answer must be letters and separators.
    """
    n = len(s)
    i = 0
    mask = 0
    hedge = False
    pending_or = False
    nletters = 0
    stopped = False
    while i < n:
        c = s[i]
        if c == 92:
            j = _letters_end(s, i + 1, n)
            name = s[i + 1:j]
            if j == i + 1:
                if j < n and s[j] in (44, 59, 33, 32, 40, 41, 91, 93):
                    i = j + 1
                    continue
                stopped = True
                break
            if name in _MC_SKIP_CMDS:
                i = j
                continue
            stopped = True
            break
        if _isalpha(c):
            j = _letters_end(s, i, n)
            w = s[i:j]
            lw = w.lower()
            ok_group = False
            if len(w) == 1 and 65 <= c <= 90:
                ok_group = True
            elif len(w) == 1 and 97 <= c <= 122 and not strict:
                ok_group = True
            elif 2 <= len(w) <= 10 and w == w.upper():
                ok_group = True
                seen = 0
                for ch in w:
                    bit = 1 << (ch - 65)
                    if ch > 74 or (seen & bit):
                        ok_group = False
                        break
                    seen |= bit
            if ok_group and (lw == b"or" or lw == b"and"):
                ok_group = False
            if ok_group:
                if pending_or and nletters > 0:
                    hedge = True
                pending_or = False
                for ch in w:
                    mask |= 1 << (_lower(ch) - 97)
                nletters += 1
                i = j
                continue
            if lw == b"and":
                i = j
                continue
            if lw == b"or":
                pending_or = True
                i = j
                continue
            if nletters == 0 and lw in _MC_LEAD:
                i = j
                continue
            stopped = True
            break
        if c == 0xE5 and s[i:i + 3] == b"\xe5\x92\x8c":  # 和
            i += 3
            continue
        if c == 0xE6 and s[i:i + 3] == b"\xe6\x88\x96":  # 或
            pending_or = True
            i += 3
            continue
        if c == 47 or c == 124:  # "A/B", "A|B"
            pending_or = True
            i += 1
            continue
        if _isspace(c) or c in (44, 59, 40, 41, 91, 93, 123, 125, 36, 42, 38, 43, 58, 46, 34, 39):
            i += 1
            continue
        stopped = True
        break
    if nletters == 0 or mask == 0:
        return None
    if pending_or and not stopped:
        pending_or = False
    if strict:
        if stopped or hedge:
            return None
    return mask, hedge


# ----------------------------------------------------------------------------- tokenizer

# token kinds
(T_NUM, T_VAR, T_PI, T_INF, T_FUNC, T_FRAC, T_SQRT, T_BINOM, T_TEXT, T_OP, T_LP, T_RP, T_LB, T_RB,
 T_LC, T_RC, T_LS, T_RS, T_BAR, T_COMMA, T_SEMI, T_SEP, T_MATB, T_MATE, T_AMP, T_ROW, T_SUB) = range(27)

# operator codes (T_OP)
(O_ADD, O_SUB, O_MUL, O_DIV, O_POW, O_FACT, O_PM, O_MP, O_EQ, O_LT, O_GT, O_LE, O_GE, O_NE, O_APPROX,
 O_IN, O_CUP, O_CAP, O_RATIO) = range(19)

_FUNCS = (b"sin", b"cos", b"tan", b"sec", b"csc", b"cot", b"arcsin", b"arccos", b"arctan", b"sinh",
          b"cosh", b"tanh", b"ln", b"log", b"exp", b"abs")
_SKIP_CMDS = (b"left", b"right", b"big", b"Big", b"bigl", b"bigr", b"Bigl", b"Bigr", b"bigg", b"Bigg",
              b"displaystyle", b"quad", b"qquad", b"boxed", b"fbox", b"dots", b"ldots", b"cdots",
              b"hline", b"limits", b"nolimits", b"textstyle", b"scriptstyle", b"mathrm", b"mathbf",
              b"mathit", b"operatorname", b"overline", b"vec", b"hat", b"bar", b"widehat",
              b"overrightarrow", b"mathbb", b"mathcal", b"bf", b"rm", b"it", b"tilde", b"circ",
              b"degree", b"cr", b"underline", b"mathsf", b"bm", b"boldsymbol", b"text", b"textbf",
              b"mbox", b"textnormal", b"textit", b"textrm", b"dfrac", b"tfrac", b"cfrac", b"frac",
              b"sqrt", b"dbinom", b"binom", b"tbinom")
_TEXT_CMDS = (b"text", b"textbf", b"mbox", b"textnormal", b"textit", b"textrm", b"textsf", b"texttt")
_UNWRAP_CMDS = (b"mathrm", b"mathbf", b"mathit", b"operatorname", b"overline", b"vec", b"hat", b"bar",
                b"widehat", b"overrightarrow", b"mathbb", b"mathcal", b"boxed", b"fbox", b"tilde",
                b"underline", b"mathsf", b"bm", b"boldsymbol")
_REL_CMDS = {b"le": O_LE, b"leq": O_LE, b"leqslant": O_LE, b"ge": O_GE, b"geq": O_GE, b"geqslant": O_GE,
             b"ne": O_NE, b"neq": O_NE, b"lt": O_LT, b"gt": O_GT, b"approx": O_APPROX, b"in": O_IN,
             b"cup": O_CUP, b"cap": O_CAP, b"pm": O_PM, b"mp": O_MP, b"cdot": O_MUL, b"times": O_MUL,
             b"div": O_DIV, b"ast": O_MUL, b"sim": O_APPROX, b"simeq": O_APPROX, b"equiv": O_EQ}
_UNIT_WORDS = (b"percent", b"percentage", b"pct", b"cm", b"mm", b"km", b"kg", b"mg", b"ml", b"meters",
               b"meter", b"metres", b"metre", b"miles", b"mile", b"feet", b"foot", b"ft", b"inches",
               b"inch", b"hours", b"hour", b"hrs", b"minutes", b"minute", b"mins", b"seconds",
               b"second", b"days", b"day", b"weeks", b"years", b"year", b"yuan", b"dollars",
               b"dollar", b"cents", b"cent", b"degrees", b"degree", b"units", b"unit", b"sq",
               b"square", b"cubic", b"grams", b"gram", b"liters", b"liter", b"litres", b"people",
               b"students", b"ways", b"times", b"points", b"mph", b"kmh", b"usd", b"rmb", b"yards",
               b"yard", b"pounds", b"pound", b"lbs", b"oz", b"ounces", b"m^2", b"m^3", b"s")
_WORD_FUNCS = (b"sqrt", b"sin", b"cos", b"tan", b"ln", b"log", b"exp")


# Operator and bracket tokens by their bytes. Two-byte operators are matched first ("==" is "=").
_TWO_BYTE_OPS = {b"!=": O_NE, b"<=": O_LE, b"=<": O_LE, b">=": O_GE, b"==": O_EQ}
_ONE_BYTE_TOKENS = {
    43: (T_OP, O_ADD), 45: (T_OP, O_SUB), 42: (T_OP, O_MUL), 47: (T_OP, O_DIV), 94: (T_OP, O_POW),
    33: (T_OP, O_FACT), 61: (T_OP, O_EQ), 60: (T_OP, O_LT), 62: (T_OP, O_GT), 58: (T_OP, O_RATIO),
    40: (T_LP,), 41: (T_RP,), 91: (T_LB,), 93: (T_RB,), 123: (T_LC,), 125: (T_RC,), 124: (T_BAR,),
    44: (T_COMMA,), 59: (T_SEMI,), 38: (T_AMP,),
}


# LaTeX commands that are one token each (relations come from rel_cmd, functions from _FUNCS).
_COMMAND_TOKENS = {}
for _names, _spec in (
    ((b"frac", b"dfrac", b"tfrac", b"cfrac"), (T_FRAC,)), ((b"sqrt",), (T_SQRT,)),
    ((b"binom", b"dbinom", b"tbinom"), (T_BINOM,)), ((b"pi",), (T_PI,)), ((b"infty", b"infin", b"infinity"), (T_INF,)),
    ((b"lbrace",), (T_LS,)), ((b"rbrace",), (T_RS,)), ((b"langle",), (T_LP,)), ((b"rangle",), (T_RP,)),
    ((b"vert", b"lvert", b"rvert", b"mid"), (T_BAR,)), ((b"colon",), (T_OP, O_RATIO)),
    ((b"to", b"rightarrow", b"Rightarrow", b"implies", b"iff", b"Leftrightarrow", b"therefore", b"because"), (T_SEP, 0)),
):
    _COMMAND_TOKENS.update(dict.fromkeys(_names, _spec))
del _names, _spec


class _Tok(object):
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


def _bits_ok(n, d):
    return n.bit_length() <= MAX_BITS and d.bit_length() <= MAX_BITS


def _reduce(n, d):
    if n.bit_length() <= 63 and d.bit_length() <= 63:
        g = math.gcd(n, d)
        if g > 1:
            n //= g
            d //= g
    return n, d


def _make_num(intpart, frac):
    """Exact value of digits intpart.frac: (num, den, dec, sig)."""
    digits = intpart + frac
    num = int(digits) if digits else 0
    den = 10 ** len(frac) if frac else 1
    k = 0
    while k < len(digits) and digits[k] == 48:
        k += 1
    sig = len(digits) - k
    num, den = _reduce(num, den)
    return num, den, (len(frac) if frac is not None and len(frac) > 0 else -1), sig


def _read_group(s, i, n, bm):
    """After a command: a braced group {..} -> (content, next) or a single byte / command."""
    while i < n and s[i] == 32:
        i += 1
    if i >= n:
        return b"", i
    if s[i] == 123:
        e = bm.get(i, -1)
        if e < 0:
            return None, n
        return s[i + 1:e], e + 1
    if s[i] == 92:
        j = _letters_end(s, i + 1, n)
        if j == i + 1:
            j += 1
        return s[i:j], j
    return s[i:i + 1], i + 1


def tokenize(s):
    """Tokens of a cleaned answer, or None when it cannot be tokenized within the caps."""
    toks = []
    n = len(s)
    bm = brace_map(s)
    i = 0
    while i < n:
        if len(toks) > MAX_TOKENS:
            return None
        c = s[i]
        if _isspace(c) or c == 36 or c == 37 or c == 126 or c == 34 or c == 63 or c == 35 or c == 96:
            i += 1
            continue
        if _isdigit(c) or (c == 46 and i + 1 < n and _isdigit(s[i + 1])):
            g0 = i
            intpart = bytearray()
            while i < n and _isdigit(s[i]):
                intpart.append(s[i])
                i += 1
            first = i - g0
            grouped = False
            while 1 <= first <= 3 and i < n and s[g0] != 48:
                q = -1
                if s[i] == 44 and i + 1 < n and s[i + 1] != 32:
                    q = i + 1
                    if s.startswith(b",\\!", i):
                        q = i + 3
                        while q < n and s[q] == 32:
                            q += 1
                else:
                    k = i
                    while k < n and s[k] == 32:
                        k += 1
                    if s.startswith(b"{,}", k):
                        q = k + 3
                    elif s.startswith(b"{, }", k):
                        q = k + 4
                    elif s.startswith(b",\\!", k):
                        q = k + 3
                    if q >= 0:
                        while q < n and s[q] == 32:
                            q += 1
                if q < 0 or q + 3 > n:
                    break
                if not (_isdigit(s[q]) and _isdigit(s[q + 1]) and _isdigit(s[q + 2])):
                    break
                if q + 3 < n and _isdigit(s[q + 3]):
                    break
                intpart += s[q:q + 3]
                i = q + 3
                grouped = True
            frac = bytearray()
            isdec = False
            if i + 1 < n and s[i] == 46 and _isdigit(s[i + 1]):
                isdec = True
                i += 1
                while i < n and _isdigit(s[i]):
                    frac.append(s[i])
                    i += 1
            if len(intpart) + len(frac) > MAX_DIGITS:
                return None
            t = _Tok(T_NUM)
            t.num, t.den, t.dec, t.sig = _make_num(bytes(intpart), bytes(frac))
            if isdec:
                t.dec = len(frac)
            t.lit = True
            if not isdec and not grouped:
                t.raw = bytes(intpart)
            # scientific notation 1.5e10 / 2E-3
            if i < n and (s[i] == 101 or s[i] == 69):
                q = i + 1
                sg = 1
                if q < n and (s[q] == 43 or s[q] == 45):
                    sg = -1 if s[q] == 45 else 1
                    q += 1
                q0 = q
                while q < n and _isdigit(s[q]) and q - q0 < 6:
                    q += 1
                if q > q0 and not (q < n and (_isalpha(s[q]) or _isdigit(s[q]))):
                    ex = int(s[q0:q]) * sg
                    if abs(ex) <= 400:
                        if ex >= 0:
                            t.num = t.num * 10 ** ex
                        else:
                            t.den = t.den * 10 ** (-ex)
                        t.num, t.den = _reduce(t.num, t.den)
                        t.dec = -1
                        t.lit = False
                        t.raw = b""
                        i = q
            # base subscript 204_5
            if i + 1 < n and s[i] == 95 and not isdec:
                sub, j = _read_group(s, i + 1, n, bm)
                if sub is not None and len(sub) >= 1 and len(sub) <= 2 and all(_isdigit(x) for x in sub):
                    base = int(sub)
                    if 2 <= base <= 36 and len(intpart) <= 64 and all(x - 48 < base for x in intpart):
                        t.num = int(bytes(intpart), base)
                        t.den = 1
                        t.raw = b""
                        t.lit = False
                        i = j
            toks.append(t)
            continue
        if c == 92:  # command
            j = _letters_end(s, i + 1, n)
            name = s[i + 1:j]
            if j == i + 1:  # control symbol
                if j >= n:
                    break
                d = s[j]
                if d == 123:
                    toks.append(_Tok(T_LS))
                elif d == 125:
                    toks.append(_Tok(T_RS))
                elif d == 92:
                    toks.append(_Tok(T_ROW))
                elif d == 124:
                    toks.append(_Tok(T_BAR))
                # \, \! \; \: \  \% \$ \# \& and others: spacing / escaped symbols
                i = j + 1
                continue
            i = j
            if name.startswith(b"qquad") and len(name) > 5 and name not in _REL_CMDS:
                i = i - (len(name) - 5)
                continue
            if name.startswith(b"quad") and len(name) > 4 and name not in _REL_CMDS:
                i = i - (len(name) - 4)
                continue
            if name in _TEXT_CMDS:
                g, i = _read_group(s, i, n, bm)
                if g is None:
                    return None
                w = _strip_ws(g).lower()
                if w == b"and" or w == b"or" or w == b"," or w == b"":
                    if w:
                        toks.append(_Tok(T_SEP, 1 if w == b"or" else 0))
                    continue
                prev = toks[-1].kind if toks else -1
                if prev in (T_NUM, T_RP, T_RB, T_RC, T_PI):
                    # a unit after a value: drop it, and a ^2 / ^3 right after it
                    k = i
                    while k < n and s[k] == 32:
                        k += 1
                    if k < n and s[k] == 94:
                        g2, k2 = _read_group(s, k + 1, n, bm)
                        if g2 is not None and len(g2) == 1 and _isdigit(g2[0]):
                            i = k2
                    continue
                t = _Tok(T_TEXT)
                t.name = w
                toks.append(t)
                continue
            if name in _REL_CMDS:
                toks.append(_Tok(T_OP, _REL_CMDS[name]))
                continue
            spec = _COMMAND_TOKENS.get(name)
            if spec is not None:
                toks.append(_Tok(*spec))
                continue
            if name in _FUNCS:
                toks.append(_Tok(T_FUNC, 0, name))
                continue
            if name == b"begin":
                g, i = _read_group(s, i, n, bm)
                if g is None:
                    return None
                if g.endswith(b"matrix") or g == b"array":
                    toks.append(_Tok(T_MATB))
                    if g == b"array":
                        g2, i2 = _read_group(s, i, n, bm)
                        if g2 is not None:
                            i = i2
                continue
            if name == b"end":
                g, i = _read_group(s, i, n, bm)
                if g is None:
                    return None
                if g.endswith(b"matrix") or g == b"array":
                    toks.append(_Tok(T_MATE))
                continue
            if name in (b"left", b"right"):
                if i < n and s[i] == 46:
                    i += 1
                continue
            if name in _SKIP_CMDS or name in _UNWRAP_CMDS:
                continue
            if name in (b"pmod", b"bmod", b"mod"):
                return None
            t = _Tok(T_VAR)
            t.name = name  # \alpha, \theta, unknown commands: opaque symbols
            toks.append(t)
            i = _attach_sub(s, i, n, t, bm)
            continue
        if _isalpha(c):
            j = _letters_end(s, i, n)
            w = s[i:j]
            lw = w.lower()
            if j - i >= 2:
                if lw == b"and":
                    toks.append(_Tok(T_SEP, 0))
                    i = j
                    continue
                if lw == b"or":
                    toks.append(_Tok(T_SEP, 1))
                    i = j
                    continue
                prev = toks[-1].kind if toks else -1
                if lw in _UNIT_WORDS and prev in (T_NUM, T_RP, T_RC, T_RB):
                    i = j
                    if i < n and s[i] == 94 and i + 1 < n and _isdigit(s[i + 1]):
                        i += 2
                    continue
                if lw in _WORD_FUNCS:
                    toks.append(_Tok(T_SQRT) if lw == b"sqrt" else _Tok(T_FUNC, 0, lw))
                    i = j
                    continue
                if lw == b"pi":
                    toks.append(_Tok(T_PI))
                    i = j
                    continue
                if lw in (b"inf", b"infinity", b"oo"):
                    toks.append(_Tok(T_INF))
                    i = j
                    continue
            # single letters (LaTeX reads "xy" as x*y)
            for k in range(i, j):
                t = _Tok(T_VAR)
                t.name = s[k:k + 1]
                toks.append(t)
            i = j
            if toks:
                i = _attach_sub(s, i, n, toks[-1], bm)
            continue
        if c == 94 and (s.startswith(b"^\\circ", i) or s.startswith(b"^{\\circ}", i)):
            i += 6 if s[i + 1] == 92 else 8  # ^\circ / ^{\circ}: degrees, dropped
            continue
        op2 = _TWO_BYTE_OPS.get(s[i:i + 2])
        if op2 is not None:
            toks.append(_Tok(T_OP, op2))
            i += 2
            continue
        spec = _ONE_BYTE_TOKENS.get(c)
        if spec is not None:
            toks.append(_Tok(*spec))
        elif c == 95:
            # a stray subscript (after ')' etc.): skip its group
            g, i = _read_group(s, i + 1, n, bm)
            if g is None:
                return None
            continue
        elif c == 39:
            if toks and toks[-1].kind == T_VAR:
                toks[-1].name = toks[-1].name + b"'"
        # any other byte (non-ASCII text, punctuation) is dropped
        i += 1
    if len(toks) > MAX_TOKENS:
        return None
    return toks


def _attach_sub(s, i, n, t, bm):
    """x_1, x_{12}, F_{n-k-1}, x': appended to a variable's name (an opaque symbol)."""
    if t.kind != T_VAR:
        return i
    while i < n and (s[i] == 95 or s[i] == 39):
        if s[i] == 39:
            t.name = t.name + b"'"
            i += 1
            continue
        g, j = _read_group(s, i + 1, n, bm)
        if g is None:
            return n
        t.name = t.name + b"_" + bytes(x for x in g if not _isspace(x))
        i = j
    return i


# ----------------------------------------------------------------------------- AST

(N_NUM, N_VAR, N_PI, N_E, N_INF, N_ADD, N_SUB, N_MUL, N_DIV, N_POW, N_NEG, N_FACT, N_FUNC, N_PM,
 N_ABS, N_APPLY, N_ROOT, N_BINOM, N_TUPLE, N_SET, N_SEQ, N_IVL, N_UNION, N_REL, N_EQ, N_TEXT,
 N_MAT, N_LOG) = range(28)

_CONTAINERS = (N_TUPLE, N_SET, N_SEQ, N_IVL, N_UNION, N_REL, N_EQ, N_TEXT, N_MAT)


class _Node(object):
    __slots__ = ("kind", "kids", "op", "name", "num", "den", "dec", "sig", "lit", "depth")

    def __init__(self, kind, kids=None, op=0):
        self.depth = 1
        self.kind = kind
        self.kids = kids if kids is not None else []
        self.op = op
        self.name = b""
        self.num = 0
        self.den = 1
        self.dec = -1
        self.sig = 0
        self.lit = False


class _ParseError(Exception):
    pass


class _Parser(object):
    def __init__(self, toks):
        self.t = toks
        self.i = 0
        self.depth = 0
        self.nodes = 0
        self.npm = 0

    def node(self, kind, kids=None, op=0):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _ParseError()
        r = _Node(kind, kids, op)
        d = 0
        for k in r.kids:
            if k.depth > d:
                d = k.depth
        r.depth = d + 1
        if r.depth > MAX_AST_DEPTH:
            raise _ParseError()
        return r

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else None

    def at(self, kind, op=-1):
        tk = self.peek()
        return tk is not None and tk.kind == kind and (op < 0 or tk.op == op)

    def enter(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _ParseError()

    def leave(self):
        self.depth -= 1

    # answer := part (';' part)*
    def parse_answer(self):
        parts = [self.parse_list(False)]
        while self.at(T_SEMI):
            self.i += 1
            parts.append(self.parse_list(False))
        if self.i != len(self.t):
            raise _ParseError()
        parts = [p for p in parts if p is not None]
        if not parts:
            raise _ParseError()
        if len(parts) == 1:
            return parts[0]
        out = []
        for p in parts:
            if p.kind == N_SEQ and all(k.kind == N_EQ and k.op == 1 for k in p.kids):
                out.append(self.node(N_TUPLE, [k.kids[1] for k in p.kids]))
            elif p.kind == N_SEQ:
                out.extend(p.kids)
            else:
                out.append(p)
        return self.node(N_SEQ, out)

    # list := rel ((',' | and | or) rel)*   -- empty items are skipped
    def parse_list(self, semis_as_commas):
        items = []
        while True:
            tk = self.peek()
            if tk is None:
                break
            if tk.kind == T_COMMA or tk.kind == T_SEP or (semis_as_commas and tk.kind == T_SEMI):
                self.i += 1
                continue
            if tk.kind in (T_RP, T_RB, T_RC, T_RS, T_SEMI, T_MATE, T_AMP, T_ROW):
                break
            items.append(self.parse_rel())
            if len(items) > MAX_ELEMS * 4:
                raise _ParseError()
        if not items:
            return None
        if len(items) == 1:
            return items[0]
        return self.node(N_SEQ, items)

    def parse_rel(self):
        exprs = [self.parse_union()]
        ops = []
        while True:
            tk = self.peek()
            if tk is not None and tk.kind == T_OP and tk.op in (O_EQ, O_LT, O_GT, O_LE, O_GE, O_NE, O_APPROX, O_IN):
                self.i += 1
                ops.append(tk.op)
                exprs.append(self.parse_union())
                if len(ops) > 16:
                    raise _ParseError()
            else:
                break
        return self.reduce_chain(exprs, ops)

    def reduce_chain(self, exprs, ops):
        if not ops:
            return exprs[0]
        n = len(ops)
        if all(o == O_EQ or o == O_APPROX for o in ops):
            if n == 1:
                a, b = exprs[0], exprs[1]
                if _name_like(a):
                    e = self.node(N_EQ, [a, b])
                    e.op = 1
                    return e
                if ops[0] == O_APPROX:
                    return a
                if _is_const(a) and _is_const(b):
                    return b
                return self.node(N_EQ, [a, b])
            k = -1
            for q in range(n):
                if ops[q] == O_APPROX:
                    k = q
                    break
            if k >= 1:
                return exprs[k]
            return exprs[n]
        if n == 1 and ops[0] == O_IN:
            return exprs[1]
        if n == 2 and _name_like(exprs[1]) and all(o in (O_LT, O_LE) for o in ops):
            iv = self.node(N_IVL, [exprs[0], exprs[2]])
            iv.op = (1 if ops[0] == O_LE else 0) | (2 if ops[1] == O_LE else 0)
            return iv
        if n == 2 and _name_like(exprs[1]) and all(o in (O_GT, O_GE) for o in ops):
            iv = self.node(N_IVL, [exprs[2], exprs[0]])
            iv.op = (1 if ops[1] == O_GE else 0) | (2 if ops[0] == O_GE else 0)
            return iv
        if n == 1 and ops[0] in (O_LT, O_GT, O_LE, O_GE, O_NE):
            a, b = exprs[0], exprs[1]
            op = ops[0]
            if op == O_LT:
                a, b, op = b, a, O_GT
            elif op == O_LE:
                a, b, op = b, a, O_GE
            return self.node(N_REL, [a, b], op)
        raise _ParseError()

    def parse_union(self):
        a = self.parse_add()
        if self.at(T_OP, O_CUP):
            parts = [a]
            while self.at(T_OP, O_CUP):
                self.i += 1
                parts.append(self.parse_add())
                if len(parts) > MAX_ELEMS:
                    raise _ParseError()
            return self.node(N_UNION, parts)
        if self.at(T_OP, O_CAP):
            raise _ParseError()
        return a

    def parse_add(self):
        a = self.parse_term()
        while True:
            tk = self.peek()
            if tk is None or tk.kind != T_OP or tk.op not in (O_ADD, O_SUB, O_PM, O_MP):
                break
            self.i += 1
            b = self.parse_term()
            if tk.op == O_ADD:
                a = self.node(N_ADD, [a, b])
            elif tk.op == O_SUB:
                a = self.node(N_SUB, [a, b])
            else:
                a = self.pm_node([a, b], tk.op == O_MP)
        return a

    def pm_node(self, kids, minus_first):
        e = self.node(N_PM, kids)
        e.op = self.npm
        e.lit = minus_first
        self.npm += 1
        if self.npm > MAX_PM:
            raise _ParseError()
        return e

    def starts_factor(self, tk):
        if tk is None:
            return False
        return tk.kind in (T_NUM, T_VAR, T_PI, T_INF, T_FUNC, T_FRAC, T_SQRT, T_BINOM, T_LP, T_LC, T_LS, T_MATB)

    def parse_term(self):
        a = self.parse_unary()
        while True:
            tk = self.peek()
            if tk is not None and tk.kind == T_OP and tk.op in (O_MUL, O_DIV, O_RATIO):
                self.i += 1
                b = self.parse_unary()
                a = self.node(N_MUL if tk.op == O_MUL else N_DIV, [a, b], 1 if tk.op == O_RATIO else 0)
            elif self.starts_factor(tk):
                if tk.kind == T_FRAC and a.kind == N_NUM and a.lit and a.dec < 0:
                    b = self.parse_unary()
                    if b.kind == N_DIV and _int_lit(b.kids[0]) and _int_lit(b.kids[1]):
                        a = self.node(N_ADD, [a, b])  # mixed number 3\\frac{1}{2}
                    else:
                        a = self.node(N_MUL, [a, b])
                elif tk.kind == T_LP and a.kind == N_VAR:
                    b = self.parse_unary()
                    a = self.node(N_APPLY, [a, b])
                else:
                    b = self.parse_unary()
                    a = self.node(N_MUL, [a, b])
            else:
                break
        return a

    def parse_unary(self):
        tk = self.peek()
        if tk is not None and tk.kind == T_OP and tk.op in (O_SUB, O_ADD, O_PM, O_MP):
            self.i += 1
            self.enter()
            a = self.parse_unary()
            self.leave()
            if tk.op == O_SUB:
                r = self.node(N_NEG, [a])
            elif tk.op == O_ADD:
                r = a
            else:
                r = self.pm_node([a], tk.op == O_MP)
        else:
            r = self.parse_power()
        return r

    def parse_power(self):
        a = self.parse_postfix()
        if self.at(T_OP, O_POW):
            self.i += 1
            self.enter()
            b = self.parse_unary()
            self.leave()
            a = self.node(N_POW, [a, b])
            while self.at(T_OP, O_FACT):
                self.i += 1
                a = self.node(N_FACT, [a])
        return a

    def parse_postfix(self):
        a = self.parse_primary()
        while self.at(T_OP, O_FACT):
            self.i += 1
            a = self.node(N_FACT, [a])
        return a

    def arg(self):
        """A LaTeX argument: {group}, or one token (\\frac94 reads 9 and 4)."""
        tk = self.peek()
        if tk is None:
            raise _ParseError()
        if tk.kind == T_LC:
            self.i += 1
            a = self.parse_list(False)
            if not self.at(T_RC) or a is None:
                raise _ParseError()
            self.i += 1
            return a
        if tk.kind == T_NUM and len(tk.raw) >= 2:
            first = _Tok(T_NUM)
            first.num = tk.raw[0] - 48
            first.lit = True
            first.sig = 1 if first.num else 0
            rest = _Tok(T_NUM)
            rest.raw = tk.raw[1:]
            rest.num, rest.den, rest.dec, rest.sig = _make_num(rest.raw, b"")
            rest.lit = True
            self.t = self.t[:self.i] + [first, rest] + self.t[self.i + 1:]
        return self.parse_primary()

    def parse_primary(self):
        self.enter()
        tk = self.peek()
        if tk is None:
            raise _ParseError()
        self.i += 1
        k = tk.kind
        if k == T_NUM:
            r = self.node(N_NUM)
            r.num, r.den, r.dec, r.sig, r.lit = tk.num, tk.den, tk.dec, tk.sig, tk.lit
        elif k == T_VAR:
            if tk.name == b"e":
                r = self.node(N_E)
            else:
                r = self.node(N_VAR)
                r.name = tk.name
        elif k == T_PI:
            r = self.node(N_PI)
        elif k == T_INF:
            r = self.node(N_INF)
        elif k == T_TEXT:
            r = self.node(N_TEXT)
            r.name = tk.name
        elif k == T_FRAC:
            a = self.arg()
            b = self.arg()
            r = self.node(N_DIV, [a, b])
        elif k == T_BINOM:
            a = self.arg()
            b = self.arg()
            r = self.node(N_BINOM, [a, b])
        elif k == T_SQRT:
            idx = None
            if self.at(T_LB):
                self.i += 1
                idx = self.parse_add()
                if not self.at(T_RB):
                    raise _ParseError()
                self.i += 1
            a = self.arg()
            if idx is None:
                r = self.node(N_ROOT, [a])
            else:
                r = self.node(N_ROOT, [a, idx])
        elif k == T_FUNC:
            power = None
            base = None
            if tk.name == b"log" and self.at(T_SUB):
                pass
            if self.at(T_OP, O_POW):
                self.i += 1
                power = self.parse_unary()
            if self.at(T_LP):
                a = self.parse_primary()
            else:
                a = self.parse_power()
            if tk.name == b"abs":
                r = self.node(N_ABS, [a])
            else:
                r = self.node(N_FUNC, [a])
                r.name = tk.name
            if base is not None:
                r = self.node(N_DIV, [r, base])
            if power is not None:
                r = self.node(N_POW, [r, power])
        elif k == T_LP or k == T_LB:
            inner = self.parse_list(True)
            close = self.peek()
            if close is None or close.kind not in (T_RP, T_RB) or inner is None:
                raise _ParseError()
            self.i += 1
            items = inner.kids if inner.kind == N_SEQ else [inner]
            if len(items) == 2 and (k == T_LB or close.kind == T_RB):
                r = self.node(N_IVL, [items[0], items[1]])
                r.op = (1 if k == T_LB else 0) | (2 if close.kind == T_RB else 0)
            elif len(items) == 1 and k == T_LP and close.kind == T_RP:
                r = inner
            elif len(items) == 1:
                r = inner
            else:
                r = self.node(N_TUPLE, list(items))
        elif k == T_LC:
            inner = self.parse_list(False)
            if not self.at(T_RC) or inner is None:
                raise _ParseError()
            self.i += 1
            r = inner
        elif k == T_LS:
            inner = self.parse_list(False)
            if not self.at(T_RS):
                raise _ParseError()
            self.i += 1
            items = [] if inner is None else (inner.kids if inner.kind == N_SEQ else [inner])
            r = self.node(N_SET, list(items))
        elif k == T_BAR:
            inner = self.parse_add()
            if not self.at(T_BAR):
                raise _ParseError()
            self.i += 1
            r = self.node(N_ABS, [inner])
        elif k == T_MATB:
            rows = []
            row = []
            while True:
                if self.at(T_MATE):
                    self.i += 1
                    break
                if self.peek() is None:
                    raise _ParseError()
                if self.at(T_AMP):
                    self.i += 1
                    continue
                if self.at(T_ROW):
                    self.i += 1
                    if row:
                        rows.append(self.node(N_TUPLE, row))
                    row = []
                    continue
                row.append(self.parse_add())
                if len(row) > MAX_ELEMS:
                    raise _ParseError()
            if row:
                rows.append(self.node(N_TUPLE, row))
            r = self.node(N_MAT, rows)
        else:
            raise _ParseError()
        self.leave()
        return r


def _int_lit(e):
    return e.kind == N_NUM and e.lit and e.dec < 0


def _name_like(e):
    k = e.kind
    if k == N_VAR:
        return True
    if k == N_APPLY:
        return e.kids[0].kind == N_VAR
    if k in (N_MUL, N_DIV, N_TUPLE):
        return len(e.kids) > 0 and all(_name_like(x) for x in e.kids)
    if k == N_ABS:
        return _name_like(e.kids[0])
    return False


def _any_below(e, kinds):
    """Whether e or a node below it has a kind in `kinds`."""
    stack = [e]
    while stack:
        x = stack.pop()
        if x.kind in kinds:
            return True
        stack.extend(x.kids)
    return False


_VAR_KINDS = frozenset((N_VAR, N_APPLY))
_VAR_OR_CONTAINER_KINDS = _VAR_KINDS | frozenset(_CONTAINERS)


def _is_const(e):
    """No variables and no containers below e (an arithmetic constant)."""
    return not _any_below(e, _VAR_OR_CONTAINER_KINDS)


def parse(ans):
    """Answer bytes -> AST root, or None."""
    if len(ans) > MAX_ANSWER:
        return None
    toks = tokenize(ans)
    if toks is None or not toks:
        return None
    p = _Parser(toks)
    try:
        return p.parse_answer()
    except (_ParseError, RecursionError):
        return None


# ----------------------------------------------------------------------------- evaluation


class _Ctx(object):
    __slots__ = ("steps",)

    def __init__(self):
        self.steps = 0

    def step(self):
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _Abort()


def _qadd(a, b, sign):
    n = a[0] * b[1] + sign * b[0] * a[1]
    d = a[1] * b[1]
    if not _bits_ok(n, d):
        return None
    return _reduce(n, d)


def _qmul(a, b):
    n = a[0] * b[0]
    d = a[1] * b[1]
    if not _bits_ok(n, d):
        return None
    return _reduce(n, d)


def _qdiv(a, b):
    if b[0] == 0:
        return None
    n = a[0] * b[1]
    d = a[1] * b[0]
    if d < 0:
        n, d = -n, -d
    if not _bits_ok(n, d):
        return None
    return _reduce(n, d)


def _qpow(a, e):
    """a ** e for an integer e, exactly, or None past the caps."""
    if e == 0:
        return (1, 1)
    if a[0] == 0:
        return (0, 1) if e > 0 else None
    if abs(e) > MAX_EXP:
        if a[1] == 1 and (a[0] == 1 or a[0] == -1):
            return (a[0] if e % 2 else 1, 1)
        return None
    nb = max(abs(a[0]).bit_length() - 1, a[1].bit_length() - 1)
    if nb * abs(e) > MAX_BITS:
        return None
    n = a[0] ** abs(e)
    d = a[1] ** abs(e)
    if e < 0:
        n, d = d, n
        if d < 0:
            n, d = -n, -d
    if not _bits_ok(n, d):
        return None
    return _reduce(n, d)


def eval_q(e, mask, ctx):
    """Exact value (num, den) of a constant expression, or None."""
    ctx.step()
    k = e.kind
    if k == N_NUM:
        return (e.num, e.den)
    if k == N_NEG:
        a = eval_q(e.kids[0], mask, ctx)
        return None if a is None else (-a[0], a[1])
    if k in (N_ADD, N_SUB, N_MUL, N_DIV):
        a = eval_q(e.kids[0], mask, ctx)
        if a is None:
            return None
        b = eval_q(e.kids[1], mask, ctx)
        if b is None:
            return None
        if k == N_ADD:
            return _qadd(a, b, 1)
        if k == N_SUB:
            return _qadd(a, b, -1)
        if k == N_MUL:
            return _qmul(a, b)
        return _qdiv(a, b)
    if k == N_PM:
        neg = ((mask >> e.op) & 1) == 1
        if e.lit:
            neg = not neg
        if len(e.kids) == 1:
            a = eval_q(e.kids[0], mask, ctx)
            return None if a is None else ((-a[0], a[1]) if neg else a)
        a = eval_q(e.kids[0], mask, ctx)
        if a is None:
            return None
        b = eval_q(e.kids[1], mask, ctx)
        if b is None:
            return None
        return _qadd(a, b, -1 if neg else 1)
    if k == N_POW:
        b = eval_q(e.kids[1], mask, ctx)
        if b is None or b[1] != 1:
            return None
        a = eval_q(e.kids[0], mask, ctx)
        if a is None:
            return None
        return _qpow(a, b[0])
    if k == N_FACT:
        a = eval_q(e.kids[0], mask, ctx)
        if a is None or a[1] != 1 or a[0] < 0 or a[0] > MAX_FACT:
            return None
        r = 1
        for i in range(2, a[0] + 1):
            ctx.step()
            r *= i
            if r.bit_length() > MAX_BITS:
                return None
        return (r, 1)
    if k == N_ABS:
        a = eval_q(e.kids[0], mask, ctx)
        return None if a is None else (abs(a[0]), a[1])
    return None


def _top64(n):
    """Correctly rounded float(n) for n >= 0 through the top 64 bits plus a sticky bit (as in C++)."""
    L = n.bit_length()
    if L <= 64:
        return float(n), 0
    sh = L - 64
    m = n >> sh
    if n & ((1 << sh) - 1):
        m |= 1
    return float(m), sh


def q_to_double(q):
    n, d = q
    neg = n < 0
    if neg:
        n = -n
    mn, en = _top64(n)
    md, ed = _top64(d)
    try:
        r = math.ldexp(mn / md, en - ed)
    except OverflowError:
        r = math.inf
    return -r if neg else r


def _fnv(name, j):
    h = 0xCBF29CE484222325
    for c in name:
        h ^= c
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    h ^= 35
    h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    h ^= 48 + j
    h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def var_value(name, j):
    h = _fnv(name, j)
    u = (h >> 11) * (1.0 / 9007199254740992.0)
    return 0.5 + 2.0 * u


def _fin(x):
    return x - x == 0.0


def _call(fn, x):
    """libm function with C semantics: a non-finite result from a finite input is NaN."""
    try:
        if fn == b"sin":
            r = math.sin(x)
        elif fn == b"cos":
            r = math.cos(x)
        elif fn == b"tan":
            r = math.tan(x)
        elif fn == b"sec":
            r = 1.0 / math.cos(x)
        elif fn == b"csc":
            r = 1.0 / math.sin(x)
        elif fn == b"cot":
            r = 1.0 / math.tan(x)
        elif fn == b"arcsin":
            r = math.asin(x)
        elif fn == b"arccos":
            r = math.acos(x)
        elif fn == b"arctan":
            r = math.atan(x)
        elif fn == b"sinh":
            r = math.sinh(x)
        elif fn == b"cosh":
            r = math.cosh(x)
        elif fn == b"tanh":
            r = math.tanh(x)
        elif fn == b"ln" or fn == b"log":
            r = math.log(x)
        elif fn == b"exp":
            r = math.exp(x)
        else:
            r = math.nan
    except (ValueError, OverflowError, ZeroDivisionError):
        return math.nan
    return r if _fin(r) else math.nan


def _pow_d(a, b):
    try:
        r = math.pow(a, b)
    except (ValueError, OverflowError, ZeroDivisionError):
        return math.nan
    return r if _fin(r) else math.nan


def eval_d(e, j, mask, ctx):
    """Double value at point j (variables hashed to (0.5, 2.5)); NaN where undefined."""
    ctx.step()
    k = e.kind
    if k == N_NUM:
        return q_to_double((e.num, e.den))
    if k == N_VAR:
        return var_value(e.name, j)
    if k == N_PI:
        return math.pi
    if k == N_E:
        return math.e
    if k == N_INF:
        return math.inf
    if k == N_NEG:
        return -eval_d(e.kids[0], j, mask, ctx)
    if k in (N_ADD, N_SUB, N_MUL, N_DIV, N_APPLY):
        a = eval_d(e.kids[0], j, mask, ctx)
        b = eval_d(e.kids[1], j, mask, ctx)
        if k == N_ADD:
            r = a + b
        elif k == N_SUB:
            r = a - b
        elif k == N_MUL or k == N_APPLY:
            if (a == 0.0 and not _fin(b)) or (b == 0.0 and not _fin(a)):
                return math.nan
            r = a * b
        else:
            if b == 0.0:
                return math.nan
            r = a / b
        if not _fin(r) and _fin(a) and _fin(b):
            return math.nan
        return r
    if k == N_PM:
        neg = ((mask >> e.op) & 1) == 1
        if e.lit:
            neg = not neg
        a = eval_d(e.kids[0], j, mask, ctx)
        if len(e.kids) == 1:
            return -a if neg else a
        b = eval_d(e.kids[1], j, mask, ctx)
        return a - b if neg else a + b
    if k == N_POW:
        a = eval_d(e.kids[0], j, mask, ctx)
        b = eval_d(e.kids[1], j, mask, ctx)
        if not (_fin(a) and _fin(b)):
            return math.nan
        return _pow_d(a, b)
    if k == N_ROOT:
        a = eval_d(e.kids[0], j, mask, ctx)
        if len(e.kids) == 1:
            if not _fin(a) or a < 0.0:
                return math.nan
            return math.sqrt(a)
        m = eval_d(e.kids[1], j, mask, ctx)
        if not (_fin(a) and _fin(m)) or m == 0.0:
            return math.nan
        if a < 0.0:
            mi = int(m) if abs(m) < 1e6 else 0
            if float(mi) == m and mi % 2 == 1:
                return -_pow_d(-a, 1.0 / m)
            return math.nan
        return _pow_d(a, 1.0 / m)
    if k == N_FACT:
        a = eval_d(e.kids[0], j, mask, ctx)
        if not _fin(a) or a < 0.0 or a > 170.0 or a != math.floor(a):
            return math.nan
        r = 1.0
        i = 2
        while i <= int(a):
            r *= float(i)
            i += 1
        return r
    if k == N_ABS:
        return abs(eval_d(e.kids[0], j, mask, ctx))
    if k == N_FUNC:
        a = eval_d(e.kids[0], j, mask, ctx)
        if not _fin(a):
            return math.nan
        return _call(e.name, a)
    if k == N_BINOM:
        a = eval_d(e.kids[0], j, mask, ctx)
        b = eval_d(e.kids[1], j, mask, ctx)
        if not (_fin(a) and _fin(b)) or b != math.floor(b) or b < 0.0 or b > 1000.0:
            return math.nan
        r = 1.0
        i = 1
        while i <= int(b):
            ctx.step()
            r = r * (a - b + float(i)) / float(i)
            i += 1
        return r if _fin(r) else math.nan
    return math.nan


# ----------------------------------------------------------------------------- comparison


def _has_var(e):
    return _any_below(e, _VAR_KINDS)


def _pm_ids(e):
    ids = []
    stack = [e]
    while stack:
        x = stack.pop()
        if x.kind == N_PM:
            ids.append(x.op)
        stack.extend(x.kids)
    ids.sort()
    return ids


def _approx_lit(e):
    """A decimal literal precise enough to be an approximation: its number of decimals, else -1."""
    x = e.kids[0] if e.kind == N_NEG else e
    if x.kind == N_NUM and x.lit and x.dec >= 1 and (x.dec >= 2 or x.sig >= 3):
        return x.dec
    return -1


def _plain_lit(e):
    x = e.kids[0] if e.kind == N_NEG else e
    return x.kind == N_NUM and x.lit


def _close(a, b):
    if a == b:
        return True
    if not (_fin(a) and _fin(b)):
        return False
    return abs(a - b) <= RTOL * max(abs(a), abs(b)) + ATOL


def _round_close(lit_value, dec, x):
    if not (_fin(lit_value) and _fin(x)):
        return False
    tol = 0.5 * (10.0 ** (-dec)) * (1.0 + 1e-9) + 1e-15 * max(1.0, abs(x))
    return abs(x - lit_value) <= tol


def expr_eq(a, ma, b, mb, ctx):
    """Two arithmetic expressions (with \\pm signs fixed by the masks)."""
    if _has_var(a) or _has_var(b):
        valid = 0
        for j in range(NPOINTS):
            x = eval_d(a, j, ma, ctx)
            y = eval_d(b, j, mb, ctx)
            xn = x != x
            yn = y != y
            if xn and yn:
                continue
            if xn or yn:
                return False
            if not _close(x, y):
                return False
            valid += 1
        return valid > 0
    da = _approx_lit(a)
    db = _approx_lit(b)
    qa = eval_q(a, ma, ctx)
    qb = eval_q(b, mb, ctx)
    if qa is not None and qb is not None and qa[0] * qb[1] == qb[0] * qa[1]:
        return True
    if da >= 0 and not _plain_lit(b):
        return _round_close(eval_d(a, 0, ma, ctx), da, eval_d(b, 0, mb, ctx))
    if db >= 0 and not _plain_lit(a):
        return _round_close(eval_d(b, 0, mb, ctx), db, eval_d(a, 0, ma, ctx))
    if qa is not None and qb is not None:
        return False
    x = eval_d(a, 0, ma, ctx)
    y = eval_d(b, 0, mb, ctx)
    if x != x or y != y:
        return False
    return _close(x, y)


def _diff_values(a, b, j, ctx):
    return eval_d(a.kids[0], j, 0, ctx) - eval_d(a.kids[1], j, 0, ctx), \
        eval_d(b.kids[0], j, 0, ctx) - eval_d(b.kids[1], j, 0, ctx)


def rel_eq(a, b, positive, ctx):
    """lhs-rhs of two relations proportional (by a positive factor when `positive`)."""
    for x in (a, b):
        for k in x.kids:
            if not _arith(k):
                return False
    ratio = None
    for j in range(NPOINTS):
        fa, fb = _diff_values(a, b, j, ctx)
        if fa != fa or fb != fb:
            if (fa != fa) != (fb != fb):
                return False
            continue
        za = abs(fa) <= 1e-10
        zb = abs(fb) <= 1e-10
        if za and zb:
            continue
        if za or zb:
            return False
        r = fa / fb
        if ratio is None:
            ratio = r
            if positive and r <= 0.0:
                return False
        elif not _close(r, ratio):
            return False
    return True


def _arith(e):
    """No containers below e (an arithmetic expression)."""
    return not _any_below(e, _CONTAINERS)


def _elements(e, out, ctx):
    """Flatten a list/set for unordered comparison: \\pm expressions give one element per sign."""
    for k in e.kids:
        ctx.step()
        if len(out) > MAX_ELEMS:
            raise _Abort()
        if _arith(k):
            ids = _pm_ids(k)
            if ids:
                for m in range(1 << len(ids)):
                    mask = FIXED
                    for bi, pid in enumerate(ids):
                        if (m >> bi) & 1:
                            mask |= 1 << pid
                    out.append((k, mask))
                continue
        out.append((k, FIXED))


def _expand(e, m, ctx):
    """One element per sign choice of an arithmetic expression whose \\pm signs are not fixed yet."""
    if m & FIXED:
        return [(e, m)]
    out = []
    _elements(_Node(N_SEQ, [e]), out, ctx)
    return out


def _unordered_eq(xs, ys, ctx):
    """Set equality: every element of each side equals some element of the other side."""
    if not xs or not ys:
        return not xs and not ys
    # the calls in the C++ twin's order (ctx counts them)
    return all(any(node_eq(a, ma, b, mb, ctx) for b, mb in ys) for a, ma in xs) and \
        all(any(node_eq(a, ma, b, mb, ctx) for a, ma in xs) for b, mb in ys)


def _as_elems(e, ctx):
    out = []
    if e.kind in (N_SET, N_SEQ):
        _elements(e, out, ctx)
    else:
        holder = _Node(N_SEQ, [e])
        _elements(holder, out, ctx)
    return out


def _rel_to_interval(e):
    """x > 5 -> (5, inf); 5 >= x -> (-inf, 5]; None when not `name op value`."""
    a, b = e.kids
    op = e.op
    if op not in (O_GT, O_GE):
        return None
    closed = op == O_GE
    if _name_like(a) and _is_const(b):
        iv = _Node(N_IVL, [b, _Node(N_INF)])
        iv.op = 1 if closed else 0
        return iv
    if _name_like(b) and _is_const(a):
        iv = _Node(N_IVL, [_Node(N_NEG, [_Node(N_INF)]), a])
        iv.op = 2 if closed else 0
        return iv
    return None


def _mk(kind, kids):
    r = _Node(kind, kids)
    r.depth = 1 + max(k.depth for k in kids)
    return r


def _mat_value(e, depth):
    """The cells (rows of nodes) of a matrix expression: a matrix, -M, M + N, M - N, c M, M c and M N
    for compatible shapes of at most MAX_MAT_CELLS cells, the cells left as expressions; None when e
    is not one (or a matrix is ragged)."""
    k = e.kind
    if k == N_MAT:
        rows = [list(r.kids) for r in e.kids]
        if not rows or not rows[0] or any(len(r) != len(rows[0]) for r in rows) or len(rows) * len(rows[0]) > MAX_MAT_CELLS:
            return None
        return rows
    if depth >= 8 or k not in (N_NEG, N_ADD, N_SUB, N_MUL) or (k == N_MUL and e.op != 0):
        return None
    x = _mat_value(e.kids[0], depth + 1)
    if k == N_NEG:
        return None if x is None else [[_mk(N_NEG, [c]) for c in r] for r in x]
    y = _mat_value(e.kids[1], depth + 1)
    if k in (N_ADD, N_SUB):
        if x is None or y is None or len(x) != len(y) or len(x[0]) != len(y[0]):
            return None
        return [[_mk(k, [c, d]) for c, d in zip(rx, ry)] for rx, ry in zip(x, y)]
    if x is not None and y is not None:  # M N
        if len(x[0]) != len(y) or len(x) * len(y[0]) > MAX_MAT_CELLS:
            return None
        out = []
        for i in range(len(x)):
            row = []
            for j in range(len(y[0])):
                cell = _mk(N_MUL, [x[i][0], y[0][j]])
                for t in range(1, len(y)):
                    cell = _mk(N_ADD, [cell, _mk(N_MUL, [x[i][t], y[t][j]])])
                row.append(cell)
            out.append(row)
        return out
    if x is not None and _arith(e.kids[1]):  # M c
        return [[_mk(N_MUL, [c, e.kids[1]]) for c in r] for r in x]
    if y is not None and _arith(e.kids[0]):  # c M
        return [[_mk(N_MUL, [e.kids[0], c]) for c in r] for r in y]
    return None


def node_eq(a, ma, b, mb, ctx):
    ctx.step()
    ka = a.kind
    kb = b.kind
    # name = value against anything else: compare the value
    if ka == N_EQ and kb == N_EQ:
        if a.op == 1 and b.op == 1 and text_of_node(a.kids[0]) == text_of_node(b.kids[0]):
            return node_eq(a.kids[1], ma, b.kids[1], mb, ctx)
        if _arith(a.kids[0]) and _arith(a.kids[1]) and _arith(b.kids[0]) and _arith(b.kids[1]):
            return rel_eq(a, b, False, ctx)
        if a.op == 1 and b.op == 1:
            return node_eq(a.kids[1], ma, b.kids[1], mb, ctx)
        return False
    if ka == N_EQ and a.op == 1:
        return node_eq(a.kids[1], ma, b, mb, ctx)
    if kb == N_EQ and b.op == 1:
        return node_eq(a, ma, b.kids[1], mb, ctx)
    if ka == N_SEQ and len(a.kids) == 1:
        return node_eq(a.kids[0], ma, b, mb, ctx)
    if kb == N_SEQ and len(b.kids) == 1:
        return node_eq(a, ma, b.kids[0], mb, ctx)
    if ka == N_TEXT or kb == N_TEXT:
        return ka == kb and a.name == b.name
    if ka == N_REL and kb == N_REL:
        return a.op == b.op and rel_eq(a, b, a.op != O_NE, ctx)
    if ka == N_REL and kb in (N_IVL, N_UNION, N_TUPLE):
        iv = _rel_to_interval(a)
        return iv is not None and node_eq(iv, 0, b, mb, ctx)
    if kb == N_REL and ka in (N_IVL, N_UNION, N_TUPLE):
        iv = _rel_to_interval(b)
        return iv is not None and node_eq(a, ma, iv, 0, ctx)
    if ka == N_EQ or kb == N_EQ or ka == N_REL or kb == N_REL:
        return False
    if ka == N_IVL and kb == N_IVL:
        return a.op == b.op and node_eq(a.kids[0], ma, b.kids[0], mb, ctx) and \
            node_eq(a.kids[1], ma, b.kids[1], mb, ctx)
    if (ka == N_IVL and kb == N_TUPLE) or (ka == N_TUPLE and kb == N_IVL):
        iv, tp = (a, b) if ka == N_IVL else (b, a)
        if iv.op != 0 or len(tp.kids) != 2:
            return False
        return node_eq(a.kids[0], ma, b.kids[0], mb, ctx) and node_eq(a.kids[1], ma, b.kids[1], mb, ctx)
    if ka == N_MAT and kb == N_MAT:  # row by row (ragged rows too)
        if len(a.kids) != len(b.kids):
            return False
        for q in range(len(a.kids)):
            ra = a.kids[q]
            rb = b.kids[q]
            if len(ra.kids) != len(rb.kids):
                return False
            for w in range(len(ra.kids)):
                if not node_eq(ra.kids[w], ma, rb.kids[w], mb, ctx):
                    return False
        return True
    if ka == N_MAT or kb == N_MAT:  # a matrix against matrix arithmetic: cell by cell
        x = _mat_value(a, 0)
        y = _mat_value(b, 0)
        if x is None or y is None or len(x) != len(y) or len(x[0]) != len(y[0]):
            return False
        for q in range(len(x)):
            for w in range(len(x[0])):
                if not node_eq(x[q][w], ma, y[q][w], mb, ctx):
                    return False
        return True
    if ka == N_TUPLE and kb in (N_TUPLE, N_SEQ) or kb == N_TUPLE and ka == N_SEQ:
        if len(a.kids) != len(b.kids) or len(a.kids) > MAX_ELEMS:
            return False
        for q in range(len(a.kids)):
            if not node_eq(a.kids[q], ma, b.kids[q], mb, ctx):
                return False
        return True
    if ka == N_UNION and kb == N_UNION:
        return _unordered_eq([(x, ma) for x in a.kids], [(y, mb) for y in b.kids], ctx)
    if ka in (N_SET, N_SEQ) or kb in (N_SET, N_SEQ):
        if ka in (N_TUPLE, N_IVL, N_UNION, N_MAT) or kb in (N_TUPLE, N_IVL, N_UNION, N_MAT):
            return False
        return _unordered_eq(_as_elems(a, ctx), _as_elems(b, ctx), ctx)
    if ka in _CONTAINERS or kb in _CONTAINERS:
        return False
    # two arithmetic expressions
    if (not (ma & FIXED) and _pm_ids(a)) or (not (mb & FIXED) and _pm_ids(b)):
        return _unordered_eq(_expand(a, ma, ctx), _expand(b, mb, ctx), ctx)
    return expr_eq(a, ma, b, mb, ctx)


def text_of_node(e):
    """A canonical text of a small name-like node (to compare the left sides of x = ...)."""
    out = bytearray()
    stack = [e]
    while stack:
        x = stack.pop()
        out += bytes([x.kind + 65])
        out += x.name
        for k in reversed(x.kids):
            stack.append(k)
    return bytes(out)


def norm_text(s):
    """Loose text form: \\text-like commands, braces, spaces, $ and a final '.' dropped; lower case."""
    out = bytearray()
    n = len(s)
    i = 0
    while i < n:
        c = s[i]
        if c == 92:
            j = _letters_end(s, i + 1, n)
            name = s[i + 1:j]
            if j == i + 1:
                i = j + 1 if j < n and not _isalpha(s[j]) and s[j] in (44, 33, 59, 58, 32) else j
                if i == j:
                    out.append(92)
                continue
            if name in _TEXT_CMDS or name in _UNWRAP_CMDS or name in (b"left", b"right", b"displaystyle"):
                i = j
                continue
            out += s[i:j]
            i = j
            continue
        if _isspace(c) or c == 123 or c == 125 or c == 36:
            i += 1
            continue
        out.append(_lower(c))
        i += 1
    while out and out[-1] == 46:
        out.pop()
    return bytes(out)


def squeeze(s):
    """Exact form for the fast path: only whitespace and $ dropped."""
    return bytes(c for c in s if not (_isspace(c) or c == 36))


# ----------------------------------------------------------------------------- verify


def gold_answer(gold):
    x = _answer_of(normalize_text(gold[:MAX_SCAN]), True)
    return None if x is None else x[0]


def verify(resp, gold):
    """resp, gold: bytes. True when the response's final answer matches the gold answer."""
    g = gold_answer(gold)
    if g is None:
        return False
    t = prepare_response(resp)
    x = None if t is None else _answer_of(t, False)
    if x is None:
        return False
    p, r = x
    boxes = r[1]
    first_in_group = r[2]
    # multiple choice: the gold is letters
    gm = mc_letters(g, True)
    if gm is not None:
        pm = mc_letters(p, False)
        if pm is None or pm[1]:
            return False
        # several different boxed answers outside the final group: a hedge
        for bi in range(min(first_in_group, len(boxes))):
            bx = boxes[bi]
            m = mc_letters(t[bx[2]:bx[3]], False)
            if m is not None and m[0] != pm[0]:
                return False
        return pm[0] == gm[0]
    if squeeze(p) == squeeze(g):
        return True
    if len(p) > MAX_ANSWER or len(g) > MAX_ANSWER:
        return False
    ga = parse(g)
    pa = parse(p)
    if ga is None or pa is None:
        return norm_text(p) == norm_text(g)
    ctx = _Ctx()
    try:
        if node_eq(ga, 0, pa, 0, ctx):
            return True
    except (_Abort, RecursionError):
        return False
    if ga.kind == N_TEXT or pa.kind == N_TEXT:
        return norm_text(p) == norm_text(g)
    return False
