"""Extraction: the final answer a text commits to. Twin of csrc/extract.cpp.

A response is cut after its last </think>, capped to its last MAX_SCAN bytes and normalized; then
the anchors (boxes, "answer is" / "Answer:" and the Chinese markers, answer-like **bold** spans) are
tried from the last one back, and the first that yields an answer wins. Without an anchor: the last
math region or plain number, or the whole text when it is a short formula. A gold answer key goes
through the same extraction, and when nothing is anchored the whole key is its answer.
"""
from .caps import (MAX_ANCHOR_HITS, MAX_ANCHOR_TRIES, MAX_BOLD, MAX_BOLD_SPANS, MAX_CHOICE_LETTERS, MAX_SCAN,
                     MAX_SHORT_FORMULA, MAX_SHORT_TEXT, MAX_SPAN)
from .scan import (find_boxes, find_regions, group_back, last_number, region_group_fwd, scan_number,
                   sentence_end)
from .tables import (CHOICE_ANCHOR, CJK_COPULAS, IS_WORDS, MATH_WORDS, PROSE_CONTINUERS, PROSE_JOINERS,
                     TEXT_ANCHORS)
from .text import (BACKSLASH, COLON, COMMA, DOLLAR, LBRACE, LBRACKET, LPAREN, MINUS, NEWLINE, RBRACE, SPACE,
                   decode_at, is_cjk, is_word_char, isalpha, isdigit, islower, isspace, isupper, letters_end,
                   lower_bytes, normalize_text, strip_ws)

THINK_START, THINK_END = b"<think>", b"</think>"


# how an answer was found (the commitment stage reads the words around it by this)
HOW_BOX, HOW_BOLD, HOW_TEXT, HOW_WHOLE, HOW_REGION, HOW_NUMBER = range(6)

_TRIM_TAIL = b'.,;:!? *(['  # final punctuation, markdown emphasis, a bracket left open by a cut


def trim(t, a, b):
    """(a', b'): t[a:b] without surrounding spaces, final punctuation or markdown, and without a
    dangling "or" / "and" where prose was cut off ("5, or maybe 6" -> "5")."""
    while a < b and isspace(t[a]):
        a += 1
    while True:
        while b > a and t[b - 1] in _TRIM_TAIL:
            b -= 1
        w = b
        while w > a and islower(t[w - 1]):
            w -= 1
        if w < b and t[w:b] in PROSE_JOINERS and (w == a or not isalpha(t[w - 1])):
            b = w
            continue
        if b > a and isspace(t[b - 1]):
            b -= 1
            continue
        return a, b


def strip_answer(s):
    a, b = trim(s, 0, len(s))
    return s[a:b]


def regions_index(regions, p):
    for idx, r in enumerate(regions):
        if r[0] == p:
            return idx
        if r[0] > p:
            break
    return -1


def mathish_start(s):
    """s starts like a formula: a digit or symbol, a run of capitals ("B", "ACD"), or one lower-case
    letter that an operator or the end follows ("x = 3", "b)", "b."), not a word ("a prime")."""
    if not s:
        return False
    c = s[0]
    if isdigit(c) or c in b'-+.([\\{|':
        return True
    if isupper(c):
        j = 0
        while j < len(s) and isupper(s[j]):
            j += 1
        if j <= MAX_CHOICE_LETTERS and (j == len(s) or not isalpha(s[j])):
            return True
    if islower(c) and (len(s) == 1 or not isalpha(s[1])):
        j = 1
        while j < len(s) and s[j] == SPACE:
            j += 1
        return j == len(s) or s[j] in b"=<>^_(),.;:+-*/!'"
    return False


def prose_start(t, a, b):
    """The first position in t[a:b] where prose begins, or b: ", " before a lower-case word of 3+
    letters; outside braces, a lower-case word of 2+ letters that is not mathematics ("5 apples",
    "x = 2 if ..."), or a letter of a language other than English ("A，也可能是B")."""
    depth = 0
    i = a
    while i < b:
        c = t[i]
        if c == LBRACE:
            depth += 1
        elif c == RBRACE:
            depth -= 1 if depth > 0 else 0
        elif c == BACKSLASH:
            i = letters_end(t, i + 1, b) if i + 1 < b and isalpha(t[i + 1]) else i + 2
            continue
        elif c == COMMA and i + 1 < b and t[i + 1] == SPACE:
            k = j = i + 2
            while k < b and islower(t[k]):
                k += 1
            if k - j >= 3 and t[j:k] not in PROSE_CONTINUERS:
                return i
        elif depth == 0 and islower(c) and (i == a or not isalpha(t[i - 1])):
            j = letters_end(t, i, b)
            if j - i >= 2 and t[i:j] not in MATH_WORDS:
                return i
            i = j
            continue
        elif c >= 0x80 and depth == 0:
            cp, n = decode_at(t, i)
            if is_cjk(cp) or is_word_char(cp):
                return i
            i += n
            continue
        i += 1
    return b


