"""Advantage estimators in Triton: group statistics from rewards (and value scales) in one small kernel.

Computes exactly `rlev_fast.advantages.compute_advantages` (the reference, imported below; see its
module docstring for the estimators and for why GRPO takes `scale`), in float64 like the reference:

    _group_adv_kernel   a tile of BLOCK_G groups x BLOCK_K (>= group_size) completions per program:
                        group mean, unbiased std, all-equal test (max == min), then the estimator:
                        grpo (with / without scale), dr_grpo, rloo, or the group-centered rewards of
                        reinforce_pp_baseline
    _whiten_kernel      one program over the whole batch, three fixed-order passes (mean, unbiased
                        variance and max / min, write): reinforce_pp and the second step of
                        reinforce_pp_baseline

Rewards are [B * n] completions laid out as consecutive groups of `group_size`; the batch is small
(thousands), so one program for the batch-wide whitening is enough and keeps it deterministic.
"""
from __future__ import annotations

from typing import Optional

import torch
import triton
import triton.language as tl

from rlev_fast.advantages import ESTIMATORS, check_advantage_inputs, compute_advantages  # noqa: F401  (the reference)

__all__ = ["compute_advantages", "triton_compute_advantages"]

_GRPO, _DR_GRPO, _RLOO, _CENTER = 0, 1, 2, 3


@triton.jit
def _group_adv_kernel(
    R_ptr, S_ptr, OUT_ptr, num_groups, group_size, k, k_minus_1, eps,
    ESTIMATOR: tl.constexpr, HAS_SCALE: tl.constexpr, SINGLE: tl.constexpr,
    BLOCK_G: tl.constexpr, BLOCK_K: tl.constexpr,
):
    """k / k_minus_1: group_size and max(group_size - 1, 1) as floats (exact small integers)."""
    pid = tl.program_id(0).to(tl.int64)
    offs_g = pid * BLOCK_G + tl.arange(0, BLOCK_G).to(tl.int64)
    offs_k = tl.arange(0, BLOCK_K).to(tl.int64)
    mask = (offs_g[:, None] < num_groups) & (offs_k[None, :] < group_size)
    idx = offs_g[:, None] * group_size + offs_k[None, :]
    r = tl.load(R_ptr + idx, mask=mask, other=0.0).to(tl.float64)
    s = tl.full((BLOCK_G, BLOCK_K), 1.0, tl.float64)
    if HAS_SCALE:
        s = tl.load(S_ptr + idx, mask=mask, other=1.0).to(tl.float64)
        r = r / s  # grpo with scale standardizes correctness c = r / s, then multiplies s back
    total = tl.sum(r, axis=1)
    mean = total / k
    centered = tl.where(mask, r - mean[:, None], 0.0)
    hi = tl.max(tl.where(mask, r, float("-inf")), axis=1)
    lo = tl.min(tl.where(mask, r, float("inf")), axis=1)
    constant = hi == lo  # all-equal group: exactly 0, not a rounding residue
    if ESTIMATOR == 0:  # grpo
        var = tl.sum(centered * centered, axis=1) / k_minus_1
        std = tl.sqrt(var)
        denom = std + eps
        denom = tl.where(denom > 0, denom, 1.0)  # 0 only where centered is 0 too (constant or padding rows)
        adv = centered / denom[:, None]
        adv = tl.where(constant[:, None] | SINGLE, 0.0, adv)
        if HAS_SCALE:
            adv = s * adv
    elif ESTIMATOR == 1:  # dr_grpo
        adv = tl.where(constant[:, None], 0.0, centered)
    elif ESTIMATOR == 2:  # rloo: r_i - mean of the other completions
        baseline = (total[:, None] - r) / k_minus_1
        adv = tl.where(constant[:, None] | SINGLE, 0.0, r - baseline)
    else:  # group-centered rewards (first step of reinforce_pp_baseline)
        adv = centered
    tl.store(OUT_ptr + idx, adv, mask=mask)


