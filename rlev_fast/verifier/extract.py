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
from .tables import CHOICE_ANCHOR, CJK_COPULAS, IS_WORDS, PROSE_CONTINUERS, TEXT_ANCHORS
from .text import (BACKSLASH, COLON, COMMA, DOLLAR, LBRACKET, LPAREN, MINUS, NEWLINE, SPACE, isalpha, isdigit,
                   islower, isspace, isupper, letters_end, lower_bytes, normalize_text, strip_ws)

THINK_START, THINK_END = b"<think>", b"</think>"


def strip_answer(s):
    s = strip_ws(s)
    while s and s[-1] in b'.,;:!? ':
        s = s[:-1]
    return strip_ws(s)


def regions_index(regions, p):
    for idx, r in enumerate(regions):
        if r[0] == p:
            return idx
        if r[0] > p:
            break
    return -1


def mathish_start(s):
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
    return False


def cut_prose_tail(s):
    """'5, because ...' -> '5': cut at ', ' followed by a word of 3+ lowercase letters."""
    i = 0
    n = len(s)
    while i < n:
        if s[i] == COMMA and i + 1 < n and s[i + 1] == SPACE:
            j = i + 2
            k = j
            while k < n and islower(s[k]):
                k += 1
            if k - j >= 3 and s[j:k] not in PROSE_CONTINUERS:
                return s[:i]
        i += 1
    return s


def answer_from_span(t, p, regions):
    """The answer that follows an 'answer is' / 'Answer:' anchor ending at p, or None."""
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
        return region_group_fwd(t, regions, k, p + MAX_SPAN)
    end = sentence_end(t, p, MAX_SPAN)
    s = t[p:end]
    if mathish_start(s):
        s = strip_answer(cut_prose_tail(s))
        return s if s else None
    # prose: "The volume of $V$ is 120" -> after the last " is "
    best = -1
    for w in IS_WORDS:
        q = s.rfind(w)
        if q >= 0 and q + len(w) > best:
            best = q + len(w)
    if best >= 0:
        q = p + best
        while q < end and t[q] == SPACE:
            q += 1
        k = regions_index(regions, q)
        if k >= 0:
            return region_group_fwd(t, regions, k, p + MAX_SPAN)
        sub = t[q:end]
        if mathish_start(sub):
            sub = strip_answer(cut_prose_tail(sub))
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


def mathish_text(s):
    """No English word of 3+ letters (outside \\commands) and no second line: a bare formula."""
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
                if w != w.upper():
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


def extract_from(t, is_gold):
    """(answer bytes, boxes, group_first_box_index) or None. t is already prepared."""
    boxes = find_boxes(t)
    regions = find_regions(t)
    tl = lower_bytes(t)
    cands = []
    for bi in range(len(boxes)):
        cands.append((boxes[bi][0], 0, bi))
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
    tries = 0
    for pos, kind, idx in cands:
        if tries >= MAX_ANCHOR_TRIES:
            break
        tries += 1
        if kind == 0:
            j, ans = group_back(t, boxes, idx)
            if strip_ws(ans):
                return ans, boxes, j
            continue
        if kind == 2:
            b = bolds[idx]
            s = t[b[2]:b[3]]
            if bold_ok(s):
                return strip_answer(s), boxes, len(boxes)
            continue
        pat = TEXT_ANCHORS[idx]
        if idx == CHOICE_ANCHOR:  # 选: only directly before a choice letter
            q = pos + len(pat)
            while q < len(t) and (t[q] == COLON or t[q] == SPACE):
                q += 1
            if not (q < len(t) and isupper(t[q])):
                continue
        ans = answer_from_span(t, pos + len(pat), regions)
        if ans is not None and strip_ws(ans):
            return ans, boxes, len(boxes)
    # no anchor
    if is_gold:
        s = strip_ws(t)
        if s and s[0] != DOLLAR and not s.startswith(b"\\(") and not s.startswith(b"\\["):
            r = scan_number(s, 0, len(s))
            if r is not None and r[0] == len(s) and s[0] != MINUS:
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
        s = strip_ws(t)
        if s and len(s) <= MAX_SHORT_FORMULA and mathish_text(s):
            r = scan_number(s, 0, len(s))
            if r is not None and r[0] == len(s):
                return r[1], boxes, len(boxes)
            return s, boxes, len(boxes)
    ln = last_number(t, 0, len(t))
    if lr is not None and (ln is None or lr[0] >= ln[1]):
        _, ans = group_back(t, regions, lr[1])
        return ans, boxes, len(boxes)
    if ln is not None:
        return ln[2], boxes, len(boxes)
    s = strip_ws(t)
    if s and len(s) <= MAX_SHORT_TEXT:
        return s, boxes, len(boxes)
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
