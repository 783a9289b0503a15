"""Fixtures shared by the verifier tests.

peer_cases_path  the Math-Verify peer cases (../shared/peer-cases/math_verify_cases.jsonl beside the
                 repo); a test that asks for it is skipped, with the path, when the file is absent
peer_cases       their rows, read once per session
cpp_py_mismatch  a checker: indices of (response, gold) pairs where the C++ extension and the
                 pure-Python twin differ on verify, extract or gold_answer
"""
import json
from pathlib import Path

import pytest

PEER_CASES_PATH = Path(__file__).resolve().parents[3] / "shared" / "peer-cases" / "math_verify_cases.jsonl"


@pytest.fixture(scope="session")
def peer_cases_path():
    if not PEER_CASES_PATH.exists():
        pytest.skip(f"peer cases not found at {PEER_CASES_PATH} (clone with ../shared beside the repo)")
    return PEER_CASES_PATH


@pytest.fixture(scope="session")
def peer_cases(peer_cases_path):
    return [json.loads(line) for line in peer_cases_path.read_text().splitlines() if line.strip()]


def _enc(s):
    return s.encode("utf-8", "surrogatepass")


def _mismatches(pairs):
    from rlev_fast import _verify as C
    from rlev_fast import verify_python as P
    bad = []
    for i, (r, g) in enumerate(pairs):
        rb, gb = _enc(r), _enc(g)
        if C.verify(rb, gb) != P.verify(rb, gb) or C.extract(rb) != P.extract(rb) or \
                C.gold_answer(gb) != P.gold_answer(gb):
            bad.append(i)
    return bad


@pytest.fixture(scope="session")
def cpp_py_mismatch():
    """The C++-vs-Python checker; the tests that use it skip themselves when the extension is not built."""
    return _mismatches
