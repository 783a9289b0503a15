"""Commitment: whether a response stands by the answer extracted from it. Twin of csrc/context.cpp.

The answer is wrong, whatever its value, when the words around it take it back (docs/verifier.md
gives each rule with its reason):

  joined     an invisible character (zero-width space / joiner, bidi control, BOM, soft hyphen ...)
             sits inside the answer: the text shown is not the text read.
  attached   a box is glued into a larger expression: \\boxed{5}^{\\text{no}}, 2\\boxed{5}, \\sqrt{\\boxed{16}}.
  question   the answer is asked, not stated: "The answer is 5? No, 7.", "A? B?".
  negated    a negator governs it ("not", "isn't", "never", "\\neq", "不是", "n'est pas", "nicht") in
             its clause before it, or a predicate follows it ("is wrong", "is not the answer",
             "是错误的"), or a later sentence about it says so ("That is wrong.").
  hedged     a second candidate is offered with a hedge word ("or", "maybe", "either", "one of",
             "alternatively", "或", "也可能", "ou", "oder", "или") in the answer's sentence or the next.
  retracted  a retraction follows it ("wait", "oops", "no,", "scratch that", "不对", "等等"), or a weak
             one ("actually", "rather", "I mean", "其实") followed by another candidate.

Words are read from the answer's clause before it (MAX_LEAD bytes at most), from the answer itself
and from what follows it (MAX_TAIL bytes). A negator that another candidate follows negates that
candidate ("5, not 6"); a predicate after another candidate is about that one ("options A and C are
incorrect"). Words the gold answer itself uses ("No", "not possible") are never markers.
"""
from .caps import MAX_ANSWER, MAX_LEAD, MAX_TAIL
from .extract import HOW_BOX
from .scan import brace_map, find_regions
from .tables import (ATTACH_AFTER_CMDS, ATTACH_BEFORE_CMDS, CJK_CLAUSE_WORDS, CJK_HEDGES, CJK_NEGATORS,
                     CJK_PREDICATES, CJK_REFERENCES, CJK_RETRACTIONS, CJK_WEAK_RETRACTIONS, CLAUSE_WORDS, COPULAS,
                     HEDGES, NEGATORS, OR_WORDS, PHRASES, PREDICATES, REFERENCES, RETRACTIONS,
                     V_ATTACHED, V_HEDGED, V_JOINED, V_NEGATED, V_OK, V_QUESTION, V_RETRACTED,
                     WEAK_RETRACTIONS, BOX_COMMANDS)
from .text import (BACKSLASH, BANG, DOLLAR, DOT, LBRACE, NEWLINE, QMARK, QUOTE,
                   SPACE, STAR, decode_at, is_cjk, is_invisible, is_word_char, isalpha, isdigit,
                   isspace, isupper, letters_end, lower_bytes)

# kinds of the items read around an answer
(W_WORD, W_CAND, W_SENTENCE, W_CLAUSE, W_QMARK, W_NEG, W_PRED, W_HEDGE, W_RETRACT, W_WEAK, W_REF, W_CONJ,
 W_NO) = range(13)

_CLASSES = ((NEGATORS, W_NEG), (PREDICATES, W_PRED), (HEDGES, W_HEDGE), (RETRACTIONS, W_RETRACT),
            (WEAK_RETRACTIONS, W_WEAK), (REFERENCES, W_REF), (CLAUSE_WORDS, W_CONJ))
_PHRASE_CLASS = {"RETRACTIONS": W_RETRACT, "WEAK_RETRACTIONS": W_WEAK, "HEDGES": W_HEDGE}
# CJK markers, longest first (不对 before 不, 也可能 before 可能)
_CJK = sorted([(m, k) for lst, k in ((CJK_RETRACTIONS, W_RETRACT), (CJK_PREDICATES, W_PRED),
                                    (CJK_NEGATORS, W_NEG), (CJK_HEDGES, W_HEDGE),
                                    (CJK_WEAK_RETRACTIONS, W_WEAK), (CJK_REFERENCES, W_REF),
                                    (CJK_CLAUSE_WORDS, W_CONJ)) for m in lst], key=lambda x: -len(x[0]))
