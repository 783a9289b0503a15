"""Advantage estimators over rewards laid out as consecutive groups of `group_size` completions.

    grpo                   (r - mean_g r) / (std_g r + eps)          per-group standardization
    grpo with scale s      s * (c - mean_g c) / (std_g c + eps),  c = r / s
    dr_grpo                r - mean_g r                               (no std division, Dr. GRPO)
    rloo                   r_i - mean of the other completions of the group
    reinforce_pp           (r - mean_B r) / (std_B r + eps)           whitening over the batch's completions
    reinforce_pp_token     (r - mean_w r) / (std_w r + eps)           the same, each completion weighted by
                           w_i = its token count L_i, std with Bessel's correction over sum L_i (verl)
    reinforce_pp_baseline  group mean removed, then whitened over the batch

REINFORCE++ over completions or over tokens. With an outcome reward (gamma = 1) every token of a
completion carries the same return r_i, so verl's REINFORCE++ (`masked_whiten` of the token returns)
is the token-weighted form: a completion of 300 tokens counts 300 times in the batch mean and std, one
of 3 tokens 3 times. `reinforce_pp` counts every completion once: one rollout, one sample of the
outcome. That is our default because RLEV moves response lengths with the value (the paper's claim 2):
under token weighting the baseline itself shifts toward whatever the long responses score, so the
value signal and the length signal mix in the advantage. `reinforce_pp_token` reproduces verl's
numbers (tests/test_advantages.py checks it against verl's function and a float64 formula) for runs
that must match verl; it needs `lengths` (the response token counts) in `compute_advantages`. verl
puts eps inside the square root (rsqrt(var + 1e-8)); here it is added to the std like the other
estimators: the two agree to ~eps / std (1e-6 relative at eps=1e-6, exactly at eps=0).

Why `scale` exists: s(x) is constant within a group, so plain GRPO's division by the group std
cancels it: (s c - s mean c) / (s std c) = (c - mean c) / std c. RLEV's value weighting would be
erased; passing the per-completion s(x) as `scale` keeps it. The other estimators keep the value
scale on their own (they do not divide by a per-group statistic), so `scale` does not change them.

Stds are unbiased (as in verl and TRL). Groups of one, groups whose rewards are all equal and a
batch with zero std give zero advantages, never NaN.

Range. The estimators compute in float64. A group (or, for the whitening, the batch) whose largest
|reward| passes 2**480 is first scaled by a power of two (exact) so that its sums and sums of squares
cannot overflow float64; the result is scaled back (dr_grpo, rloo) or, for the standardizations,
is the same formula with eps scaled alike: (c / 2**e) / (std / 2**e + eps / 2**e). Groups within
range take the unscaled path, bit for bit. An advantage that the output dtype (float32) cannot hold,
e.g. dr_grpo of rewards 1e39, is a ValueError naming the rewards index, not a silent +-inf.
"""
from __future__ import annotations

import inspect
from typing import Optional

import torch

from .registry import Registry
from .rewards import ArrayLike, as_float_tensor, check_finite, check_nonempty, first_bad_index

# name -> fn(rewards, group_size, scale, eps) -> advantages, all float64 1-D tensors (scale may be
# None). Register an estimator of your own with `@ESTIMATORS.register("name")`: the trainer's
# --algo, the configs and the paper runner accept it from then on. An estimator that also declares a
# `lengths` parameter receives the float64 response token counts (required then; see reinforce_pp_token).
ESTIMATORS = Registry("advantage estimator")
register_advantage_estimator = ESTIMATORS.register


def _group_view(x: torch.Tensor, group_size: int) -> torch.Tensor:
    return x.view(-1, group_size)  # (num_groups, group_size)


# Beyond this |x| the float64 sums of squares of a group could overflow ((2 * 2**480)**2 * n for any
# realistic n stays below 2**1024); below it nothing is scaled, so ordinary rewards keep their bits.
_SCALE_ABOVE = 2.0 ** 480


