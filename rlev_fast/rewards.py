"""RLEV rewards: human values of questions, the value scale s(x), and the reward s(x) * correct.

Formulas (arXiv 2510.20187, DESIGN.md):
    v(x) = score / total                              in [0, 1]
    s(x) = 1 + min(alpha * v(x), 1)                   form "rlev" (additive, clipped), alpha = 10
    r(x, y) = s(x) * correct(y)                        in [1, 2] when correct, 0 when wrong
The controls of the paper are the other forms of `value_scale`.
"""
from __future__ import annotations

import math
from typing import Sequence, Union

import torch

from .registry import Registry

ArrayLike = Union[Sequence[float], torch.Tensor]

# name -> fn(values, alpha, seed) -> s(x), float32 1-D tensors; the trainer's --reward.
SCALE_FORMS = Registry("reward scale form")
register_scale_form = SCALE_FORMS.register

# WebInstruct-verified difficulty levels -> values (paper, Sec. 4: noisy values).
_DIFFICULTY_TO_VALUE = {
    "primary school": 0.01,
    "junior high school": 0.02,
    "senior high school": 0.04,
    "university": 0.06,
    "phd": 0.08,
}
_DIFFICULTY_ALIASES = {
    "primary": "primary school",
    "elementary": "primary school",
    "elementary school": "primary school",
    "junior high": "junior high school",
    "middle school": "junior high school",
    "senior high": "senior high school",
    "high school": "senior high school",
    "college": "university",
    "undergraduate": "university",
    "graduate": "phd",
    "ph.d.": "phd",
    "ph.d": "phd",
}


