"""Evaluation metrics of the RLEV paper. Each returns a plain float; empty input is a ValueError.

    accuracy       fraction correct (mean of `correct`, which may be bool or a score in [0, 1])
    h_acc          sum of v over correct / sum of v over all          (value-weighted accuracy)
    mean_length    mean response length in tokens
    value_density  H-Acc in % / mean length                             (paper's efficiency metric)
    by_value_bucket  Acc and mean length on the top and bottom 20% of items by value
    value_buckets  the indices of those top and bottom items (one selection rule for every caller)
    position_bins  the tenth of its response each token falls in (p(EOS) profiles, paper Fig. 2)
Tables print Acc and H-Acc as percentages; the functions return fractions in [0, 1].
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from .rewards import ArrayLike, as_float_tensor, check_finite, check_nonempty, first_bad_index


def _vec(x: ArrayLike, name: str) -> torch.Tensor:
    t = as_float_tensor(x, name, torch.float64).to(torch.float64)
    check_nonempty(t, name)
    check_finite(t, name)
    return t


def _correct(correct: ArrayLike) -> torch.Tensor:
    c = _vec(correct, "correct")
    bad = (c < 0) | (c > 1)
    if bool(bad.any()):
        i = first_bad_index(bad)
        raise ValueError(f"correct[{i}] = {c[i].item()} is outside [0, 1]")
    return c


def _same_length(**tensors: torch.Tensor) -> None:
    sizes = {k: v.numel() for k, v in tensors.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"inputs differ in length: {sizes}")


def accuracy(correct: ArrayLike) -> float:
    return float(_correct(correct).mean())


def h_acc(correct: ArrayLike, values: ArrayLike) -> float:
    c, v = _correct(correct), _vec(values, "values")
    _same_length(correct=c, values=v)
    if bool((v < 0).any()):
        i = first_bad_index(v < 0)
        raise ValueError(f"values[{i}] = {v[i].item()} is negative")
    total = v.sum()
    if float(total) <= 0:
        raise ValueError("values sum to zero: H-Acc is undefined")
    return float((v * c).sum() / total)


def mean_length(lengths: ArrayLike) -> float:
    n = _vec(lengths, "lengths")
    if bool((n < 0).any()):
        i = first_bad_index(n < 0)
        raise ValueError(f"lengths[{i}] = {n[i].item()} is negative")
    return float(n.mean())


def value_density(correct: ArrayLike, values: ArrayLike, lengths: ArrayLike) -> float:
    """H-Acc in percent divided by the mean response length (tokens)."""
    m = mean_length(lengths)
    if m <= 0:
        raise ValueError("mean length is zero: value density is undefined")
    return 100.0 * h_acc(correct, values) / m


EOS_PROFILE_BINS = 10  # p(EOS) along the response, in tenths of its length (paper Fig. 2)


def value_buckets(values: ArrayLike, fraction: float = 0.2) -> Tuple[List[int], List[int]]:
    """(top, bottom): indices of the top and bottom `fraction` of items by value, each
    max(1, round(fraction * n)) items. Items are sorted by value with a stable sort, so ties keep
    their order: bottom is the first k of that order, top the last k, highest first."""
    if not (0 < fraction <= 0.5):
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction!r}")
    v = _vec(values, "values")
    k = max(1, int(round(fraction * v.numel())))
    order = torch.sort(v, stable=True).indices
    return order.flip(0)[:k].tolist(), order[:k].tolist()


def position_bins(length: int, bins: int = EOS_PROFILE_BINS) -> torch.Tensor:
    """(length,) int64: the bin of each position t of a response, floor(t * bins / length), in
    integer arithmetic (no rounding at the bin edges)."""
    return torch.arange(length, dtype=torch.int64) * bins // max(length, 1)


def nanmean(xs: Sequence[Optional[float]]) -> Optional[float]:
    """The mean of the entries that are neither None nor NaN (None when there are none)."""
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    return sum(xs) / len(xs) if xs else None


def by_value_bucket(
    values: ArrayLike, correct: ArrayLike, lengths: ArrayLike, fraction: float = 0.2
) -> Dict[str, float]:
    """Acc and mean length on the top and bottom `fraction` of items by value (`value_buckets`).
    Keys: top_acc, top_length, bottom_acc, bottom_length.
    """
    v, c, n = _vec(values, "values"), _correct(correct), _vec(lengths, "lengths")
    _same_length(values=v, correct=c, lengths=n)
    top, bottom = value_buckets(v, fraction)
    return {
        "top_acc": float(c[top].mean()),
        "top_length": float(n[top].mean()),
        "bottom_acc": float(c[bottom].mean()),
        "bottom_length": float(n[bottom].mean()),
    }


def summarize(values: ArrayLike, correct: ArrayLike, lengths: ArrayLike) -> Dict[str, float]:
    """All of the paper's metrics at once: acc, h_acc, mean_length, value_density and buckets."""
    out = {
        "acc": accuracy(correct),
        "h_acc": h_acc(correct, values),
        "mean_length": mean_length(lengths),
    }
    out["value_density"] = 100.0 * out["h_acc"] / out["mean_length"] if out["mean_length"] > 0 else 0.0
    out.update(by_value_bucket(values, correct, lengths))
    return out
