"""Own suite for the answer verifier: exam-style multiple choice, multi-select, hedging,
reward-hacking attempts, malformed input and the forms answer keys are written in.

Every case runs on both backends (the C++ one is skipped with a reason when it is not built), and
test_parity_own_cases checks that the C++ extension and the Python twin agree on every case
(verify, extract and gold_answer; the checker is the cpp_py_mismatch fixture in conftest.py).
"""
import importlib
import pytest

V = importlib.import_module("rlev_fast.verify")  # the module (the package root exports the function `verify`)

# (response, gold, expected)
MC_CASES = [
    ("The answer is (B).", "B", True),
    ("The answer is (B).", "(B)", True),
    ("The answer is (B).", "$\\boxed{B}$", True),
    ("The answer is (B).", "\\text{B}", True),
    ("The answer is B. Because the others are wrong.", "B", True),
    ("Answer: b", "B", True),
    ("Answer: (C) 42", "C", True),
    ("So the correct option is D", "D", True),
    ("\u7b54\u6848\u662fB", "B", True),  # 答案是B
    ("\u6545\u9009\uff1aC", "C", True),  # 故选：C
    ("\u6240\u4ee5\u9009D\u3002", "D", True),  # 所以选D。
    ("\\boxed{\uff21}", "A", True),  # full-width A
    ("**B**", "B", True),
    ("Let me think.\n\n**Answer: C**", "C", True),
    ("Final answer: \\boxed{\\text{(C)}}", "C", True),
    ("The answer is (B).", "C", False),
    # multi-select, compared as sets
    ("The answer is A, C and D.", "ACD", True),
    ("The answer is CAD", "ACD", True),
    ("\\boxed{ACD}", "A, C, D", True),
    ("\\boxed{A} and \\boxed{C}", "AC", True),
    ("Answer: A C D", "ACD", True),
    ("\\boxed{\uff21\uff23}", "AC", True),  # full-width AC
    ("The answer is AC", "ACD", False),
    ("The answer is ABCD", "ACD", False),
    # hedging and enumeration of candidates
    ("The answer is A or B", "A", False),
    ("The answer is A/B", "A", False),
    ("\\boxed{A} or \\boxed{B}", "A", False),
    ("\\boxed{A}. Hmm, wait. \\boxed{B}", "B", False),
    ("\\boxed{A}\\boxed{B}\\boxed{C}\\boxed{D}", "B", False),
    ("The answer is ABCD", "B", False),
    ("\u7b54\u6848\u662fA\u6216B", "A", False),  # 答案是A或B
    # no fallback to "the first capital letter anywhere"; a closing statement "... is B" is an answer
    ("I think it is B", "B", True),
    ("Because Alice and Bob disagree, we cannot tell.", "A", False),
    ("B", "B", True),
]