def as_float_tensor(x: ArrayLike, name: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A 1-D float tensor from a sequence or tensor; ValueError naming `name` when it is not one."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
        if t.dtype == torch.bool or t.dtype in _INT_DTYPES:
            t = t.to(dtype)
        elif not t.is_floating_point():
            raise ValueError(f"{name} must be a numeric tensor, got dtype {t.dtype}")
    else:
        try:
            t = torch.as_tensor(list(x) if not isinstance(x, (list, tuple)) else x, dtype=torch.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be a sequence of numbers ({exc})") from None
        t = t.to(dtype)
    if t.dim() != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(t.shape)}")
    return t


_INT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def first_bad_index(bad: torch.Tensor) -> int:
    return int(torch.nonzero(bad)[0, 0])


def check_finite(t: torch.Tensor, name: str) -> None:
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        i = first_bad_index(bad)
        raise ValueError(f"{name}[{i}] is not finite ({t[i].item()})")


def check_nonempty(t: torch.Tensor, name: str) -> None:
    if t.numel() == 0:
        raise ValueError(f"{name} is empty")


def exam_values(scores: ArrayLike, totals: ArrayLike) -> torch.Tensor:
    """v = score / total for each question (float32 unless tensors of another float dtype come in).

    Raises ValueError naming the argument and the first bad index for: mismatched lengths,
    non-finite numbers, total <= 0, score < 0, score > total.
    """
    s = as_float_tensor(scores, "scores", torch.float64)
    t = as_float_tensor(totals, "totals", torch.float64)
    check_nonempty(s, "scores")
    if s.shape != t.shape:
        raise ValueError(f"scores and totals differ in length: {s.numel()} vs {t.numel()}")
    check_finite(s, "scores")
    check_finite(t, "totals")
    for bad, msg in (
        (t <= 0, "totals[{i}] must be > 0, got {v}"),
        (s < 0, "scores[{i}] must be >= 0, got {v}"),
    ):
        if bool(bad.any()):
            i = first_bad_index(bad)
            src = t if msg.startswith("totals") else s
            raise ValueError(msg.format(i=i, v=src[i].item()))
    bad = s > t
    if bool(bad.any()):
        i = first_bad_index(bad)
        raise ValueError(f"scores[{i}] = {s[i].item()} exceeds totals[{i}] = {t[i].item()}")
    out_dtype = scores.dtype if isinstance(scores, torch.Tensor) and scores.is_floating_point() else torch.float32
    return (s / t).to(out_dtype)


def difficulty_values(levels: Sequence[str]) -> torch.Tensor:
    """WebInstruct difficulty levels -> values: primary, junior high, senior high, university, PhD
    map to (1, 2, 4, 6, 8) / 100. Case and surrounding spaces are ignored; common aliases
    ("middle school", "high school", "college", "graduate") are accepted."""
    if isinstance(levels, str):
        raise ValueError("levels must be a sequence of level names, not a single string")
    out = []
    for i, level in enumerate(levels):
        if not isinstance(level, str):
            raise ValueError(f"levels[{i}] must be a string, got {type(level).__name__}")
        key = " ".join(level.strip().lower().split())
        key = _DIFFICULTY_ALIASES.get(key, key)
        if key not in _DIFFICULTY_TO_VALUE:
            raise ValueError(
                f"levels[{i}] = {level!r} is not a known difficulty; expected one of "
                f"{sorted(_DIFFICULTY_TO_VALUE)} (or an alias)"
            )
        out.append(_DIFFICULTY_TO_VALUE[key])
    if not out:
        raise ValueError("levels is empty")
    return torch.tensor(out, dtype=torch.float32)


def _unit_interval(x: ArrayLike, name: str) -> torch.Tensor:
    """x as a non-empty float tensor of finite entries in [0, 1]; errors name the first bad entry."""
    t = as_float_tensor(x, name)
    check_nonempty(t, name)
    check_finite(t, name)
    bad = (t < 0) | (t > 1)
    if bool(bad.any()):
        i = first_bad_index(bad)
        raise ValueError(f"{name}[{i}] = {t[i].item()} is outside [0, 1]")
    return t


def _rlev_scale(v: torch.Tensor, alpha: float) -> torch.Tensor:
    return 1.0 + torch.clamp(alpha * v, max=1.0)


@SCALE_FORMS.register("rlev")
def rlev_scale(v: torch.Tensor, alpha: float, seed: int) -> torch.Tensor:
    """1 + min(alpha v, 1): additive and clipped, the paper's form."""
    return _rlev_scale(v, alpha)


@SCALE_FORMS.register("correctness")
def correctness_scale(v: torch.Tensor, alpha: float, seed: int) -> torch.Tensor:
    """1 for every question: RLVR."""
    return torch.ones_like(v)


@SCALE_FORMS.register("uniform")
def uniform_scale(v: torch.Tensor, alpha: float, seed: int) -> torch.Tensor:
    """The mean of the rlev scale over `values`, for every item."""
    return torch.full_like(v, float(_rlev_scale(v, alpha).double().mean()))


@SCALE_FORMS.register("shuffled")
def shuffled_scale(v: torch.Tensor, alpha: float, seed: int) -> torch.Tensor:
    """The rlev scale of `values` permuted with `seed`."""
    g = torch.Generator().manual_seed(int(seed))
    return _rlev_scale(v, alpha)[torch.randperm(v.numel(), generator=g)]


@SCALE_FORMS.register("multiplicative")
def multiplicative_scale(v: torch.Tensor, alpha: float, seed: int) -> torch.Tensor:
    """1 + alpha v, unclipped."""
    return 1.0 + alpha * v


def value_scale(values: ArrayLike, alpha: float = 10.0, form: str = "rlev", seed: int = 0) -> torch.Tensor:
    """The reward scale s(x) for each value, by the registered `form` (SCALE_FORMS; the built-in
    ones: rlev, correctness, uniform, shuffled, multiplicative)."""
    fn = SCALE_FORMS.get(form, "form")
    if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    return fn(_unit_interval(values, "values"), alpha, seed)


def rlev_reward(
    correct: ArrayLike, values: ArrayLike, alpha: float = 10.0, form: str = "rlev", seed: int = 0
) -> torch.Tensor:
    """r = value_scale(values) * correct. `correct` is bool or a float score in [0, 1]."""
    c = _unit_interval(correct, "correct")
    s = value_scale(values, alpha=alpha, form=form, seed=seed)
    if c.shape != s.shape:
        raise ValueError(f"correct and values differ in length: {c.numel()} vs {s.numel()}")
    return s.to(torch.float32) * c.to(torch.float32)