_LATEX_NEGATORS = (b"ne", b"neq", b"not", b"neg", b"lnot", b"nequiv", b"notin")
_LATEX_VALUES = (b"pi", b"frac", b"dfrac", b"sqrt")  # a command that starts a value: a candidate
_SKIPPED = b"()[]{}*\"`~|"


def _classify(word, exempt):
    if word in exempt:
        return W_WORD
    for lst, kind in _CLASSES:
        if word in lst:
            return kind
    return W_WORD


def _cand_end(t, i, b):
    """End of the number starting at t[i] (digits with decimal points / commas between digits)."""
    j = i
    while j < b and (isdigit(t[j]) or (t[j] in b".," and j + 1 < b and isdigit(t[j + 1]))):
        j += 1
    return j


def read_items(t, a, b, regions, exempt):
    """The words, candidates and breaks of t[a:b] as (kind, text) pairs; regions: {start: region}
    of t's math regions (each is one candidate)."""
    out = []
    bm = None
    i = a
    while i < b:
        c = t[i]
        if (isspace(c) and c != NEWLINE) or c in _SKIPPED:
            i += 1
            continue
        if c == NEWLINE:
            out.append((W_SENTENCE, b""))
            i += 1
            continue
        if c == DOLLAR or (c == BACKSLASH and i + 1 < b and t[i + 1] in b"([" and t[i - 1:i] != b"\\"):
            r = regions.get(i)
            if r is not None and r[1] <= b:  # a math region is one candidate
                out.append((W_CAND, t[r[2]:r[3]].replace(b" ", b"")))
                i = r[1]
                continue
            i += 1
            continue
        if c == BACKSLASH:
            j = letters_end(t, i + 1, b)
            name = t[i + 1:j]
            if j == i + 1:
                i += 2
                continue
            if b"\\" + name in BOX_COMMANDS:
                if bm is None:
                    bm = brace_map(t)
                k = j
                while k < b and t[k] == SPACE:
                    k += 1
                e = bm.get(k, -1) if k < b and t[k] == LBRACE else -1
                if 0 <= e < b:
                    out.append((W_CAND, t[k + 1:e].replace(b" ", b"")))
                    i = e + 1
                    continue
            elif name in _LATEX_NEGATORS:
                out.append((W_NEG, name))
            elif name in _LATEX_VALUES:
                out.append((W_CAND, name))
            i = j
            continue
        if isdigit(c):
            j = _cand_end(t, i, b)
            out.append((W_CAND, t[i:j]))
            i = j
            continue
        if c == QMARK:
            out.append((W_QMARK, b"?"))
            i += 1
            continue
        if c == DOT or c == BANG:
            if i + 1 >= len(t) or isspace(t[i + 1]) or t[i + 1] in b"\"')":
                out.append((W_SENTENCE, b""))
            i += 1
            continue
        if c in b",;:":
            out.append((W_CLAUSE, bytes([c])))
            i += 1
            continue
        if c == 0x2F and out and out[-1][0] != W_CAND:  # "and/or": the slash joins two words
            i += 1
            continue
        if isalpha(c) or c >= 0x80:
            j = i
            word_end = i
            while j < b:
                d = t[j]
                if isalpha(d) or (d == QUOTE and j + 1 < b and isalpha(t[j + 1]) and j > i):
                    j += 1
                elif d >= 0x80:
                    cp, n = decode_at(t, j)
                    if not is_word_char(cp):
                        break
                    j += n
                else:
                    break
                word_end = j
            if word_end > i:
                w = t[i:word_end]
                if len(w) == 1 and isupper(c) and w != b"I":
                    out.append((W_CAND, w))  # a choice letter (not the pronoun I)
                else:
                    lw = lower_bytes(w)
                    out.append((_classify(lw, exempt), lw))
                i = word_end
                continue
            cp, n = decode_at(t, i)
            if is_cjk(cp):
                hit = next(((m, k) for m, k in _CJK if t.startswith(m, i) and m not in exempt), None)
                if hit is not None:
                    out.append((hit[1], hit[0]))
                    i += len(hit[0])
                    continue
            i += n
            continue
        i += 1
    return _phrases(out, exempt)