def _pow2_scale(x: torch.Tensor, dim: Optional[int] = None) -> Optional[torch.Tensor]:
    """None when max |x| (per row of x with dim=1, or overall) is <= 2**480, the usual case. Else
    the factor 2**-e per row (1 on rows within range) with max |x row| * 2**-e in [0.5, 1): scaling by
    it is exact in floating point."""
    amax = x.abs().amax() if dim is None else x.abs().amax(dim=dim, keepdim=True)
    big = amax > _SCALE_ABOVE
    if not bool(big.any()):
        return None
    _, e = torch.frexp(amax)
    return torch.where(big, torch.ldexp(torch.ones_like(amax), -e), torch.ones_like(amax))


def _constant_groups(r: torch.Tensor, group_size: int) -> torch.Tensor:
    """(S,) bool: the completion's group has all-equal rewards (no signal)."""
    g = _group_view(r, group_size)
    return (g.amax(dim=1, keepdim=True) == g.amin(dim=1, keepdim=True)).expand_as(g).reshape(-1)


def _group_standardize(x: torch.Tensor, group_size: int, eps: float) -> torch.Tensor:
    g = _group_view(x, group_size)
    if group_size == 1:
        return torch.zeros_like(x)
    s = _pow2_scale(g, dim=1)
    if s is not None:  # huge rewards (std would overflow float64): the same formula on g 2**-e
        g, eps = g * s, eps * s
    centered = g - g.mean(dim=1, keepdim=True)
    std = g.std(dim=1, keepdim=True)
    # All-equal groups: the centered value can be a rounding residue (1e-17), not a signal.
    constant = (g.amax(dim=1, keepdim=True) == g.amin(dim=1, keepdim=True))
    return torch.where(constant, torch.zeros_like(centered), centered / (std + eps)).reshape(-1)


def _group_center(g: torch.Tensor) -> torch.Tensor:
    """g - its row means, scaled (exactly) around the mean when a row is huge (the sum would overflow)."""
    s = _pow2_scale(g, dim=1)
    if s is None:
        return g - g.mean(dim=1, keepdim=True)
    gs = g * s
    return (gs - gs.mean(dim=1, keepdim=True)) / s


def _whiten(x: torch.Tensor, eps: float) -> torch.Tensor:
    if x.numel() < 2 or bool(x.amax() == x.amin()):
        return torch.zeros_like(x)
    s = _pow2_scale(x)
    if s is not None:
        x, eps = x * s, eps * s
    return (x - x.mean()) / (x.std() + eps)


@ESTIMATORS.register("grpo")
def grpo(r: torch.Tensor, group_size: int, scale: Optional[torch.Tensor], eps: float) -> torch.Tensor:
    """Per-group standardization; with `scale`, of correctness r / s, then times s (keeps s(x))."""
    if scale is None:
        return _group_standardize(r, group_size, eps)
    c = r / scale
    bad = ~torch.isfinite(c)
    if bool(bad.any()):
        i = first_bad_index(bad)
        raise ValueError(f"rewards[{i}] / scale[{i}] = {r[i].item()} / {scale[i].item()} overflows float64")
    return scale * _group_standardize(c, group_size, eps)


@ESTIMATORS.register("dr_grpo")
def dr_grpo(r: torch.Tensor, group_size: int, scale: Optional[torch.Tensor], eps: float) -> torch.Tensor:
    """r - group mean (no std division). An all-equal group is exactly 0, not a 1e-17 residue."""
    g = _group_view(r, group_size)
    adv = _group_center(g).reshape(-1)
    return adv.masked_fill(_constant_groups(r, group_size), 0.0)


@ESTIMATORS.register("rloo")
def rloo(r: torch.Tensor, group_size: int, scale: Optional[torch.Tensor], eps: float) -> torch.Tensor:
    """r_i - mean of the other completions of its group (0 for groups of one or all-equal groups)."""
    if group_size == 1:
        return torch.zeros_like(r)
    g = _group_view(r, group_size)
    s = _pow2_scale(g, dim=1)
    if s is not None:  # huge rewards: the group sum would overflow float64; exact power-of-two scaling
        gs = g * s
        adv = (gs - (gs.sum(dim=1, keepdim=True) - gs) / (group_size - 1)) / s
        return adv.reshape(-1).masked_fill(_constant_groups(r, group_size), 0.0)
    baseline = (g.sum(dim=1, keepdim=True) - g) / (group_size - 1)
    return (g - baseline).reshape(-1).masked_fill(_constant_groups(r, group_size), 0.0)


