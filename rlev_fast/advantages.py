"""Advantage estimators over rewards laid out as consecutive groups of `group_size` completions.

    grpo                   (r - mean_g r) / (std_g r + eps)          per-group standardization
    grpo with scale s      s * (c - mean_g c) / (std_g c + eps),  c = r / s
    dr_grpo                r - mean_g r                               (no std division, Dr. GRPO)
    rloo                   r_i - mean of the other completions of the group
    reinforce_pp           (r - mean_B r) / (std_B r + eps)           whitening over the whole batch
    reinforce_pp_baseline  group mean removed, then whitened over the batch

Why `scale` exists: s(x) is constant within a group, so plain GRPO's division by the group std
cancels it: (s c - s mean c) / (s std c) = (c - mean c) / std c. RLEV's value weighting would be
erased; passing the per-completion s(x) as `scale` keeps it. The other estimators keep the value
scale on their own (they do not divide by a per-group statistic), so `scale` does not change them.

Stds are unbiased (as in verl and TRL). Groups of one, groups whose rewards are all equal and a
batch with zero std give zero advantages, never NaN.
"""
from __future__ import annotations

from typing import Optional

import torch

from .registry import Registry
from .rewards import ArrayLike, as_float_tensor, check_finite, check_nonempty, first_bad_index

# name -> fn(rewards, group_size, scale, eps) -> advantages, all float64 1-D tensors (scale may be
# None). Register an estimator of your own with `@ESTIMATORS.register("name")`: the trainer's
# --algo, the configs and the paper runner accept it from then on.
ESTIMATORS = Registry("advantage estimator")
register_advantage_estimator = ESTIMATORS.register


def _group_view(x: torch.Tensor, group_size: int) -> torch.Tensor:
    return x.view(-1, group_size)  # (num_groups, group_size)


def _constant_groups(r: torch.Tensor, group_size: int) -> torch.Tensor:
    """(S,) bool: the completion's group has all-equal rewards (no signal)."""
    g = _group_view(r, group_size)
    return (g.amax(dim=1, keepdim=True) == g.amin(dim=1, keepdim=True)).expand_as(g).reshape(-1)


def _group_standardize(x: torch.Tensor, group_size: int, eps: float) -> torch.Tensor:
    g = _group_view(x, group_size)
    if group_size == 1:
        return torch.zeros_like(x)
    centered = g - g.mean(dim=1, keepdim=True)
    std = g.std(dim=1, keepdim=True)
    # All-equal groups: the centered value can be a rounding residue (1e-17), not a signal.
    constant = (g.amax(dim=1, keepdim=True) == g.amin(dim=1, keepdim=True))
    return torch.where(constant, torch.zeros_like(centered), centered / (std + eps)).reshape(-1)


def _whiten(x: torch.Tensor, eps: float) -> torch.Tensor:
    if x.numel() < 2 or bool(x.amax() == x.amin()):
        return torch.zeros_like(x)
    return (x - x.mean()) / (x.std() + eps)


@ESTIMATORS.register("grpo")
def grpo(r: torch.Tensor, group_size: int, scale: Optional[torch.Tensor], eps: float) -> torch.Tensor:
    """Per-group standardization; with `scale`, of correctness r / s, then times s (keeps s(x))."""
    if scale is None:
        return _group_standardize(r, group_size, eps)
    return scale * _group_standardize(r / scale, group_size, eps)


@ESTIMATORS.register("dr_grpo")
def dr_grpo(r: torch.Tensor, group_size: int, scale: Optional[torch.Tensor], eps: float) -> torch.Tensor:
    """r - group mean (no std division). An all-equal group is exactly 0, not a 1e-17 residue."""
    g = _group_view(r, group_size)
    adv = (g - g.mean(dim=1, keepdim=True)).reshape(-1)
    return adv.masked_fill(_constant_groups(r, group_size), 0.0)


@ESTIMATORS.register("rloo")
def rloo(r: torch.Tensor, group_size: int, scale: Optional[torch.Tensor], eps: float) -> torch.Tensor:
    """r_i - mean of the other completions of its group (0 for groups of one or all-equal groups)."""
    if group_size == 1:
        return torch.zeros_like(r)
    g = _group_view(r, group_size)
    baseline = (g.sum(dim=1, keepdim=True) - g) / (group_size - 1)
    return (g - baseline).reshape(-1).masked_fill(_constant_groups(r, group_size), 0.0)


@ESTIMATORS.register("reinforce_pp")
def reinforce_pp(r: torch.Tensor, group_size: int, scale: Optional[torch.Tensor], eps: float) -> torch.Tensor:
    """Whitening over the whole batch (over completions; verl whitens over tokens)."""
    return _whiten(r, eps)


@ESTIMATORS.register("reinforce_pp_baseline")
def reinforce_pp_baseline(r: torch.Tensor, group_size: int, scale: Optional[torch.Tensor], eps: float) -> torch.Tensor:
    """The group mean removed, then whitened over the batch."""
    g = _group_view(r, group_size)
    return _whiten((g - g.mean(dim=1, keepdim=True)).reshape(-1), eps)


def _check_inputs(rewards, group_size, estimator, scale, eps):
    """Validated (rewards, scale or None, output dtype): rewards and scale as float64 1-D tensors."""
    ESTIMATORS.check(estimator, "estimator")
    if not isinstance(group_size, int) or isinstance(group_size, bool) or group_size < 1:
        raise ValueError(f"group_size must be a positive int, got {group_size!r}")
    if not (eps >= 0):
        raise ValueError(f"eps must be >= 0, got {eps!r}")
    r = as_float_tensor(rewards, "rewards", torch.float64)
    out_dtype = r.dtype if r.dtype in (torch.float32, torch.bfloat16, torch.float16) else torch.float32
    r = r.to(torch.float64)
    check_nonempty(r, "rewards")
    check_finite(r, "rewards")
    if r.numel() % group_size:
        raise ValueError(
            f"rewards has {r.numel()} entries, not a multiple of group_size={group_size}"
        )
    s = None
    if scale is not None:
        s = as_float_tensor(scale, "scale", torch.float64).to(device=r.device, dtype=torch.float64)
        if s.shape != r.shape:
            raise ValueError(f"scale has {s.numel()} entries but rewards has {r.numel()}")
        check_finite(s, "scale")
        bad = s <= 0
        if bool(bad.any()):
            i = first_bad_index(bad)
            raise ValueError(f"scale[{i}] must be > 0, got {s[i].item()}")
    return r, s, out_dtype


def compute_advantages(
    rewards: ArrayLike,
    group_size: int,
    estimator: str = "grpo",
    scale: Optional[ArrayLike] = None,
    eps: float = 1e-6,
) -> torch.Tensor:
    """One advantage per completion (float32, computed in float64). See the module docstring."""
    r, s, out_dtype = _check_inputs(rewards, group_size, estimator, scale, eps)
    return ESTIMATORS.get(estimator)(r, group_size, s, eps).to(out_dtype)
