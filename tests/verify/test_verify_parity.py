"""The C++ extension and the pure-Python twin give the same answer on the peer cases and on a few
thousand random and adversarial strings. (The own suite's parity check lives with its CASES in
test_verify_exam.py; the checker, cpp_py_mismatch, is a fixture in conftest.py.)"""
import importlib
import random

import pytest

V = importlib.import_module("rlev_fast.verify")  # the module (the package root exports the function `verify`)

pytestmark = pytest.mark.skipif(not V.cpp_available(), reason="C++ extension rlev_fast._verify is not built")


def test_parity_peer_cases(peer_cases, cpp_py_mismatch):
    rows = peer_cases
    pairs = [(r["pred"], r["gold"]) for r in rows] + [(r["gold"], r["pred"]) for r in rows]
    assert cpp_py_mismatch(pairs) == []


_PIECES = ["\\boxed{", "\\fbox{", "}", "{", "$", "$$", "\\(", "\\)", "\\[", "\\]", "\\frac", "\\sqrt", "^", "_",
           "\\pm", "=", "<", "\\le", "\\in", "\\cup", "(", ")", "[", "]", "\\{", "\\}", ",", ";", " and ", " or ",
           "The answer is ", "Answer: ", "**", "</think>", "<think>", "\u7b54\u6848", "\u9009", "A", "B", "C", "x",
           "y", "e", "\\pi", "\\infty", "!", "0", "1", "2", "3.5", "10", "1,000", "{,}", "\\text{cm}", "%",
           "\\%", "\\circ", "\\begin{pmatrix}", "\\end{pmatrix}", "&", "\\\\", "\uff21", "\ud800", "-", "+", "*",
           "/", ".", "\n", "\\left(", "\\right)", "\\sin", "\\log", "2^{", "99!", "\\dfrac{1}{3}", "0.333"]


def test_parity_random_strings(cpp_py_mismatch):
    rng = random.Random(1234)
    pairs = []
    for _ in range(3000):
        r = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 14)))
        g = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 6)))
        pairs.append((r, g))
    bad = cpp_py_mismatch(pairs)
    assert bad == [], [pairs[i] for i in bad[:5]]
