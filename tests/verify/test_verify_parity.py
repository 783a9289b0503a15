"""The C++ extension and the pure-Python twin give the same answer on every case: the peer
cases, the own suite, and a few thousand random and adversarial strings."""
import importlib
import json
import random
from pathlib import Path

import pytest

V = importlib.import_module("rlev_fast.verify")  # the module (the package root exports the function `verify`)
from rlev_fast import verify_python as P

from test_verify_exam import CASES

pytestmark = pytest.mark.skipif(not V.cpp_available(), reason="C++ extension rlev_fast._verify is not built")

PEER = Path(__file__).resolve().parents[3] / "shared" / "peer-cases" / "math_verify_cases.jsonl"


def _enc(s):
    return s.encode("utf-8", "surrogatepass")


def _check(pairs):
    from rlev_fast import _verify as C
    bad = []
    for i, (r, g) in enumerate(pairs):
        rb, gb = _enc(r), _enc(g)
        if C.verify(rb, gb) != P.verify(rb, gb) or C.extract(rb) != P.extract(rb) or \
                C.gold_answer(gb) != P.gold_answer(gb):
            bad.append(i)
    return bad


def test_parity_peer_cases():
    if not PEER.exists():
        pytest.skip(f"peer cases not found at {PEER}")
    rows = [json.loads(line) for line in PEER.read_text().splitlines() if line.strip()]
    pairs = [(r["pred"], r["gold"]) for r in rows] + [(r["gold"], r["pred"]) for r in rows]
    assert _check(pairs) == []


def test_parity_own_cases():
    pairs = [(r, g) for r, g, _ in CASES] + [(g, r) for r, g, _ in CASES]
    assert _check(pairs) == []


_PIECES = ["\\boxed{", "\\fbox{", "}", "{", "$", "$$", "\\(", "\\)", "\\[", "\\]", "\\frac", "\\sqrt", "^", "_",
           "\\pm", "=", "<", "\\le", "\\in", "\\cup", "(", ")", "[", "]", "\\{", "\\}", ",", ";", " and ", " or ",
           "The answer is ", "Answer: ", "**", "</think>", "<think>", "\u7b54\u6848", "\u9009", "A", "B", "C", "x",
           "y", "e", "\\pi", "\\infty", "!", "0", "1", "2", "3.5", "10", "1,000", "{,}", "\\text{cm}", "%",
           "\\%", "\\circ", "\\begin{pmatrix}", "\\end{pmatrix}", "&", "\\\\", "\uff21", "\ud800", "-", "+", "*",
           "/", ".", "\n", "\\left(", "\\right)", "\\sin", "\\log", "2^{", "99!", "\\dfrac{1}{3}", "0.333"]


def test_parity_random_strings():
    rng = random.Random(1234)
    pairs = []
    for _ in range(3000):
        r = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 14)))
        g = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 6)))
        pairs.append((r, g))
    bad = _check(pairs)
    assert bad == [], [pairs[i] for i in bad[:5]]
