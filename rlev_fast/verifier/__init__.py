"""The pure-Python twin of the C++ answer verifier (csrc/), split into the same stages:

    text      named characters, ASCII classes, unicode normalization      (csrc/text.cpp)
    scan      braces, boxes, math regions, connectors, plain numbers      (csrc/scan.cpp)
    extract   the final answer of a response or a gold key                (csrc/extract.cpp)
    context   does the response stand by it (negated, retracted, hedged)  (csrc/context.cpp)
    choice    multiple-choice letters and hedges between them             (csrc/choice.cpp)
    tokenize  an answer as tokens                                         (csrc/tokenize.cpp)
    parse     tokens as an expression tree                                (csrc/parse.cpp)
    rational  exact rationals                                             (csrc/rational.cpp)
    evaluate  exact values, and doubles with error bounds, of a tree      (csrc/evaluate.cpp)
    values    equality of two values: exact, decimal rule, bounds, points (csrc/values.cpp)
    compare   equality of two trees, the loose text form                  (csrc/compare.cpp)
    grade     a response against a gold: the stages put together          (csrc/grade.cpp)
    caps, tables     the caps and tables, defined once per side            (csrc/caps.h, csrc/tables.cpp)

Same semantics, same caps, same order of normalization; tests/verify/test_verify_parity.py and
tests/verify/test_verify_stages.py check that both give the same answer, stage by stage. It works on
UTF-8 bytes (lone surrogates encoded with "surrogatepass") so both sides see the same input and the
same byte offsets. No regular expressions on hostile input, no recursion without a depth cap, no
sympy. The public API with str arguments is rlev_fast/verify.py.
"""
from .compare import norm_text
from .extract import extract, gold_answer
from .grade import verify

__all__ = ["extract", "gold_answer", "norm_text", "verify"]
