"""Grading: a response against a gold answer, the stages put together. Twin of csrc/grade.cpp.

extract (both sides) -> context (does the response stand by its answer?) -> multiple choice when
the gold is letters, else: exact text, or tokenize -> parse -> compare (evaluate inside), and the
loose text form when either side is text. Several different boxed answers are a hedge.
"""
from .caps import MAX_ANSWER, MAX_EARLIER_BOXES
from .choice import mc_letters
from .compare import node_eq, norm_text, squeeze
from .context import judge
from .evaluate import Abort, Ctx
from .extract import HOW_BOX, answer_of, gold_answer, prepare_response
from .parse import parse
from .tables import N_TEXT, V_OK
from .text import strip_ws


def grade_choice(gold_mask, p, t, boxes, first_in_group, boxed):
    """A response answer p (prepared text t) against the gold's choice letters; boxed: p is a box."""
    pm = mc_letters(p, False)
    if pm is None or pm[1]:
        return False
    # several different boxed answers outside the final group: a hedge
    for bi in range(min(first_in_group, len(boxes))):
        bx = boxes[bi]
        m = mc_letters(t[bx[2]:bx[3]], False)
        if (m is not None and m[0] != pm[0]) or (m is None and boxed and strip_ws(t[bx[2]:bx[3]])):
            return False
    return pm[0] == gold_mask


def grade_math(p, g):
    """A response answer p against a gold answer g (both extracted, not letters)."""
    if squeeze(p) == squeeze(g):
        return True
    if len(p) > MAX_ANSWER or len(g) > MAX_ANSWER:
        return False
    ga = parse(g, False)
    pa = parse(p, True)
    if ga is None or pa is None:
        return norm_text(p) == norm_text(g)
    ctx = Ctx()
    try:
        if node_eq(ga, 0, pa, 0, ctx):
            return True
    except (Abort, RecursionError):
        return False
    if ga.kind == N_TEXT or pa.kind == N_TEXT:
        return norm_text(p) == norm_text(g)
    return False


def _earlier_boxes_agree(p, t, boxes, first_in_group):
    """Every boxed answer before the final group says the same as the final answer p."""
    for bi in range(max(0, first_in_group - MAX_EARLIER_BOXES), min(first_in_group, len(boxes))):
        q = strip_ws(t[boxes[bi][2]:boxes[bi][3]])
        if q and not grade_math(q, p):
            return False
    return True


def verify(resp, gold):
    """resp, gold: bytes. True when the response's final answer matches the gold answer."""
    g = gold_answer(gold)
    if g is None:
        return False
    t = prepare_response(resp)
    x = None if t is None else answer_of(t, False)
    if x is None:
        return False
    p, ext = x
    boxes, first_in_group = ext[1], ext[2]
    if judge(t, ext, g) != V_OK:
        return False
    gm = mc_letters(g, True)
    if gm is not None:  # multiple choice: the gold is letters
        return grade_choice(gm[0], p, t, boxes, first_in_group, ext[5] == HOW_BOX)
    if ext[5] == HOW_BOX and not _earlier_boxes_agree(p, t, boxes, first_in_group):
        return False  # two different boxed final answers
    return grade_math(p, g)