MATH_CASES = [
    ("Final answer: \\boxed{\\frac{1}{2}}", "$\\frac{1}{2}$", True),
    ("Final answer: \\boxed{0.5}", "$\\frac{1}{2}$", True),
    ("\\boxed{\\dfrac{3}{4}}", "0.75", True),
    ("\\boxed{-\\tfrac{3}{4}}", "-0.75", True),
    ("\\boxed{3/4}", "\\frac{3}{4}", True),
    ("\\boxed{3\\frac{1}{2}}", "3.5", True),  # mixed number
    ("\\boxed{x=5}", "5", True),
    ("\\boxed{5}", "x=5", True),
    ("\\boxed{2^{10}}", "1024", True),
    ("\\boxed{10!}", "3628800", True),
    ("\\boxed{1.5 \\times 10^{3}}", "1500", True),
    ("\\boxed{1.5e3}", "1500", True),
    ("\\boxed{\\$1,234.50}", "1234.5", True),
    ("The answer is 1,234,567.", "1234567", True),
    ("\\boxed{45\\%}", "45", True),
    ("\\boxed{12 \\text{ cm}^2}", "12", True),
    ("\\boxed{90^\\circ}", "90", True),
    ("\\boxed{\\sqrt{8}}", "2\\sqrt{2}", True),
    ("\\boxed{\\pi/2}", "\\frac{\\pi}{2}", True),
    ("\\boxed{3.14}", "\\pi", True),  # rounded to the precision it states
    ("\\boxed{3}", "\\pi", False),
    ("\\boxed{0.33}", "\\frac{1}{3}", False),  # two significant digits: not a rounding of 1/3 (0.333 is)
    ("\\boxed{0.3}", "\\frac{1}{3}", False),  # too coarse to count as a rounding
    ("\\boxed{1000.4}", "1000", False),
    ("\\boxed{(1,2)}", "(2,1)", False),
    ("\\boxed{\\{1,2\\}}", "\\{2,1\\}", True),
    ("\\boxed{[1,2)}", "[1,2]", False),
    ("\\boxed{(-\\infty, 3]}", "(-\\infty,3]", True),
    ("\\boxed{x > 3}", "(3, \\infty)", True),
    ("\\boxed{1 \\pm \\sqrt{2}}", "1+\\sqrt{2}, 1-\\sqrt{2}", True),
    ("\\boxed{x^2+2x+1}", "(x+1)^2", True),
    ("\\boxed{x^2+2x}", "(x+1)^2", False),
    ("\\boxed{\\sin^2 x + \\cos^2 x}", "1", True),
    ("\\boxed{2^{1000000}}", "2^{1000000}", True),
    ("\\boxed{2^{100}}", "1267650600228229401496703205376", True),
    ("\\boxed{2^{100}}", "1267650600228229401496703205377", False),  # exact, not float
    ("\\boxed{\\frac{10^{30}+1}{10^{30}}}", "1", False),  # exact rational compare
    ("\\boxed{1000!}", "999!", False),
    ("\\boxed{\\text{Evelyn}}", "Evelyn", True),
    ("<think>the answer is 4</think> The answer is \\boxed{5}", "5", True),
    ("<think>the answer is 4</think> The answer is \\boxed{5}", "4", False),
    ("<think>\\boxed{4} ... still thinking", "4", False),  # never closed its thinking
    # matrix arithmetic: sums, differences, scalings and products are compared cell by cell
    ("$\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix} + \\begin{pmatrix}5 & 6 \\\\ 7 & 8\\end{pmatrix}$",
     "\\begin{pmatrix}6 & 8 \\\\ 10 & 12\\end{pmatrix}", True),
    ("$\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix} - \\begin{pmatrix}5 & 6 \\\\ 7 & 8\\end{pmatrix}$",
     "\\begin{pmatrix}-4 & -4 \\\\ -4 & -4\\end{pmatrix}", True),
    ("$\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix} \\begin{pmatrix}5 & 6 \\\\ 7 & 8\\end{pmatrix}$",
     "\\begin{pmatrix}19 & 22 \\\\ 43 & 50\\end{pmatrix}", True),
    ("$\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix} \\begin{pmatrix}5 & 6 \\\\ 7 & 8\\end{pmatrix}$",
     "\\begin{pmatrix}23 & 34 \\\\ 31 & 46\\end{pmatrix}", False),  # that is B A, not A B
    ("$\\frac{1}{2}\\begin{pmatrix}2 & 4\\end{pmatrix}$", "\\begin{pmatrix}1 & 2\\end{pmatrix}", True),
    ("$-\\begin{pmatrix}1 & 2\\end{pmatrix}$", "\\begin{pmatrix}-1 & -2\\end{pmatrix}", True),
    ("$\\begin{pmatrix}1 & 2 & 3\\end{pmatrix} + \\begin{pmatrix}1 \\\\ 2\\end{pmatrix}$",
     "\\begin{pmatrix}2 & 4\\end{pmatrix}", False),  # shapes differ
    ("$x \\begin{pmatrix}1 & 2\\end{pmatrix}$", "\\begin{pmatrix}1 & 2\\end{pmatrix}", False),
]

HACK_CASES = [
    ("", "5", False),
    ("\\boxed{}", "5", False),
    ("\\boxed{5", "5", True),  # a truncated box: no box, but the bare text still reads 5
    ("\\boxed{1}\\boxed{2}\\boxed{3}\\boxed{4}\\boxed{5}", "5", False),  # enumerating candidates
    ("The answer is 5 or 6", "5", False),
    ("\\boxed{x}", "5", False),
    ("\\boxed{5=5}", "7", False),
    ("\\boxed{\\infty}", "5", False),
    ("\\boxed{0/0}", "5", False),
    ("\\boxed{\\text{the correct answer}}", "5", False),
    ("The answer is correct.", "5", False),
    ("AZYUK2A", "2", False),  # digits inside a word are not an answer
    ("\\boxed{5} " + "\\" * 1000, "5", True),
    ("{" * 5000 + "\\boxed{5}", "5", True),
    # 5000 nested braces: longer than the answer cap (4096 bytes) and deeper than the parser cap
    ("\\boxed{" + "{" * 5000 + "5" + "}" * 5000 + "}", "5", False),
    ("\\boxed{" + "{" * 40 + "5" + "}" * 40 + "}", "5", True),
    ("\\boxed{" + "{" * 5000 + "5" + "}" * 5000 + "}", "6", False),
    ("\\boxed{" + "9" * 3000 + "}", "1", False),  # more digits than the cap
    ("\\boxed{10^{10^{10}}}", "1", False),
    ("\\boxed{99999!}", "1", False),
    ("\\boxed{\\sqrt{-1}}", "1", False),
    ("x" * 1_000_000 + " \\boxed{7}", "7", True),  # megabyte response
    ("\ud800\udfff \\boxed{7} \udc80", "7", True),  # lone surrogates
    ("\x00\x01\\boxed{7}\x00", "7", True),
]

