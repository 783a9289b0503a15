"""What every integration reads from a dataset row: the question's value, its reference answer, and
the text of a completion. One reading for TRL (columns passed as lists to reward functions), verl
(extra_info dicts) and our own JSONL loader (rlev_fast/data_jsonl.py), so a row means the same thing
everywhere:

    value      "value" in [0, 1], or "score" and "total" (RLEV's release: v = score / total)
    answer     "answer", or "label" (RLEV's release)
    s(x)       value_scale(v, alpha, form)   (1 + min(alpha v, 1) for the default form "rlev")
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

import torch

from ..rewards import exam_values, value_scale

VALUE_COLUMNS = ("value", "score", "total")
# Scale forms defined over the whole training set (uniform: the set's mean scale; shuffled: a permutation
# across the set). A reward function sees one row or one batch at a time, where they would silently turn
# into something else (the batch's mean, a permutation within the batch).
SET_LEVEL_FORMS = ("uniform", "shuffled")
ANSWER_COLUMNS = ("answer", "label")


def values_of(value: Optional[Sequence[Any]] = None, score: Optional[Sequence[Any]] = None,
              total: Optional[Sequence[Any]] = None) -> torch.Tensor:
    """float64 values v in [0, 1] from a "value" column, or from "score" and "total" columns. A missing or
    malformed column is a ValueError naming the column and the row."""
    if value is not None:
        v = torch.tensor([float(x) if x is not None else float("nan") for x in value], dtype=torch.float64)
        bad = ~torch.isfinite(v) | (v < 0) | (v > 1)
        if bool(bad.any()):
            i = int(torch.nonzero(bad)[0, 0])
            raise ValueError(f"column 'value', row {i}: {value[i]!r} is not a number in [0, 1]")
        return v
    if score is not None and total is not None:
        try:
            return exam_values(torch.tensor([float(x) for x in score], dtype=torch.float64),
                               torch.tensor([float(x) for x in total], dtype=torch.float64))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"columns 'score' / 'total': {exc}") from None
    raise ValueError("the dataset needs a 'value' column (in [0, 1]), or 'score' and 'total' columns (RLEV's "
                     "format: v = score / total)")


def answers_of(answer: Optional[Sequence[Any]] = None, label: Optional[Sequence[Any]] = None) -> List[str]:
    """Reference answers from an "answer" column, or a "label" column (RLEV's format)."""
    col = answer if answer is not None else label
    if col is None:
        raise ValueError("the dataset needs an 'answer' column (or 'label', RLEV's format) with the reference answers")
    return [str(a) for a in col]


def scale_of(values: torch.Tensor, alpha: float = 10.0, form: str = "rlev", seed: int = 0) -> torch.Tensor:
    """s(x) per row (float64), by the registered form (rlev_fast.rewards.SCALE_FORMS)."""
    return value_scale(values, alpha=alpha, form=form, seed=seed).to(torch.float64)


def check_row_level_form(form: str, where: str) -> None:
    """ValueError for a scale form that needs the whole training set (SET_LEVEL_FORMS) where only rows or
    batches are seen."""
    if form in SET_LEVEL_FORMS:
        raise ValueError(f"{where}: scale form {form!r} is defined over the whole training set, which a reward "
                         f"function does not see; use RLEVGRPOTrainer (it computes s(x) over its train_dataset) or "
                         f"python -m rlev_fast.train")


def completion_text(completion: Any) -> str:
    """A completion as text: a string, or a conversational completion (a list of messages, TRL's format
    for chat datasets) whose last message's content is the answer."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, (list, tuple)) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content", "")
        if isinstance(content, list):  # content blocks
            return "".join(part.get("text", "") for part in content if isinstance(part, dict))
        return str(content)
    raise ValueError(f"a completion must be a string or a list of messages, got {type(completion).__name__}")


def values_of_rows(rows: Sequence[dict]) -> torch.Tensor:
    """values_of for a list of row dicts (TRL hands its reward machinery the batch's rows)."""
    def col(key):
        return [r.get(key) for r in rows] if rows and all(key in r for r in rows) else None

    return values_of(col("value"), col("score"), col("total"))