@triton.jit
def _whiten_kernel(X_ptr, OUT_ptr, n, n_f, n_minus_1, eps, SMALL: tl.constexpr, BLOCK: tl.constexpr):
    """(x - mean) / (std + eps) over the whole batch (one program); all equal or n < 2 -> 0."""
    offs = tl.arange(0, BLOCK).to(tl.int64)
    acc = tl.zeros((BLOCK,), tl.float64)
    for start in range(0, n, BLOCK):
        m = start + offs < n
        acc += tl.load(X_ptr + start + offs, mask=m, other=0.0).to(tl.float64)
    mean = tl.sum(acc, axis=0) / n_f
    sq = tl.zeros((BLOCK,), tl.float64)
    hi = tl.full((BLOCK,), float("-inf"), tl.float64)
    lo = tl.full((BLOCK,), float("inf"), tl.float64)
    for start in range(0, n, BLOCK):
        m = start + offs < n
        x = tl.load(X_ptr + start + offs, mask=m, other=0.0).to(tl.float64)
        d = tl.where(m, x - mean, 0.0)
        sq += d * d
        hi = tl.maximum(hi, tl.where(m, x, float("-inf")))
        lo = tl.minimum(lo, tl.where(m, x, float("inf")))
    denom = tl.sqrt(tl.sum(sq, axis=0) / n_minus_1) + eps
    degenerate = SMALL | (tl.max(hi, axis=0) == tl.min(lo, axis=0))
    denom = tl.where(degenerate, 1.0, denom)  # all equal with eps = 0: no 0 / 0 (the output is 0 anyway)
    for start in range(0, n, BLOCK):
        m = start + offs < n
        x = tl.load(X_ptr + start + offs, mask=m, other=0.0).to(tl.float64)
        y = tl.where(degenerate, 0.0, (x - mean) / denom)
        tl.store(OUT_ptr + start + offs, y, mask=m)


def _launch_group(r, s, group_size, eps, code):
    num_groups = r.numel() // group_size
    out = torch.empty_like(r)
    BLOCK_K = triton.next_power_of_2(group_size)
    BLOCK_G = max(1, min(64, 2048 // BLOCK_K))
    grid = (triton.cdiv(num_groups, BLOCK_G),)
    _group_adv_kernel[grid](r, s if s is not None else r, out, num_groups, group_size, float(group_size),
                            float(max(group_size - 1, 1)), float(eps), ESTIMATOR=code, HAS_SCALE=s is not None,
                            SINGLE=group_size == 1, BLOCK_G=BLOCK_G, BLOCK_K=BLOCK_K)
    return out


def _launch_whiten(x, eps):
    out = torch.empty_like(x)
    n = x.numel()
    _whiten_kernel[(1,)](x, out, n, float(n), float(max(n - 1, 1)), float(eps), SMALL=n < 2, BLOCK=1024)
    return out


def triton_compute_advantages(
    rewards,
    group_size: int,
    estimator: str = "grpo",
    scale: Optional[torch.Tensor] = None,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Same contract, checks and result as `compute_advantages`, computed by the Triton kernels above
    (on the rewards' device; on CPU only under TRITON_INTERPRET=1)."""
    r, s, out_dtype = check_advantage_inputs(rewards, group_size, estimator, scale, eps)
    r = r.contiguous()
    if s is not None:
        s = s.contiguous()
    if estimator != "grpo":
        s = None  # validated like the reference; the other estimators keep the value scale on their own

    if estimator == "grpo":
        adv = _launch_group(r, s, group_size, eps, _GRPO)
    elif estimator == "dr_grpo":
        adv = _launch_group(r, None, group_size, eps, _DR_GRPO)
    elif estimator == "rloo":
        adv = _launch_group(r, None, group_size, eps, _RLOO)
    elif estimator == "reinforce_pp":
        adv = _launch_whiten(r, eps)
    else:  # reinforce_pp_baseline
        adv = _launch_whiten(_launch_group(r, None, group_size, eps, _CENTER), eps)
    return adv.to(out_dtype)