def _phrases(items, exempt):
    """Multi-word markers ("never mind", "I mean", "one of") and the two uses of "no"."""
    out = []
    i = 0
    while i < len(items):
        hit = None
        for words, cls in PHRASES:
            if i + len(words) <= len(items) and all(items[i + k][1].lower() == w for k, w in enumerate(words)) \
                    and words[0] not in exempt:
                hit = (words, cls)
                break
        if hit is not None:
            out.append((_PHRASE_CLASS[hit[1]], b" ".join(hit[0])))
            i += len(hit[0])
            continue
        kind, text = items[i]
        if kind == W_WORD and text == b"no" and b"no" not in exempt:
            nxt = items[i + 1] if i + 1 < len(items) else None
            if nxt is None or nxt[0] in (W_SENTENCE, W_CLAUSE, W_QMARK, W_RETRACT):
                kind = W_NO  # "No." / "No, 7" / "no wait": an interjection that takes back
            elif nxt[1] in COPULAS or nxt[0] == W_CAND:
                kind = W_NEG  # "no es 5" / "no 5"
        out.append((kind, text))
        i += 1
    return out


def _other(item, key):
    return item[0] == W_CAND and item[1] != key


def _in_list(items, k):
    """The comma at items[k] separates candidates ("3, 4, 5"; the answer follows the last item)."""
    after = k + 1 == len(items) or items[k + 1][0] == W_CAND
    return items[k][1] == b"," and after and k > 0 and items[k - 1][0] == W_CAND


def _judge_lead(items, key):
    """Words before the answer: a negator in its clause that no other candidate follows; a hedge in
    its clause while its sentence holds another candidate."""
    ci = si = 0
    for k, (kind, text) in enumerate(items):
        if kind == W_SENTENCE or kind == W_QMARK:
            ci = si = k + 1
        elif kind == W_CONJ or (kind == W_CLAUSE and not _in_list(items, k)):
            ci = k + 1
    clause = items[ci:]
    for k, (kind, _) in enumerate(clause):
        if kind == W_NEG and not any(_other(x, key) for x in clause[k + 1:]):
            return V_NEGATED
    if any(kind == W_HEDGE for kind, _ in clause) and any(_other(x, key) for x in items[si:]):
        return V_HEDGED
    return V_OK


def _negates_other(items, k, key):
    """The negator at items[k] governs another candidate within three words ("not 6", "not equal to 6")."""
    for x in items[k + 1:k + 4]:
        if x[0] in (W_CLAUSE, W_SENTENCE, W_QMARK):
            return False
        if x[0] == W_CAND:
            return x[1] != key
    return False


def _judge_tail(items, key, lead_other):
    """Words after the answer: its own sentence first, then the following ones."""
    sentences = [[]]
    for it in items:
        if it[0] == W_SENTENCE:
            sentences.append([])
        else:
            sentences[-1].append(it)
    for n, sent in enumerate(sentences):
        seen_other = False
        about_answer = n == 0 or (sent and sent[0][0] == W_REF)
        for k, (kind, text) in enumerate(sent):
            if kind in (W_RETRACT, W_NO):
                return V_RETRACTED
            if kind == W_WEAK and any(_other(x, key) for s in sentences[n:] for x in (s[k + 1:] if s is sent else s)):
                return V_RETRACTED
            if kind == W_HEDGE and (n == 0 or k == 0 or text not in OR_WORDS) and \
                    (any(_other(x, key) for x in sent) or (n == 0 and lead_other)):
                return V_HEDGED  # in the answer's sentence, or a later one ("Or maybe 6.": "or" opening it)
            if sent[k][0] == W_CAND and sent[k][1] != key:
                seen_other = True
            if not about_answer or seen_other:
                continue
            if kind == W_PRED:
                return V_NEGATED
            if kind == W_NEG and not _negates_other(sent, k, key):
                return V_NEGATED
    return V_OK


def _invisible_inside(t, a, b):
    i = a
    while i < b:
        if t[i] >= 0x80:
            cp, n = decode_at(t, i)
            if is_invisible(cp):
                return True
            i += n
        else:
            i += 1
    return False


def _cmd_before(t, p):
    """The name of the command whose letters end at t[p - 1] (b"" when none)."""
    j = p
    while j > 0 and isalpha(t[j - 1]):
        j -= 1
    return t[j:p] if j > 0 and t[j - 1] == BACKSLASH and j < p else b""