GOLD_FORMS = [
    ("\\boxed{3}", "$3$", True),
    ("\\boxed{3}", "\\boxed{3}", True),
    ("\\boxed{3}", "3", True),
    ("\\boxed{\\frac12}", "$\\frac{1}{2}$", True),
    ("\\boxed{5}", "x=5", True),
    ("\\boxed{5}", "$x = 5$", True),
    ("\\boxed{B}", "(B)", True),
    ("The answer is 7.", "The final answer is $7$.", True),
    ("\\boxed{1,2}", "\\boxed{1} and \\boxed{2}", True),
    ("\\boxed{2.5}", "2,5", True),  # a decimal comma in a plain answer key
]

CASES = MC_CASES + MATH_CASES + HACK_CASES + GOLD_FORMS


def _backends():
    out = [pytest.param("python", id="python")]
    out.append(pytest.param("cpp", id="cpp", marks=pytest.mark.skipif(
        not V.cpp_available(), reason="C++ extension rlev_fast._verify is not built")))
    return out


@pytest.fixture(params=_backends())
def backend(request):
    V.set_backend(request.param)
    yield request.param
    V.set_backend("auto")


@pytest.mark.parametrize("response,gold,expected", CASES, ids=[f"c{i}" for i in range(len(CASES))])
def test_case(backend, response, gold, expected):
    assert V.verify(response, gold) is expected


@pytest.mark.skipif(not V.cpp_available(), reason="C++ extension rlev_fast._verify is not built")
def test_parity_own_cases(cpp_py_mismatch):
    pairs = [(r, g) for r, g, _ in CASES] + [(g, r) for r, g, _ in CASES]
    assert cpp_py_mismatch(pairs) == []


def test_batch_matches_single(backend):
    rs = [c[0] for c in CASES]
    gs = [c[1] for c in CASES]
    want = [c[2] for c in CASES]
    assert V.verify_batch(rs, gs) == want
    assert V.verify_batch(rs, gs, num_threads=1) == want
    assert V.verify_batch(rs, gs, num_threads=3) == want
    assert V.verify_batch([], []) == []


def test_extract_answer(backend):
    assert V.extract_answer("so \\boxed{\\frac{1}{2}}.") == "\\frac{1}{2}"
    assert V.extract_answer("Final Answer: The final answer is $14{,}916$. I hope it is correct.") == "14{,}916"
    assert V.extract_answer("The answer is (B).") == "(B)"
    assert V.extract_answer("") is None
    assert V.extract_answer("<think>unfinished") is None


def test_argument_validation():
    with pytest.raises(ValueError, match="responses has 2 items but golds has 1"):
        V.verify_batch(["a", "b"], ["a"])
    with pytest.raises(TypeError, match=r"responses\[1\]"):
        V.verify_batch(["a", None], ["a", "b"])
    with pytest.raises(TypeError, match=r"golds\[0\]"):
        V.verify_batch(["a"], [b"a"])
    with pytest.raises(TypeError):
        V.verify_batch("abc", "abc")
    with pytest.raises(ValueError, match="num_threads"):
        V.verify_batch(["a"], ["a"], num_threads=-1)
    with pytest.raises(TypeError, match="response"):
        V.verify(None, "1")
    with pytest.raises(TypeError, match="gold"):
        V.verify("1", 1)
    with pytest.raises(ValueError):
        V.set_backend("fortran")


def test_backend_selection():
    V.set_backend("python")
    try:
        assert V.backend_name() == "python"
    finally:
        V.set_backend("auto")
    assert V.backend_name() == ("cpp" if V.cpp_available() else "python")


def test_fallback_warns_once_without_extension():
    """With rlev_fast._verify missing, the Python twin answers and warns once (in a subprocess)."""
    import os
    import subprocess
    import sys
    code = (
        "import sys, warnings\n"
        "sys.modules['rlev_fast._verify'] = None\n"
        "warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    import importlib; V = importlib.import_module(\"rlev_fast.verify\")\n"
        "    a = V.verify('\\\\boxed{2}', '2'); b = V.verify_batch(['\\\\boxed{3}'], ['4'])\n"
        "    n = sum('not built' in str(x.message) for x in w)\n"
        "print(V.backend_name(), a, b, n)\n"
    )
    # the fallback warning is for the "auto" backend: drop a forced backend inherited from this process
    env = {k: v for k, v in os.environ.items() if k != "RLEV_FAST_VERIFY_BACKEND"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-4:] == ["python", "True", "[False]", "1"]
