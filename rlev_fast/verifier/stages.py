"""Each stage of the Python twin on its own, with the same inputs and outputs as the C++ module
rlev_fast._verify.stages (csrc/bindings_stages.cpp), so that tests/verify/test_verify_stages.py can
check the twins stage by stage, not only end to end. Numbers are decimal strings, trees nested
tuples (kind, op, name, num, den, dec, sig, lit, kids).
"""
from .caps import MAX_AST_DEPTH, NPOINTS
from .choice import mc_letters
from .compare import node_eq
from .compare import norm_text as _norm_text
from .evaluate import Abort, Ctx, eval_q, eval_v
from .context import judge
from .extract import answer_of, extract_from, prepare_response
from .parse import parse as _parse
from .text import normalize_text
from .tokenize import tokenize as _tokenize

__all__ = ["normalize", "prepare", "extract", "context", "mc_letters", "tokenize", "parse", "evaluate", "compare", "norm_text"]


def normalize(t):
    return normalize_text(t)


def prepare(t):
    return prepare_response(t)


def extract(text, is_gold):
    """(answer, boxes as (s, e, cs, ce), first box of the answer's group, start, end, how) or None."""
    r = extract_from(text, is_gold)
    if r is None:
        return None
    return (r[0], list(r[1])) + tuple(r[2:])


def context(text, gold):
    """The commitment verdict (tables.VERDICTS index) on prepared response text, or None when it has
    no answer."""
    x = answer_of(text, False)
    return None if x is None else judge(text, x[1], gold)


def tokenize(text):
    toks = _tokenize(text)
    if toks is None:
        return None
    return [(t.kind, t.op, t.name, str(t.num), str(t.den), t.dec, t.sig, t.raw, t.lit) for t in toks]


def _tree(e, depth):
    kids = tuple(_tree(k, depth + 1) for k in e.kids) if depth < MAX_AST_DEPTH + 8 else ()
    return (e.kind, e.op, e.name, str(e.num), str(e.den), e.dec, e.sig, e.lit, kids)


def parse(text, strict):
    r = _parse(text, strict)
    return None if r is None else _tree(r, 0)


def evaluate(text):
    """(exact (num, den) or None, the double values at the NPOINTS points); None when it does not
    parse; "abort" past MAX_STEPS."""
    r = _parse(text, True)
    if r is None:
        return None
    ctx = Ctx()
    try:
        q = eval_q(r, 0, ctx)
        exact = None if q is None else (str(q[0]), str(q[1]))
        return exact, [eval_v(r, j, 0, ctx) for j in range(NPOINTS)]
    except Abort:
        return "abort"


def compare(gold, answer):
    """node_eq of the two answers' trees; None when either does not parse; "abort" past MAX_STEPS."""
    g = _parse(gold, False)
    p = _parse(answer, True)
    if g is None or p is None:
        return None
    try:
        return node_eq(g, 0, p, 0, Ctx())
    except Abort:
        return "abort"


def norm_text(t):
    return _norm_text(t)