@ESTIMATORS.register("reinforce_pp")
def reinforce_pp(r: torch.Tensor, group_size: int, scale: Optional[torch.Tensor], eps: float) -> torch.Tensor:
    """Whitening over the whole batch (over completions; verl whitens over tokens)."""
    return _whiten(r, eps)


@ESTIMATORS.register("reinforce_pp_token")
def reinforce_pp_token(r: torch.Tensor, group_size: int, scale: Optional[torch.Tensor], eps: float,
                       lengths: torch.Tensor) -> torch.Tensor:
    """Whitening over the batch's tokens: completion i weighted by its token count L_i (verl's REINFORCE++
    with an outcome reward). mean = sum L r / sum L, var = sum L (r - mean)^2 / (sum L - 1)."""
    n_tok = lengths.sum()
    if float(n_tok) < 2 or bool(r.amax() == r.amin()):
        return torch.zeros_like(r)
    s = _pow2_scale(r)
    if s is not None:
        r, eps = r * s, eps * s
    mean = (lengths * r).sum() / n_tok
    var = (lengths * (r - mean) ** 2).sum() / (n_tok - 1)
    return (r - mean) / (var.sqrt() + eps)


def needs_lengths(estimator: str) -> bool:
    """Whether the registered estimator takes the response token counts (a `lengths` parameter)."""
    return "lengths" in inspect.signature(ESTIMATORS.get(estimator, "estimator")).parameters


@ESTIMATORS.register("reinforce_pp_baseline")
def reinforce_pp_baseline(r: torch.Tensor, group_size: int, scale: Optional[torch.Tensor], eps: float) -> torch.Tensor:
    """The group mean removed, then whitened over the batch."""
    g = _group_view(r, group_size)
    return _whiten(_group_center(g).reshape(-1), eps)


def _check_lengths(lengths, r: torch.Tensor, estimator: str) -> Optional[torch.Tensor]:
    """float64 response token counts for an estimator that takes them (else None): finite, >= 0, one
    per reward. An estimator that needs them and gets none is an error naming it."""
    if not needs_lengths(estimator):
        return None
    if lengths is None:
        raise ValueError(f"estimator {estimator!r} weights completions by their token counts: pass lengths "
                         f"(the response length of each completion, in tokens)")
    n = as_float_tensor(lengths, "lengths", torch.float64).to(device=r.device, dtype=torch.float64)
    if n.shape != r.shape:
        raise ValueError(f"lengths has {n.numel()} entries but rewards has {r.numel()}")
    check_finite(n, "lengths")
    bad = n < 0
    if bool(bad.any()):
        i = first_bad_index(bad)
        raise ValueError(f"lengths[{i}] must be >= 0, got {n[i].item()}")
    return n


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
    lengths: Optional[ArrayLike] = None,
) -> torch.Tensor:
    """One advantage per completion (float32, computed in float64). See the module docstring.
    `lengths`: the response token count of each completion, for the estimators that weight by it
    (reinforce_pp_token); ignored by the others."""
    r, s, out_dtype = _check_inputs(rewards, group_size, estimator, scale, eps)
    n = _check_lengths(lengths, r, estimator)
    fn = ESTIMATORS.get(estimator)
    adv = fn(r, group_size, s, eps) if n is None else fn(r, group_size, s, eps, lengths=n)
    out = adv.to(out_dtype)
    # Any estimator, built-in or registered: an advantage the output dtype cannot hold (dr_grpo / rloo
    # of rewards beyond 3.4e38 in float32) is an error naming the completion, not a silent +-inf.
    bad = ~torch.isfinite(out)
    if bool(bad.any()):
        i = first_bad_index(bad)
        raise ValueError(
            f"the {estimator} advantage of rewards[{i}] = {r[i].item():.6g} is {adv[i].item():.6g}, which the "
            f"{out_dtype} output cannot hold (max {torch.finfo(out_dtype).max:.3g}): scale the rewards down")
    return out