def _attached(t, first, last, regions):
    """A box glued into a larger expression (a script, a factor, an operand) before or after it."""
    n = len(t)
    s, e = first[0], last[1]
    in_math = any(r[2] <= s and e <= r[3] for r in regions)
    # after the box
    i = e
    if i < n and t[i] in b"^_" and not (t.startswith(b"^\\circ", i) or t.startswith(b"^{\\circ}", i)):
        return True
    if i < n and (isdigit(t[i]) or isalpha(t[i]) or t[i] in b"'(=<>+/"):
        return True
    if i + 1 < n and t[i] == STAR and t[i + 1] != STAR or i < n and t[i] == BANG and in_math:
        return True
    if in_math:
        while i < n and t[i] == SPACE:
            i += 1
        if i < n and (isdigit(t[i]) or t[i] in b"^_'(=<>+-/*!"):
            return True
    if i < n and t[i] == BACKSLASH and t[i + 1:letters_end(t, i + 1, n)] in ATTACH_AFTER_CMDS:
        return True
    # before the box
    p = s
    if p > 0 and (isdigit(t[p - 1]) or t[p - 1] in b"^_)]-+/"):
        return True
    if p > 0 and isalpha(t[p - 1]) and _cmd_before(t, p) == b"":
        return True
    if p > 0 and t[p - 1] == LBRACE:  # an argument: \sqrt{\boxed{..}}, \frac{\boxed{..}}{2}, x^{\boxed{..}}
        q = p - 1
        if q > 0 and (t[q - 1] in b"^_}" or _cmd_before(t, q) in ATTACH_BEFORE_CMDS):
            return True
    if in_math:
        while p > 0 and t[p - 1] == SPACE:
            p -= 1
        if p > 0 and (isdigit(t[p - 1]) or t[p - 1] in b"^_)]-+/*"):
            return True
    return _cmd_before(t, p) in ATTACH_BEFORE_CMDS


def _question_after(t, a1):
    i = a1
    while i < len(t) and (isspace(t[i]) or t[i] in b"$*)]}\"'" or t.startswith(b"\\)", i) or t.startswith(b"\\]", i)):
        i += 2 if t[i] == BACKSLASH else 1
    return i < len(t) and (t[i] == QMARK or t.startswith("？".encode(), i))


def gold_words(gold):
    """The words and CJK markers the gold answer uses itself: never markers for it."""
    return {text for kind, text in read_items(gold, 0, min(len(gold), MAX_ANSWER), {}, ()) if kind != W_CAND and text}


def judge(t, x, gold):
    """The verdict (V_* of tables.VERDICTS) on the answer extraction x of prepared response t,
    against the gold answer's text (for its own words)."""
    ans, boxes, first_in_group, a0, a1, how = x
    if _invisible_inside(t, a0, a1) or _invisible_inside(ans, 0, len(ans)):
        return V_JOINED
    regions = find_regions(t)
    starts = {r[0]: r for r in regions}
    if how == HOW_BOX:
        last = first_in_group
        while last + 1 < len(boxes) and boxes[last + 1][0] < a1:
            last += 1
        if _attached(t, boxes[first_in_group], boxes[last], regions):
            return V_ATTACHED
    exempt = gold_words(gold)
    key = ans.strip().replace(b" ", b"")
    # the answer itself: any marker but "or" (a set of solutions: "x = 3 or x = -3")
    for kind, text in read_items(ans, 0, min(len(ans), MAX_ANSWER), {}, exempt):  # longer: text only
        if kind in (W_NEG, W_PRED) and text not in (b"ne", b"neq"):
            return V_NEGATED
        if kind in (W_RETRACT, W_WEAK, W_NO):
            return V_RETRACTED
        if kind == W_HEDGE and text not in OR_WORDS:
            return V_HEDGED
    if _question_after(t, a1):
        return V_QUESTION
    lead = read_items(t, max(0, a0 - MAX_LEAD), a0, starts, exempt)
    v = _judge_lead(lead, key)
    if v != V_OK:
        return v
    si = max([k + 1 for k, it in enumerate(lead) if it[0] in (W_SENTENCE, W_QMARK)], default=0)
    lead_other = any(_other(it, key) for it in lead[si:])
    return _judge_tail(read_items(t, a1, min(len(t), a1 + MAX_TAIL), starts, exempt), key, lead_other)
