"""Exam data for RLEV: the question record, a synthetic exam generator, the embedded default dataset,
the split by exam, and prompt formatting.

The released RLEV data are question rows of real exams: `query` (chat-templated prompt), `label`
(reference answer), `score` (the question's points) and `total` (the exam's total points). The
value of a question is v = score / total (`rlev_fast.rewards.exam_values`).

Synthetic exams (`generate_exams`) are built so that the paper's claims can be tested on a laptop:

- The value is visible in the prompt, as on a real exam paper: "Q (8 of 50 points): 7+8-5+6 = ?".
  A policy can therefore learn to treat high-value questions differently from low-value ones.
- Length buys accuracy: every question is a three-step arithmetic problem over one-digit operands
  ("7+8-5+6"), plain or multiple choice over near-miss options. A response may answer directly
  ("Answer: 16", 3-4 tokens of the tiny tokenizer with EOS) or write the working steps first
  ("7+8=15. 15-5=10. 10+6=16. Answer: 16", ~24 tokens); the worked form is right more often for
  a small model (measured numbers in rlev_fast/warm_start.py), the direct form is cheaper.
- Values are spread as in real exams: each exam lists 5-12 auto-gradable questions out of a paper
  with 50-150 points in total (the remaining points belong to questions that were filtered out,
  as in the paper's data), most worth 2-8% of the total, one or two worth 15-40%. Under the
  default scale s(x) = 1 + min(10 v, 1) rewards therefore span [1.2, 2].
- Difficulty does not depend on value, so any difference a policy makes between high- and
  low-value questions comes from the value signal alone.

JSONL files (the release format and two others) are read and validated by rlev_fast/data_jsonl.py;
`read_jsonl`, `write_jsonl`, `parse_row` and `unmatchable_label` are importable from here too.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from .rewards import exam_values


class DataError(ValueError):
    """Bad dataset input. The message names the file and, where there is one, the line."""


@dataclass(frozen=True)
class Example:
    prompt: str
    answer: str
    value: float
    score: Optional[float] = None
    total: Optional[float] = None
    exam_id: Optional[str] = None
    templated: bool = False  # the prompt already carries a chat template (RLEV's released `query`)


# --------------------------------------------------------------------------------------------
# Synthetic exams
# --------------------------------------------------------------------------------------------

TOTALS = (50, 60, 75, 80, 100, 120, 150)
LOW_VALUE = (0.02, 0.08)   # most questions: 2-8 % of the exam total
HIGH_VALUE = (0.15, 0.40)  # a few: 15-40 %
LETTERS = "ABCD"
OPERANDS = (1, 9)  # operand range of the arithmetic
NUM_OPS = 3        # operations per problem: the worked answer has one step per operation


def _arith_problem(rng: random.Random, lo: int, hi: int, num_ops: int) -> Tuple[str, List[str], int]:
    """x0 op1 x1 op2 x2 ... with operands in [lo, hi], ops + or -, every intermediate result in
    [0, 199]. Returns the expression, the worked steps ("7+8=15", "15-5=10", ...) and the result."""
    while True:
        xs = [rng.randint(lo, hi) for _ in range(num_ops + 1)]
        ops = [rng.choice("+-") for _ in range(num_ops)]
        acc, steps, ok = xs[0], [], True
        for op, x in zip(ops, xs[1:]):
            nxt = acc + x if op == "+" else acc - x
            if not (0 <= nxt <= 199):
                ok = False
                break
            steps.append(f"{acc}{op}{x}={nxt}")
            acc = nxt
        if ok:
            expr = str(xs[0]) + "".join(f"{op}{x}" for op, x in zip(ops, xs[1:]))
            return expr, steps, acc


def _distractors(rng: random.Random, r: int) -> List[int]:
    """Three near-miss wrong options: the errors a model makes (off by one, a dropped carry)."""
    cands = [r + d for d in (-11, -10, -9, -2, -1, 1, 2, 9, 10, 11) if r + d >= 0]
    return rng.sample(cands, 3)


def _exam_scores(rng: random.Random, n: int, total: int) -> List[int]:
    """Integer points for n questions: most low value, one or two high; sum <= total."""
    while True:
        n_high = rng.choices((0, 1, 2), weights=(0.15, 0.55, 0.30))[0]
        n_high = min(n_high, n)
        kinds = ["high"] * n_high + ["low"] * (n - n_high)
        rng.shuffle(kinds)
        scores = []
        for k in kinds:
            lo, hi = HIGH_VALUE if k == "high" else LOW_VALUE
            scores.append(max(1, round(rng.uniform(lo, hi) * total)))
        if sum(scores) <= total:
            return scores


def make_question(rng: random.Random, kind: str, score: int, total: int, lo: int = OPERANDS[0],
                  hi: int = OPERANDS[1], num_ops: int = NUM_OPS) -> Dict[str, Any]:
    """One question row: query, label, score, total, kind, plus the problem and the two reference
    responses (`direct`, `worked`) that the warm start imitates."""
    expr, steps, r = _arith_problem(rng, lo, hi, num_ops)
    head = f"Q ({score} of {total} points): {expr} = ?"
    if kind == "arith":
        label = str(r)
        query = head
    elif kind == "mc":
        opts = _distractors(rng, r) + [r]
        rng.shuffle(opts)
        label = LETTERS[opts.index(r)]
        query = head + "".join(f" {L}) {o}" for L, o in zip(LETTERS, opts)) + " Answer with a letter."
    else:
        raise ValueError(f"kind must be 'arith' or 'mc', got {kind!r}")
    worked = ". ".join(steps) + (f" is {label}" if kind == "mc" else "")
    return {
        "query": query,
        "label": label,
        "score": score,
        "total": total,
        "kind": kind,
        "problem": expr,
        "direct": f"Answer: {label}",
        "worked": f"{worked}. Answer: {label}",
    }


def generate_exams(
    num_exams: int,
    seed: int = 0,
    min_questions: int = 5,
    max_questions: int = 12,
    mc_fraction: float = 0.4,
    operand_range: Tuple[int, int] = OPERANDS,
    num_ops: int = NUM_OPS,
    exclude_problems: Optional[Iterable[str]] = None,
    with_references: bool = False,
) -> List[Dict[str, Any]]:
    """Rows in the RLEV format (`query`, `label`, `score`, `total`) plus `exam_id` and `kind`
    ("arith" | "mc"). Deterministic in `seed`.

    `exclude_problems`: arithmetic expressions (e.g. "7+8-5+6") never to emit (the warm start
    passes the test split's problems). `with_references`: also return `problem` and the two
    reference responses `direct` ("Answer: 16") and `worked` ("7+8=15. 15-5=10. 10+6=16. Answer: 16").
    """
    if num_exams < 1:
        raise ValueError(f"num_exams must be >= 1, got {num_exams}")
    if not (1 <= min_questions <= max_questions):
        raise ValueError(f"need 1 <= min_questions <= max_questions, got {min_questions}, {max_questions}")
    if not (0.0 <= mc_fraction <= 1.0):
        raise ValueError(f"mc_fraction must be in [0, 1], got {mc_fraction}")
    lo, hi = operand_range
    if num_ops < 1:
        raise ValueError(f"num_ops must be >= 1, got {num_ops}")
    if not (0 <= lo <= hi):
        raise ValueError(f"operand_range must be (lo, hi) with 0 <= lo <= hi, got {operand_range}")
    excluded = set(exclude_problems or ())
    rng = random.Random(f"rlev-exams-{seed}")
    rows: List[Dict[str, Any]] = []
    for e in range(num_exams):
        exam_id = f"s{seed}-e{e:04d}"
        total = rng.choice(TOTALS)
        n = rng.randint(min_questions, max_questions)
        for score in _exam_scores(rng, n, total):
            kind = "mc" if rng.random() < mc_fraction else "arith"
            for _ in range(1000):
                q = make_question(rng, kind, score, total, lo, hi, num_ops)
                if q["problem"] not in excluded:
                    break
            else:
                raise ValueError("could not draw a problem outside exclude_problems")
            q["exam_id"] = exam_id
            if not with_references:
                for k in ("problem", "direct", "worked"):
                    q.pop(k)
            rows.append(q)
    return rows


def split_by_exam(rows: Sequence[Any], test_fraction: float = 0.2, seed: int = 0) -> Tuple[List[Any], List[Any]]:
    """Split rows (dicts, or Examples) into (train, test) by exam: all questions of an exam land on
    one side, row order kept within each side; a row without an exam id is an exam of its own.
    At least one exam goes to each side, so there must be two."""
    if not (0.0 < test_fraction < 1.0):
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    keys = []
    for i, r in enumerate(rows):
        key = r.get("exam_id") if isinstance(r, dict) else getattr(r, "exam_id", None)
        keys.append(key if key is not None else f"row{i}")
    exams = list(dict.fromkeys(keys))  # first-seen order
    if len(exams) < 2:
        raise ValueError(f"{len(rows)} rows from {len(exams)} exam: a held-out split needs two exams (or rows); "
                         "pass held-out data of its own (--eval-data)")
    order = list(exams)
    random.Random(f"rlev-split-{seed}").shuffle(order)
    n_test = min(max(int(round(test_fraction * len(order))), 1), len(order) - 1)
    test_ids = set(order[:n_test])
    train = [r for r, k in zip(rows, keys) if k not in test_ids]
    test = [r for r, k in zip(rows, keys) if k in test_ids]
    return train, test


def row_to_example(row: Dict[str, Any]) -> Example:
    """An RLEV-format row (as from `generate_exams`) -> Example with v = score / total."""
    score, total = float(row["score"]), float(row["total"])
    exam_values([score], [total])  # validates: total > 0, 0 <= score <= total
    return Example(
        prompt=row["query"], answer=str(row["label"]), value=score / total, score=score, total=total,
        exam_id=row.get("exam_id"), templated=bool(row.get("templated", False)),
    )


# The embedded default: 80 exams (seed 0), 20 % of exams held out: 551 train and 125 test
# questions (16 exams held out).
DEFAULT_NUM_EXAMS = 80
DEFAULT_TEST_FRACTION = 0.2


def default_rows(seed: int = 0) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """(train_rows, test_rows) of the embedded default dataset, in the RLEV format."""
    rows = generate_exams(DEFAULT_NUM_EXAMS, seed=seed)
    return split_by_exam(rows, DEFAULT_TEST_FRACTION, seed=seed)


def default_dataset(seed: int = 0) -> Tuple[List[Example], List[Example]]:
    """The embedded default exam: (train, test) Examples, split by exam, deterministic in seed."""
    train, test = default_rows(seed)
    return [row_to_example(r) for r in train], [row_to_example(r) for r in test]


def problem_of(prompt: str) -> Optional[str]:
    """The arithmetic expression of a synthetic question ("7+8-5+6"), or None."""
    m = re.search(r"points\): (\S+) = \?", prompt)
    return m.group(1) if m else None


# --------------------------------------------------------------------------------------------
# Prompts
# --------------------------------------------------------------------------------------------

def needs_special_tokens(tokenizer: Any, examples: Sequence[Example]) -> bool:
    """Whether prompts must be tokenized with the tokenizer's special tokens (BOS): chat-templated
    prompts already carry them, plain prompts do not."""
    return not (bool(getattr(tokenizer, "chat_template", None)) or any(ex.templated for ex in examples))


def format_prompt(example: Example, tokenizer: Any = None) -> str:
    """The text the policy is conditioned on.

    Templated prompts are returned as they are; for a tokenizer with a chat template the prompt
    goes in as one user turn (`add_generation_prompt=True`); otherwise (the tiny policy, which
    has no chat template) the plain prompt."""
    if example.templated:
        return example.prompt
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": example.prompt}], add_generation_prompt=True, tokenize=False
        )
    return example.prompt


def extract_answer(response: str) -> Optional[str]:
    """Text after the last "Answer:" up to the end of its line, stripped (None when absent).
    A simple stand-in for `rlev_fast.verify` used by the warm start's own measurements."""
    i = response.rfind("Answer:")
    if i < 0:
        return None
    return response[i + len("Answer:"):].split("\n")[0].strip().rstrip(".")


_JSONL_NAMES = ("read_jsonl", "write_jsonl", "parse_row", "unmatchable_label", "looks_templated")


def __getattr__(name: str):
    """The JSONL reader's names, from rlev_fast/data_jsonl.py (imported on first use: it imports this
    module for Example and DataError)."""
    if name in _JSONL_NAMES:
        from . import data_jsonl

        return getattr(data_jsonl, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
