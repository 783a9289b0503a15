"""The C++ verifier and its Python twin, stage by stage: the caps and tables each side defines once
are equal, and every stage (normalize, prepare, extract, commitment, multiple choice, tokenize, parse,
evaluate, compare, the loose text form) gives the same output on the peer cases and on random and adversarial
strings. End-to-end parity is in test_verify_parity.py; this file finds which stage differs."""
import importlib
import random

import pytest

from rlev_fast.verifier import caps, tables
from rlev_fast.verifier import stages as P

V = importlib.import_module("rlev_fast.verify")  # the module (the package root exports the function `verify`)

pytestmark = pytest.mark.skipif(not V.cpp_available(), reason="C++ extension rlev_fast._verify is not built")


def _cpp():
    from rlev_fast import _verify
    return _verify


def _canon(x):
    """Lists and tuples alike, floats by their bits (NaN equals NaN)."""
    if isinstance(x, (list, tuple)):
        return tuple(_canon(y) for y in x)
    if isinstance(x, float):
        return x.hex()
    return x


def test_caps_are_the_same_on_both_sides():
    assert _cpp().caps() == caps.CAPS


def test_tables_are_the_same_on_both_sides():
    cpp = _cpp().tables()
    assert sorted(cpp) == sorted(tables.TABLES)
    for name, value in tables.TABLES.items():
        assert _canon(cpp[name]) == _canon(value), name


_PIECES = ["\\boxed{", "}", "{", "$", "\\(", "\\)", "\\frac", "\\sqrt", "^", "_", "\\pm", "=", "<", "\\le", "\\in",
           "\\cup", "(", ")", "[", "]", "\\{", "\\}", ",", " and ", " or ", "The answer is ", "Answer: ", "**",
           "</think>", "\u7b54\u6848\u662f", "A", "B", "x", "y", "e", "\\pi", "\\infty", "!", "0", "1", "2", "3.5",
           "1,000", "{,}", "\\text{cm}", "\\%", "\\begin{pmatrix}", "\\end{pmatrix}", "&", "\\\\", "\uff21", "-",
           "+", "/", ".", "\n", "\\sin", "2^{", "99!", "\\dfrac{1}{3}", "0.333", "1e3", "204_5", "|", "\\approx",
           "\u200b", "\ud800", " ", " not ", " or ", " maybe ", "Wait, ", "No, ", " is wrong", "\u4e0d\u662f",
           "\u4e5f\u53ef\u80fd", "^{", "\\approx", " = ", "\\text{ or }", "\\neq", "**", "?"]


def _texts(peer_cases):
    rng = random.Random(7)
    out = [r["pred"] for r in peer_cases] + [r["gold"] for r in peer_cases]
    out += ["".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 16))) for _ in range(1500)]
    return [t.encode("utf-8", "surrogatepass") for t in out]


def _stage_outputs(mod, t):
    """Every stage on text t (and on what the previous stages made of it)."""
    out = {"normalize": mod.normalize(t), "prepare": mod.prepare(t), "norm_text": mod.norm_text(t),
           "context": mod.context(mod.normalize(t), b"5")}
    for is_gold in (False, True):
        x = mod.extract(mod.normalize(t), is_gold)
        out["extract", is_gold] = x
        ans = t if x is None else x[0].strip()
        out["mc", is_gold] = (mod.mc_letters(ans, False), mod.mc_letters(ans, True))
        out["tokenize", is_gold] = mod.tokenize(ans)
        out["parse", is_gold] = mod.parse(ans, not is_gold)
        out["evaluate", is_gold] = mod.evaluate(ans)
    return out


def test_every_stage_agrees(peer_cases):
    cpp = _cpp().stages
    bad = []
    for t in _texts(peer_cases):
        a, b = _stage_outputs(cpp, t), _stage_outputs(P, t)
        for k in a:
            if _canon(a[k]) != _canon(b[k]):
                bad.append((k, t[:80]))
    assert bad == [], bad[:5]


def test_compare_stage_agrees(peer_cases):
    cpp = _cpp().stages
    pairs = []
    for r in peer_cases:
        g = P.extract(P.normalize(r["gold"].encode("utf-8", "surrogatepass")), True)
        p = P.extract(P.normalize(r["pred"].encode("utf-8", "surrogatepass")), False)
        if g is not None and p is not None:
            pairs.append((g[0].strip(), p[0].strip()))
    rng = random.Random(11)
    exprs = [b"x", b"-x", b"|x|", b"\\sqrt{x^2}", b"x^2", b"(x+1)^2", b"x^2+2x+1", b"\\frac{1}{x}", b"\\ln x", b"e^{x}",
             b"\\{1, 2\\}", b"(1, 2)", b"[1, 2)", b"x > 3", b"1 \\pm \\sqrt{2}", b"0.33", b"\\frac13", b"\\pi", b"3.14"]
    pairs += [(rng.choice(exprs), rng.choice(exprs)) for _ in range(400)]
    bad = [(g, p) for g, p in pairs if _canon(cpp.compare(g, p)) != _canon(P.compare(g, p))]
    assert bad == [], bad[:5]