def _rfind_outside(t, w, p, end, regions):
    """The last w in t[p:end] that is not inside a math region ("x = 1 + 1 = 2" is one formula)."""
    q = t.rfind(w, p, end)
    while q >= 0 and any(r[0] < q < r[1] for r in regions):
        q = t.rfind(w, p, q)
    return q


def after_copula(t, p, end, regions, words_only=False):
    """In prose ("The volume of $V$ is 120", "The roots are 2 and 3"): the formula after the last
    " is " / " are " / " was " / " equals " / " be " of t[p:end], else (unless words_only) after its
    last " = ": (answer, start, end) or None."""
    best = -1
    for w in (IS_WORDS[:-1] if words_only else IS_WORDS):
        q = _rfind_outside(t, w, p, end, regions)
        if q >= 0 and q + len(w) > best and (w != IS_WORDS[-1] or best < 0):
            best = q + len(w)
    if best < 0:
        return None
    q = best
    while q < end and t[q] == SPACE:
        q += 1
    k = regions_index(regions, q)
    if k >= 0:
        ans, j = region_group_fwd(t, regions, k, p + MAX_SPAN)
        return ans, regions[k][0], regions[j][1]
    if mathish_start(t[q:end]):
        a, b = trim(t, q, prose_start(t, q, end))
        if b > a:
            return t[a:b], a, b
    return None


def answer_from_span(t, p, regions):
    """The answer that follows an 'answer is' / 'Answer:' anchor ending at p: (answer, start, end)
    with the answer at t[start:end] (joined math regions: from the first to the last), or None."""
    n = len(t)
    while p < n and (isspace(t[p]) or t[p] in b':*"\'`\\' and not (t[p] == BACKSLASH and p + 1 < n and (t[p + 1] == LPAREN or t[p + 1] == LBRACKET or isalpha(t[p + 1])))):
        p += 1
    # a Chinese copula after the anchor: 答案是 B, 答案为 B
    while p + 2 < n and t[p:p + 3] in CJK_COPULAS:
        p += 3
        while p < n and (isspace(t[p]) or t[p] == COLON):
            p += 1
    if p >= n:
        return None
    k = regions_index(regions, p)
    if k >= 0:
        r = regions[k]
        if r[3] <= r[2]:
            return None
        ans, j = region_group_fwd(t, regions, k, p + MAX_SPAN)
        return ans, r[0], regions[j][1]
    end = sentence_end(t, p, MAX_SPAN)
    if mathish_start(t[p:end]):
        a, b = trim(t, p, prose_start(t, p, end))
        return (t[a:b], a, b) if b > a else None
    r = after_copula(t, p, end, regions)
    if r is not None:
        return r
    # else the last math region or number inside the sentence
    lr = None
    for r in regions:
        if r[0] >= p and r[1] <= end:
            lr = r
    ln = last_number(t, p, end)
    if lr is not None and (ln is None or lr[1] >= ln[1]):
        return (t[lr[2]:lr[3]], lr[0], lr[1]) if lr[3] > lr[2] else None
    if ln is not None:
        return ln[2], ln[0], ln[1]
    return None


def mathish_text(s):
    """No English word of 3+ letters (outside \\commands; "and", "or" and function names are
    mathematics) and no second line: a bare formula."""
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == NEWLINE:
            return False
        if isalpha(c):
            j = letters_end(s, i, n)
            if j - i >= 3 and not (i > 0 and s[i - 1] == BACKSLASH):
                w = s[i:j]
                if w != w.upper() and w not in MATH_WORDS:
                    return False
            i = j
        else:
            i += 1
    return True


def bold_ok(s):
    s = strip_ws(s)
    if not s or len(s) > MAX_BOLD:
        return False
    if not mathish_start(s) and s[0] != DOLLAR:
        return False
    return mathish_text(s)  # rejects "**Step 3**", "**Final Answer**"


def bold_spans(t):
    res = []
    i = 0
    while len(res) < MAX_BOLD_SPANS:
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
    k = data.rfind(THINK_END)
    if k >= 0:
        data = data[k + len(THINK_END):]
    elif data.find(THINK_START) >= 0:
        return None
    if len(data) > MAX_SCAN:
        data = data[len(data) - MAX_SCAN:]
    return normalize_text(data)


def _anchored(t, boxes, regions):
    """The answer of the last anchor that yields one (tried from the end, MAX_ANCHOR_TRIES of them):
    (answer, first box of its group, start, end, how) or None."""
    tl = lower_bytes(t)
    cands = [(boxes[bi][0], 0, bi) for bi in range(len(boxes))]
    for ai in range(len(TEXT_ANCHORS)):
        pat = TEXT_ANCHORS[ai]
        i = 0
        cnt = 0
        while cnt < MAX_ANCHOR_HITS:
            q = tl.find(pat, i)
            if q < 0:
                break
            cands.append((q, 1, ai))
            i = q + 1
            cnt += 1
    bolds = bold_spans(t)
    for bi in range(len(bolds)):
        cands.append((bolds[bi][0], 2, bi))
    cands.sort(key=lambda x: (x[0], x[1], x[2]), reverse=True)
    for pos, kind, idx in cands[:MAX_ANCHOR_TRIES]:
        if kind == 0:
            j, ans = group_back(t, boxes, idx)
            if strip_ws(ans):
                return ans, j, boxes[j][0], boxes[idx][1], HOW_BOX
            continue
        if kind == 2:
            b = bolds[idx]
            if bold_ok(t[b[2]:b[3]]):
                a, e = trim(t, b[2], b[3])
                return t[a:e], len(boxes), a, e, HOW_BOLD
            continue
        pat = TEXT_ANCHORS[idx]
        if idx == CHOICE_ANCHOR:  # 选: only directly before a choice letter
            q = pos + len(pat)
            while q < len(t) and (t[q] == COLON or t[q] == SPACE):
                q += 1
            if not (q < len(t) and isupper(t[q])):
                continue
        r = answer_from_span(t, pos + len(pat), regions)
        if r is not None and strip_ws(r[0]):
            return r[0], len(boxes), r[1], r[2], HOW_TEXT
    return None


def _sentence_start(t, p):
    """The start of the sentence around position p (after the last '. ', '! ', '? ' or newline)."""
    i = p
    while i > 0:
        c = t[i - 1]
        if c == NEWLINE or (c in b".!?" and i < len(t) and isspace(t[i])):
            return i
        i -= 1
    return 0


def extract_from(t, is_gold):
    """(answer, boxes, first box of the answer's group, start, end, how) of prepared text t, or None.
    The answer lies at t[start:end] (its boxes or regions from the first to the last)."""
    boxes = find_boxes(t)
    regions = find_regions(t)
    nb = len(boxes)
    r = _anchored(t, boxes, regions)
    if r is not None:
        return (r[0], boxes) + r[1:]
    # no anchor
    s0, s1 = len(t) - len(t.lstrip()), len(t.rstrip())
    s = strip_ws(t)
    if is_gold and s and s[0] != DOLLAR and not s.startswith(b"\\(") and not s.startswith(b"\\["):
        num = scan_number(s, 0, len(s))
        if num is not None and num[0] == len(s) and s[0] != MINUS:
            return num[1], boxes, nb, s0, s1, HOW_WHOLE
        if not regions:
            return s, boxes, nb, s0, s1, HOW_WHOLE
    lr = None
    k = len(regions) - 1
    while k >= 0 and regions[k][3] <= regions[k][2]:
        k -= 1
    if k >= 0:
        lr = (regions[k][1], k)
    if lr is None and s and len(s) <= MAX_SHORT_FORMULA and mathish_start(s) and mathish_text(s):
        num = scan_number(s, 0, len(s))
        return (num[1] if num is not None and num[0] == len(s) else s), boxes, nb, s0, s1, HOW_WHOLE
    ln = last_number(t, 0, len(t))
    # the last statement: "The roots are 2 and 3." -> what follows its last " is " / " are " / " = "
    last = lr[0] if lr is not None and (ln is None or lr[0] >= ln[1]) else ln[1] if ln is not None else -1
    p = _sentence_start(t, (last if last >= 0 else s1) - 1)
    stmt = after_copula(t, p, sentence_end(t, p, MAX_SPAN), regions, True)
    if stmt is not None and strip_ws(stmt[0]) and stmt[2] >= last:
        return stmt[0], boxes, nb, stmt[1], stmt[2], HOW_TEXT
    if lr is not None and (ln is None or lr[0] >= ln[1]):
        j, ans = group_back(t, regions, lr[1])
        return ans, boxes, nb, regions[j][0], lr[0], HOW_REGION
    if ln is not None:
        return ln[2], boxes, nb, ln[0], ln[1], HOW_NUMBER
    if s and len(s) <= MAX_SHORT_TEXT:
        return s, boxes, nb, s0, s1, HOW_WHOLE
    return None


def answer_of(t, is_gold):
    """(answer without spaces, the extraction) of prepared text t, or None when nothing non-empty
    is found."""
    r = extract_from(t, is_gold)
    if r is None:
        return None
    a = strip_ws(r[0])
    return (a, r) if a else None


def gold_answer(gold):
    """The gold side's answer (answer keys: "$\\frac12$", "\\boxed{3}", "(B)", "x=5") or None."""
    x = answer_of(normalize_text(gold[:MAX_SCAN]), True)
    return None if x is None else x[0]


def extract(data):
    """Public extraction on response bytes: answer bytes or None."""
    t = prepare_response(data)
    x = None if t is None else answer_of(t, False)
    return None if x is None else x[0]
