"""Fused linear + clipped policy loss in Triton: the `triton` backend of `rlev_fast.policy_loss`.

From final hidden states h [N, H] and the lm_head weight W [V, H] to the loss of
`rlev_fast/loss.py` (module docstring there: the one function every backend computes) and its
gradients for h and W, without ever holding the [N, V] logits:

    forward kernel   per token tile, stream V tiles of W: logits by tl.dot (fp32 accumulators),
                     online max / logsumexp (running max starts at -inf), target logit, EOS logit,
                     and sum_j p_j (z_j - max) for the entropy  ->  lse, logp, entropy, z_eos  [N]
    epilogue         on [N] vectors: ratio, decoupled + dual clip, KL estimator, aggregation weights,
                     and g_t = d loss / d logp_t.  A Triton kernel that mirrors `token_objective` of
                     loss.py and the gradients autograd gives it (tie splitting of max, clamp
                     gradients, GSPO's detached sequence ratio; tests compare the two); fp64 inputs
                     run `token_objective` under autograd instead. The work is O(N), negligible next
                     to the O(N H V) kernels. It takes the weights w_t from loss.py (so any registered
                     aggregation works) but has its own copy of k1, k2, k3: another KL estimator is
                     refused with a ValueError.
    backward kernels recompute the logits tile and form dz = g (onehot - p) + w c_ent p (log p + H)
                     in registers:  dh = dz W / T (grid over token tiles) and  dW = dz^T h / T (grid
                     over V tiles, each looping over ALL token tiles in a fixed order): deterministic,
                     no float atomics.  With config.deterministic=False one kernel does both and adds
                     dh with atomics (one logits recomputation less).

Like Liger's fused linear cross entropy, the forward computes the gradients eagerly; the
autograd.Function's backward only scales them by grad_output.

Layout: reference, @triton.jit kernels, host launchers, autograd.Function, functional entry point.
Kernel style: int64 offsets (N * V and N * H can pass 2**31), tokens on grid axis 0 (no grid-dim
overflow at N >= 65536), masks for N and V tails (151936 % 256 != 0).
Precision: fp32 accumulation everywhere. fp32 inputs use exact fp32 dots ("ieee"; "tf32" only when
torch.backends.cuda.matmul.allow_tf32 is set, as torch itself would); bf16 / fp16 inputs use
tensor-core dots with dz rounded to the input dtype for the gradient dots (what a bf16 PyTorch
backward does too). float64 inputs are computed in fp32 (the kernels have no fp64 path); use the
reference backend for a float64 ground truth.
"""
from __future__ import annotations

import os
from typing import Optional

import torch
import triton
import triton.language as tl

from rlev_fast.loss import (KL_ESTIMATORS, FlatInputs, PolicyLossConfig, PolicyLossOutput, check_outputs, kl_k1,
                            kl_k2, kl_k3, masked_mean, token_objective)
from rlev_fast.loss_reference import reference_policy_loss  # noqa: F401  (the ground truth tests import from here)

__all__ = ["reference_policy_loss", "triton_policy_loss", "TritonPolicyLossFunction", "fused_policy_forward"]


# ----------------------------------------------------------------------------------------------
# Kernels
# ----------------------------------------------------------------------------------------------
@triton.jit
def _dot(a, b, acc, DOT_PRECISION: tl.constexpr, UPCAST_DOT: tl.constexpr):
    """acc + a @ b in fp32. UPCAST_DOT: the Triton 3.9 interpreter multiplies bf16 tiles as their raw
    uint16 bits, so under TRITON_INTERPRET bf16 operands go through fp32 (exact products, fp32
    accumulation: the numerics of a bf16 tensor-core dot)."""
    if UPCAST_DOT:
        return tl.dot(a.to(tl.float32), b.to(tl.float32), acc, input_precision="ieee")
    return tl.dot(a, b, acc, input_precision=DOT_PRECISION)


@triton.jit
def _logits_tile(H_ptr, W_ptr, offs_n, offs_v, n_mask, v_mask, H, inv_temp,
                 stride_hn, stride_hh, stride_wv, stride_wh,
                 BLOCK_N: tl.constexpr, BLOCK_V: tl.constexpr, BLOCK_H: tl.constexpr,
                 DOT_PRECISION: tl.constexpr, UPCAST_DOT: tl.constexpr):
    """z[BLOCK_N, BLOCK_V] = h W^T / T with an fp32 accumulator; offs_n / offs_v are int64."""
    acc = tl.zeros((BLOCK_N, BLOCK_V), dtype=tl.float32)
    for h0 in range(0, H, BLOCK_H):
        offs_h = h0 + tl.arange(0, BLOCK_H)
        h_mask = offs_h < H
        h = tl.load(H_ptr + offs_n[:, None] * stride_hn + offs_h[None, :] * stride_hh,
                    mask=n_mask[:, None] & h_mask[None, :], other=0.0)
        w = tl.load(W_ptr + offs_v[None, :] * stride_wv + offs_h[:, None] * stride_wh,
                    mask=v_mask[None, :] & h_mask[:, None], other=0.0)  # (BLOCK_H, BLOCK_V)
        acc = _dot(h, w, acc, DOT_PRECISION, UPCAST_DOT)
    return acc * inv_temp


@triton.jit
def _dz_tile(z, y, lse, g, ge, ent, offs_v, v_mask, inv_temp, HAS_ENTROPY: tl.constexpr):
    """d loss / d raw logits for one tile: (g (1[j=y] - p_j) + ge p_j (log p_j + H)) / T, ge = w c_ent."""
    logp = z - lse[:, None]
    p = tl.where(v_mask[None, :], tl.exp(logp), 0.0)
    dz = tl.where(offs_v[None, :] == y[:, None], g[:, None], 0.0) - g[:, None] * p
    if HAS_ENTROPY:
        dz += ge[:, None] * p * (logp + ent[:, None])
    return dz * inv_temp


@triton.jit
def _policy_fwd_kernel(
    H_ptr, W_ptr, Y_ptr, LSE_ptr, LOGP_ptr, ENT_ptr, ZEOS_ptr,
    N, V, H, eos_id, inv_temp,
    stride_hn, stride_hh, stride_wv, stride_wh,
    HAS_ENTROPY: tl.constexpr, HAS_EOS: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_V: tl.constexpr, BLOCK_H: tl.constexpr, DOT_PRECISION: tl.constexpr,
    UPCAST_DOT: tl.constexpr,
):
    pid = tl.program_id(0).to(tl.int64)  # tokens on axis 0: no 65535 limit
    offs_n = pid * BLOCK_N + tl.arange(0, BLOCK_N).to(tl.int64)
    n_mask = offs_n < N
    y = tl.load(Y_ptr + offs_n, mask=n_mask, other=0)

    m = tl.full((BLOCK_N,), float("-inf"), tl.float32)  # running max
    s = tl.zeros((BLOCK_N,), tl.float32)                 # sum exp(z - m)
    t = tl.zeros((BLOCK_N,), tl.float32)                 # sum exp(z - m) (z - m): entropy = log s - t / s
    zy = tl.zeros((BLOCK_N,), tl.float32)
    ze = tl.zeros((BLOCK_N,), tl.float32)
    for v0 in range(0, V, BLOCK_V):
        offs_v = v0 + tl.arange(0, BLOCK_V).to(tl.int64)
        v_mask = offs_v < V
        z = _logits_tile(H_ptr, W_ptr, offs_n, offs_v, n_mask, v_mask, H, inv_temp,
                         stride_hn, stride_hh, stride_wv, stride_wh, BLOCK_N, BLOCK_V, BLOCK_H, DOT_PRECISION, UPCAST_DOT)
        zy += tl.sum(tl.where(offs_v[None, :] == y[:, None], z, 0.0), axis=1)
        if HAS_EOS:
            ze += tl.sum(tl.where(offs_v[None, :] == eos_id, z, 0.0), axis=1)
        z = tl.where(v_mask[None, :], z, float("-inf"))
        m_new = tl.maximum(m, tl.max(z, axis=1))  # finite: every tile holds >= 1 valid column
        alpha = tl.exp(m - m_new)                  # 0 on the first tile (m = -inf)
        e = tl.exp(z - m_new[:, None])
        if HAS_ENTROPY:
            shift = tl.where(s > 0, m - m_new, 0.0)  # avoid 0 * -inf on the first tile
            zc = tl.where(v_mask[None, :], z - m_new[:, None], 0.0)
            t = alpha * (t + shift * s) + tl.sum(e * zc, axis=1)
        s = s * alpha + tl.sum(e, axis=1)
        m = m_new

    log_s = tl.log(s)
    lse = m + log_s
    tl.store(LSE_ptr + offs_n, lse, mask=n_mask)
    tl.store(LOGP_ptr + offs_n, zy - lse, mask=n_mask)
    if HAS_ENTROPY:
        tl.store(ENT_ptr + offs_n, log_s - t / s, mask=n_mask)
    if HAS_EOS:
        tl.store(ZEOS_ptr + offs_n, ze, mask=n_mask)


@triton.jit
def _row_grads(G_ptr, GE_ptr, ENT_ptr, offs_n, n_mask, HAS_ENTROPY: tl.constexpr):
    """A token tile's per-row loss gradient g, entropy weight ge and entropy, and whether any row
    has a gradient: a fully masked tile (g = 0, no entropy weight) has an exactly zero dz."""
    g = tl.load(G_ptr + offs_n, mask=n_mask, other=0.0)
    ge = g
    ent = g
    if HAS_ENTROPY:
        ge = tl.load(GE_ptr + offs_n, mask=n_mask, other=0.0)
        ent = tl.load(ENT_ptr + offs_n, mask=n_mask, other=0.0)
    active = tl.max(tl.abs(g), axis=0) > 0
    if HAS_ENTROPY:
        active = active | (tl.max(tl.abs(ge), axis=0) > 0)
    return g, ge, ent, active


@triton.jit
def _dz_recompute(H_ptr, W_ptr, Y_ptr, LSE_ptr, offs_n, offs_v, n_mask, v_mask, g, ge, ent, H, inv_temp,
                  stride_hn, stride_hh, stride_wv, stride_wh, HAS_ENTROPY: tl.constexpr,
                  BLOCK_N: tl.constexpr, BLOCK_V: tl.constexpr, BLOCK_H: tl.constexpr,
                  DOT_PRECISION: tl.constexpr, UPCAST_DOT: tl.constexpr):
    """dz of a (token, vocab) tile from its logits recomputed from h and W (never stored), in W's
    dtype for the backward dots."""
    y = tl.load(Y_ptr + offs_n, mask=n_mask, other=0)
    lse = tl.load(LSE_ptr + offs_n, mask=n_mask, other=0.0)
    z = _logits_tile(H_ptr, W_ptr, offs_n, offs_v, n_mask, v_mask, H, inv_temp,
                     stride_hn, stride_hh, stride_wv, stride_wh, BLOCK_N, BLOCK_V, BLOCK_H, DOT_PRECISION, UPCAST_DOT)
    dz = _dz_tile(z, y, lse, g, ge, ent, offs_v, v_mask, inv_temp, HAS_ENTROPY)
    return dz.to(W_ptr.dtype.element_ty)


@triton.jit
def _policy_bwd_dh_kernel(
    H_ptr, W_ptr, Y_ptr, LSE_ptr, ENT_ptr, G_ptr, GE_ptr, DH_ptr,
    N, V, H, inv_temp,
    stride_hn, stride_hh, stride_wv, stride_wh, stride_dn, stride_dh,
    HAS_ENTROPY: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_V: tl.constexpr, BLOCK_H: tl.constexpr, DOT_PRECISION: tl.constexpr,
    UPCAST_DOT: tl.constexpr,
):
    """dh[tile] = sum over V tiles of dz W. The program owns its rows of DH (fp32): no atomics."""
    pid = tl.program_id(0).to(tl.int64)
    offs_n = pid * BLOCK_N + tl.arange(0, BLOCK_N).to(tl.int64)
    n_mask = offs_n < N
    g, ge, ent, active = _row_grads(G_ptr, GE_ptr, ENT_ptr, offs_n, n_mask, HAS_ENTROPY)
    if active:  # a fully masked tile's gradient is exactly zero: skip the work
        for v0 in range(0, V, BLOCK_V):
            offs_v = v0 + tl.arange(0, BLOCK_V).to(tl.int64)
            v_mask = offs_v < V
            dz = _dz_recompute(H_ptr, W_ptr, Y_ptr, LSE_ptr, offs_n, offs_v, n_mask, v_mask, g, ge, ent, H, inv_temp,
                               stride_hn, stride_hh, stride_wv, stride_wh, HAS_ENTROPY,
                               BLOCK_N, BLOCK_V, BLOCK_H, DOT_PRECISION, UPCAST_DOT)
            for h0 in range(0, H, BLOCK_H):
                offs_h = h0 + tl.arange(0, BLOCK_H)
                h_mask = offs_h < H
                w = tl.load(W_ptr + offs_v[:, None] * stride_wv + offs_h[None, :] * stride_wh,
                            mask=v_mask[:, None] & h_mask[None, :], other=0.0)  # (BLOCK_V, BLOCK_H)
                dh_ptrs = DH_ptr + offs_n[:, None] * stride_dn + offs_h[None, :] * stride_dh
                dh_mask = n_mask[:, None] & h_mask[None, :]
                acc = tl.load(dh_ptrs, mask=dh_mask, other=0.0)
                acc = _dot(dz, w, acc, DOT_PRECISION, UPCAST_DOT)
                tl.store(dh_ptrs, acc, mask=dh_mask)
            tl.debug_barrier()  # the next V tile re-reads these rows, maybe from other threads


@triton.jit
def _policy_bwd_dw_kernel(
    H_ptr, W_ptr, Y_ptr, LSE_ptr, ENT_ptr, G_ptr, GE_ptr, DW_ptr, DH_ptr,
    N, V, H, inv_temp,
    stride_hn, stride_hh, stride_wv, stride_wh, stride_dwv, stride_dwh, stride_dn, stride_dh,
    HAS_ENTROPY: tl.constexpr, ATOMIC_DH: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_V: tl.constexpr, BLOCK_H: tl.constexpr, DOT_PRECISION: tl.constexpr,
    UPCAST_DOT: tl.constexpr,
):
    """dW[V tile] = sum over ALL token tiles, in order, of dz^T h: deterministic without atomics.
    With ATOMIC_DH the same pass also adds dz W into DH with atomics (not deterministic)."""
    pid = tl.program_id(0).to(tl.int64)
    offs_v = pid * BLOCK_V + tl.arange(0, BLOCK_V).to(tl.int64)
    v_mask = offs_v < V
    for n0 in range(0, N, BLOCK_N):
        offs_n = n0 + tl.arange(0, BLOCK_N).to(tl.int64)
        n_mask = offs_n < N
        g, ge, ent, active = _row_grads(G_ptr, GE_ptr, ENT_ptr, offs_n, n_mask, HAS_ENTROPY)
        if active:
            dz = _dz_recompute(H_ptr, W_ptr, Y_ptr, LSE_ptr, offs_n, offs_v, n_mask, v_mask, g, ge, ent, H, inv_temp,
                               stride_hn, stride_hh, stride_wv, stride_wh, HAS_ENTROPY,
                               BLOCK_N, BLOCK_V, BLOCK_H, DOT_PRECISION, UPCAST_DOT)
            dz_t = tl.trans(dz)  # (BLOCK_V, BLOCK_N)
            for h0 in range(0, H, BLOCK_H):
                offs_h = h0 + tl.arange(0, BLOCK_H)
                h_mask = offs_h < H
                h = tl.load(H_ptr + offs_n[:, None] * stride_hn + offs_h[None, :] * stride_hh,
                            mask=n_mask[:, None] & h_mask[None, :], other=0.0)  # (BLOCK_N, BLOCK_H)
                dw_ptrs = DW_ptr + offs_v[:, None] * stride_dwv + offs_h[None, :] * stride_dwh
                dw_mask = v_mask[:, None] & h_mask[None, :]
                acc = tl.load(dw_ptrs, mask=dw_mask, other=0.0)
                acc = _dot(dz_t, h, acc, DOT_PRECISION, UPCAST_DOT)
                tl.store(dw_ptrs, acc, mask=dw_mask)
                if ATOMIC_DH:
                    w = tl.load(W_ptr + offs_v[:, None] * stride_wv + offs_h[None, :] * stride_wh,
                                mask=v_mask[:, None] & h_mask[None, :], other=0.0)
                    part = _dot(dz, w, tl.zeros((BLOCK_N, BLOCK_H), tl.float32), DOT_PRECISION, UPCAST_DOT)
                    tl.atomic_add(DH_ptr + offs_n[:, None] * stride_dn + offs_h[None, :] * stride_dh, part,
                                  mask=n_mask[:, None] & h_mask[None, :], sem="relaxed")
            tl.debug_barrier()  # the next token tile re-reads these rows of DW, maybe from other threads


@triton.jit
def _seq_mean_kernel(X_ptr, ORDER_PTR, STARTS_ptr, OUT_ptr, BLOCK: tl.constexpr):
    """Per sequence: sum of X over its tokens (ORDER lists the tokens grouped by sequence; STARTS are
    the CSR offsets) divided by the count of its masked-in tokens, X being (logp - old) m. One program
    per sequence, fixed order: a deterministic segmented reduction (index_add_ on CUDA uses atomics)."""
    sid = tl.program_id(0).to(tl.int64)
    start = tl.load(STARTS_ptr + sid)
    end = tl.load(STARTS_ptr + sid + 1)
    offs = tl.arange(0, BLOCK).to(tl.int64)
    acc = tl.zeros((BLOCK,), tl.float32)
    for i in range(start, end, BLOCK):
        m = i + offs < end
        tok = tl.load(ORDER_PTR + i + offs, mask=m, other=0)
        acc += tl.load(X_ptr + tok, mask=m, other=0.0)
    tl.store(OUT_ptr + sid, tl.sum(acc, axis=0))


@triton.jit
def _policy_epilogue_kernel(
    LOGP_ptr, OLD_ptr, REF_ptr, ADV_ptr, SID_ptr, W_ptr, SEQLR_ptr,
    PT_ptr, G_ptr, CLIP_ptr, KL_ptr,
    N, clip_low, clip_high, dual_clip, kl_coef,
    HAS_OLD: tl.constexpr, HAS_REF: tl.constexpr, ADV_PER_SEQ: tl.constexpr, SEQ_RATIO: tl.constexpr,
    HAS_DUAL: tl.constexpr, KL_EST: tl.constexpr, BLOCK: tl.constexpr,
):
    """Per token: pg + kl_coef kl (PT), g = w d(pg + kl_coef kl)/d logp (G), clipped, kl.
    Mirrors `token_objective` of loss.py and the gradients autograd gives it: torch.clamp passes the
    gradient on the closed range, torch.maximum / minimum split it in halves on a tie (so on-policy,
    ratio = 1 and pg1 == pg2, gets the full -A). Per-sequence advantages and the GSPO sequence
    log-ratio are gathered here through the sequence ids."""
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK).to(tl.int64)
    msk = offs < N
    logp = tl.load(LOGP_ptr + offs, mask=msk, other=0.0)
    w = tl.load(W_ptr + offs, mask=msk, other=0.0)
    if ADV_PER_SEQ or SEQ_RATIO:
        sid = tl.load(SID_ptr + offs, mask=msk, other=0)
    if ADV_PER_SEQ:
        adv = tl.load(ADV_ptr + sid, mask=msk, other=0.0)
    else:
        adv = tl.load(ADV_ptr + offs, mask=msk, other=0.0)
    if SEQ_RATIO:  # log_ratio = logp - sg(logp) + clamp(seq mean): value clamp(seq mean), slope 1
        lr = tl.load(SEQLR_ptr + sid, mask=msk, other=0.0)
        lr = tl.minimum(tl.maximum(lr, -20.0), 20.0)
        dlr = tl.full((BLOCK,), 1.0, tl.float32)
    else:
        x = tl.zeros((BLOCK,), tl.float32)
        if HAS_OLD:
            x = logp - tl.load(OLD_ptr + offs, mask=msk, other=0.0)
        lr = tl.minimum(tl.maximum(x, -20.0), 20.0)
        dlr = tl.where((x >= -20.0) & (x <= 20.0), 1.0, 0.0)
    ratio = tl.exp(lr)
    lo = 1.0 - clip_low
    hi = 1.0 + clip_high
    pg1 = -adv * ratio
    pg2 = -adv * tl.minimum(tl.maximum(ratio, lo), hi)
    d1 = -adv                                                  # d pg1 / d ratio
    d2 = tl.where((ratio >= lo) & (ratio <= hi), -adv, 0.0)    # d pg2 / d ratio
    dpg = tl.where(pg1 > pg2, d1, tl.where(pg2 > pg1, d2, 0.5 * (d1 + d2)))
    pg = tl.maximum(pg1, pg2)
    clipped = pg2 > pg1
    if HAS_DUAL:
        pg3 = -adv * dual_clip
        neg = adv < 0
        clipped = clipped | (neg & (pg3 < pg))
        dpg = tl.where(neg, tl.where(pg < pg3, dpg, tl.where(pg3 < pg, 0.0, 0.5 * dpg)), dpg)
        pg = tl.where(neg, tl.minimum(pg, pg3), pg)
    g = dpg * ratio * dlr
    if HAS_REF:
        ref = tl.load(REF_ptr + offs, mask=msk, other=0.0)
        if KL_EST == 1:
            kl = logp - ref
            dkl = tl.full((BLOCK,), 1.0, tl.float32)
        elif KL_EST == 2:
            kl = 0.5 * (logp - ref) * (logp - ref)
            dkl = logp - ref
        else:
            d0 = ref - logp
            d = tl.minimum(tl.maximum(d0, -20.0), 20.0)
            ed = tl.exp(d)
            kl = ed - d - 1.0
            dkl = tl.where((d0 >= -20.0) & (d0 <= 20.0), 1.0 - ed, 0.0)
        pg += kl_coef * kl
        g += kl_coef * dkl
        tl.store(KL_ptr + offs, kl, mask=msk)
    tl.store(PT_ptr + offs, pg, mask=msk)
    tl.store(G_ptr + offs, w * g, mask=msk)
    tl.store(CLIP_ptr + offs, clipped.to(tl.int8), mask=msk)


# ----------------------------------------------------------------------------------------------
# Host launchers
# ----------------------------------------------------------------------------------------------
def _interpret() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def _blocks(device: torch.device):
    """(BLOCK_N, BLOCK_V, BLOCK_H, num_warps). Small tiles under the interpreter keep CPU tests fast;
    on GPU a fixed heuristic (not yet autotuned on hardware)."""
    if _interpret() or device.type != "cuda":
        return 16, 64, 32, 1
    return 64, 128, 64, 8


def _dot_precision(dtype: torch.dtype) -> Optional[str]:
    """input_precision of the fp32 dots: exact ("ieee") unless torch itself allows tf32 matmuls.
    bf16 / fp16 operands: None (Triton's default; it only concerns fp32 operands)."""
    if dtype in (torch.float32, torch.float64):
        return "tf32" if torch.backends.cuda.matmul.allow_tf32 else "ieee"
    return None


def _upcast_dot(dtype: torch.dtype) -> bool:
    return _interpret() and dtype == torch.bfloat16


def _kernel_operands(hidden: torch.Tensor, weight: torch.Tensor):
    # No fp64 path in the kernels: compute in fp32 (documented in the module docstring).
    if hidden.dtype == torch.float64:
        hidden, weight = hidden.float(), weight.float()
    return hidden, weight


def fused_policy_forward(hidden, weight, targets, temperature=1.0, eos_token_id=None, need_entropy=False):
    """Per-token (lse, logp, entropy or None, z_eos or None), fp32, at temperature; no [N, V] tensor."""
    hidden, weight = _kernel_operands(hidden, weight)
    N, H = hidden.shape
    V = weight.shape[0]
    dev = hidden.device
    lse = torch.empty(N, dtype=torch.float32, device=dev)
    logp = torch.empty(N, dtype=torch.float32, device=dev)
    ent = torch.empty(N, dtype=torch.float32, device=dev) if need_entropy else lse
    has_eos = eos_token_id is not None
    z_eos = torch.empty(N, dtype=torch.float32, device=dev) if has_eos else lse
    BN, BV, BH, warps = _blocks(dev)
    grid = (triton.cdiv(N, BN),)
    _policy_fwd_kernel[grid](
        hidden, weight, targets, lse, logp, ent, z_eos,
        N, V, H, int(eos_token_id) if has_eos else 0, 1.0 / float(temperature),
        hidden.stride(0), hidden.stride(1), weight.stride(0), weight.stride(1),
        HAS_ENTROPY=need_entropy, HAS_EOS=has_eos,
        BLOCK_N=BN, BLOCK_V=BV, BLOCK_H=BH, DOT_PRECISION=_dot_precision(hidden.dtype), UPCAST_DOT=_upcast_dot(hidden.dtype), num_warps=warps,
    )
    return lse, logp, (ent if need_entropy else None), (z_eos if has_eos else None)


def fused_policy_backward(hidden, weight, targets, lse, g, ge, entropy, temperature, need_dh, need_dw,
                          deterministic=True):
    """Gradients (dh, dW) of sum_t [g_t logp_t - ge_t H_t] for given per-token g, ge (fp32, [N])."""
    orig_h_dtype, orig_w_dtype = hidden.dtype, weight.dtype
    hidden, weight = _kernel_operands(hidden, weight)
    N, H = hidden.shape
    V = weight.shape[0]
    dev = hidden.device
    has_ent = ge is not None
    g = g.to(torch.float32).contiguous()
    ge = ge.to(torch.float32).contiguous() if has_ent else g
    ent = entropy.contiguous() if has_ent else g
    BN, BV, BH, warps = _blocks(dev)
    prec = _dot_precision(hidden.dtype)
    inv_t = 1.0 / float(temperature)
    dh = torch.zeros(N, H, dtype=torch.float32, device=dev) if need_dh else None
    dw = torch.zeros(V, H, dtype=torch.float32, device=dev) if need_dw else None
    atomic_dh = need_dh and need_dw and not deterministic
    if need_dh and not atomic_dh:
        _policy_bwd_dh_kernel[(triton.cdiv(N, BN),)](
            hidden, weight, targets, lse, ent, g, ge, dh,
            N, V, H, inv_t,
            hidden.stride(0), hidden.stride(1), weight.stride(0), weight.stride(1), dh.stride(0), dh.stride(1),
            HAS_ENTROPY=has_ent, BLOCK_N=BN, BLOCK_V=BV, BLOCK_H=BH, DOT_PRECISION=prec, UPCAST_DOT=_upcast_dot(hidden.dtype), num_warps=warps,
        )
    if need_dw:
        dh_arg = dh if atomic_dh else dw
        _policy_bwd_dw_kernel[(triton.cdiv(V, BV),)](
            hidden, weight, targets, lse, ent, g, ge, dw, dh_arg,
            N, V, H, inv_t,
            hidden.stride(0), hidden.stride(1), weight.stride(0), weight.stride(1),
            dw.stride(0), dw.stride(1), dh_arg.stride(0), dh_arg.stride(1),
            HAS_ENTROPY=has_ent, ATOMIC_DH=atomic_dh,
            BLOCK_N=BN, BLOCK_V=BV, BLOCK_H=BH, DOT_PRECISION=prec, UPCAST_DOT=_upcast_dot(hidden.dtype), num_warps=warps,
        )
    if dh is not None:
        dh = dh.to(orig_h_dtype)
    if dw is not None:
        dw = dw.to(orig_w_dtype)
    return dh, dw


def _sequence_log_ratio(logp, inputs: FlatInputs) -> torch.Tensor:
    """[S] mean over each sequence's response tokens of (logp - old): the GSPO pre-pass, deterministic."""
    S = max(inputs.num_seqs, int(inputs.seq_ids.max()) + 1)
    if inputs.old_logprobs is None:
        return torch.zeros(S, dtype=torch.float32, device=logp.device)
    x = ((logp - inputs.old_logprobs.float()) * inputs.mask.float()).contiguous()
    sid = inputs.seq_ids
    order = torch.argsort(sid, stable=True)  # tokens grouped by sequence, in token order
    counts = torch.bincount(sid, minlength=S)
    starts = torch.zeros(S + 1, dtype=torch.int64, device=logp.device)
    starts[1:] = torch.cumsum(counts, 0)
    sums = torch.empty(S, dtype=torch.float32, device=logp.device)
    _seq_mean_kernel[(S,)](x, order, starts, sums, BLOCK=64 if _interpret() else 256)
    lens = torch.zeros(S, dtype=torch.float32, device=logp.device).index_add_(0, sid, inputs.mask.float())  # exact
    return sums / lens.clamp(min=1.0)


# The KL estimators of the epilogue kernel (KL_EST constexpr codes), keyed by the function of loss.py
# each one mirrors: a name a user registered, or a built-in name re-registered with another function,
# has no kernel branch and is refused rather than run as another estimator. (The aggregation needs
# no such table: the kernels consume the weights w_t that loss.py computed, whatever the entry.)
_KL_KERNEL_CODES = {kl_k1: 1, kl_k2: 2, kl_k3: 3}
_KL_KERNEL_NAMES = ("k1", "k2", "k3")


def _kl_code(name: str) -> int:
    """The KL_EST code of estimator `name`; ValueError when the kernel does not implement it."""
    code = _KL_KERNEL_CODES.get(KL_ESTIMATORS.get(name, "PolicyLossConfig.kl_estimator"))
    if code is None:
        why = " (re-registered with another function)" if name in _KL_KERNEL_NAMES else ""
        raise ValueError(
            f"the triton backend implements KL estimators {', '.join(_KL_KERNEL_NAMES)}; {name!r}{why} is only "
            f"available in the reference and chunked backends")
    return code


def triton_token_objective(logp: torch.Tensor, inputs: FlatInputs, config: PolicyLossConfig):
    """(pg + kl_coef kl [N], g = w d(pg + kl_coef kl)/d logp [N], clipped [N] bool, kl [N] or None), fp32.
    The Triton twin of `token_objective` + its autograd gradient (tests compare the two)."""
    N = logp.numel()
    dev = logp.device
    f32 = lambda t: None if t is None else t.to(torch.float32).contiguous()  # noqa: E731
    logp = f32(logp)
    old, ref, adv, w = f32(inputs.old_logprobs), f32(inputs.ref_logprobs), f32(inputs.advantages), f32(inputs.weights)
    seq = config.ratio_level == "sequence"
    seq_lr = _sequence_log_ratio(logp, inputs) if seq else None
    sid = inputs.seq_ids
    pt = torch.empty(N, dtype=torch.float32, device=dev)
    g = torch.empty_like(pt)
    clip = torch.empty(N, dtype=torch.int8, device=dev)
    kl = torch.empty_like(pt) if ref is not None else None
    BLOCK = 128 if _interpret() else 1024
    _policy_epilogue_kernel[(triton.cdiv(N, BLOCK),)](
        logp, old if old is not None else logp, ref if ref is not None else logp, adv,
        sid if sid is not None else inputs.targets, w, seq_lr if seq_lr is not None else logp,
        pt, g, clip, kl if kl is not None else pt,
        N, float(config.clip_low), float(config.clip_high),
        float(config.dual_clip) if config.dual_clip is not None else 0.0, float(config.kl_coef),
        HAS_OLD=old is not None, HAS_REF=ref is not None, ADV_PER_SEQ=inputs.adv_per_seq, SEQ_RATIO=seq,
        HAS_DUAL=config.dual_clip is not None, KL_EST=_kl_code(config.kl_estimator),
        BLOCK=BLOCK,
    )
    return pt, g, clip.bool(), kl


def _epilogue_torch(inputs: FlatInputs, config: PolicyLossConfig, logp: torch.Tensor, entropy: Optional[torch.Tensor]):
    """Per-token objective on [N] vectors: (loss, g = d loss_pg / d logp, ge = w c_ent or None, clipped, kl)."""
    ptype = inputs.mask.dtype  # fp32 (fp64 for fp64 inputs), as the reference
    w = inputs.weights.to(ptype)
    with torch.enable_grad():
        lv = logp.to(ptype).detach().requires_grad_(True)
        per_token, clipped, kl = token_objective(lv, inputs, config)
        pg_loss = (w * per_token).sum()
        (g,) = torch.autograd.grad(pg_loss, lv)
    loss = pg_loss.detach()
    ge = None
    if config.entropy_coef != 0.0:
        loss = loss - config.entropy_coef * (w * entropy.to(ptype)).sum()
        ge = w * config.entropy_coef
    kl = kl.detach() if kl is not None else None
    check_outputs(inputs, config, logp, per_token.detach(), kl, entropy, loss)
    return loss, g, ge, clipped.detach(), kl


def _epilogue(inputs: FlatInputs, config: PolicyLossConfig, logp: torch.Tensor, entropy: Optional[torch.Tensor]):
    """(loss, g = d loss_pg / d logp, ge = w c_ent or None, clipped, kl) from the Triton epilogue kernel.
    fp64 inputs (the kernels compute them in fp32 anyway) go through the autograd twin."""
    if inputs.mask.dtype == torch.float64:
        return _epilogue_torch(inputs, config, logp, entropy)
    w = inputs.weights.to(torch.float32)
    per_token, g, clipped, kl = triton_token_objective(logp, inputs, config)
    loss = (w * per_token).sum()
    ge = None
    if config.entropy_coef != 0.0:
        loss = loss - config.entropy_coef * (w * entropy).sum()
        ge = w * config.entropy_coef
    # Before the backward kernels: logits beyond float32 (the forward's running max / lse came out
    # non-finite where logit_bound allows it), a KL or per-token term, or the loss that overflowed.
    check_outputs(inputs, config, logp, per_token, kl, entropy, loss)
    return loss, g, ge, clipped, kl


def _fused(hidden, weight, inputs: FlatInputs, config: PolicyLossConfig, need_dh: bool, need_dw: bool):
    lse, logp, entropy, z_eos = fused_policy_forward(
        hidden, weight, inputs.targets, config.temperature, config.eos_token_id, config.needs_entropy)
    loss, g, ge, clipped, kl = _epilogue(inputs, config, logp, entropy)
    dh = dw = None
    if need_dh or need_dw:
        dh, dw = fused_policy_backward(hidden, weight, inputs.targets, lse, g, ge, entropy,
                                       config.temperature, need_dh, need_dw, config.deterministic)
    m = inputs.mask
    aux = dict(
        logprobs=torch.where(inputs.target_valid, logp, torch.zeros_like(logp)),
        clip_frac=masked_mean(clipped, m).float(),
        kl=masked_mean(kl, m).float() if kl is not None else None,
        entropy=masked_mean(entropy, m).float() if entropy is not None else None,
    )
    if z_eos is not None:
        # d loss / d raw z_eos = (g (1[y = eos] - p_eos) + ge p_eos (log p_eos + H)) / T, from [N] vectors.
        log_pe = (z_eos - lse).to(g.dtype)
        pe = log_pe.exp()
        d = g * ((inputs.targets == config.eos_token_id).to(g.dtype) - pe)
        if ge is not None:
            d = d + ge * pe * (log_pe + entropy.to(g.dtype))
        aux["p_eos"] = pe.float()
        aux["eos_grad"] = (d / config.temperature).float()
    return loss, dh, dw, aux


# ----------------------------------------------------------------------------------------------
# autograd.Function
# ----------------------------------------------------------------------------------------------
class TritonPolicyLossFunction(torch.autograd.Function):
    """loss = TritonPolicyLossFunction.apply(hidden [N, H], weight [V, H], inputs, config, aux).

    The forward computes the loss and, eagerly, the gradients of the inputs that need them; the
    backward scales them by grad_output. `aux` (a dict, or None) receives the detached per-token
    outputs (logprobs, clip_frac, kl, entropy, p_eos, eos_grad). `inputs.hidden` / `inputs.weight`
    are ignored in favour of the explicit tensors.
    """

    @staticmethod
    def forward(ctx, hidden, weight, inputs, config, aux=None):
        loss, dh, dw, extra = _fused(hidden, weight, inputs, config, ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        ctx.save_for_backward(dh, dw)
        if aux is not None:
            aux.update(extra)
        return loss

    @staticmethod
    def backward(ctx, grad_output):
        dh, dw = ctx.saved_tensors
        scale_one = bool(torch.all(grad_output == 1.0))
        if dh is not None and not scale_one:
            dh = (dh.float() * grad_output.float()).to(dh.dtype)
        if dw is not None and not scale_one:
            dw = (dw.float() * grad_output.float()).to(dw.dtype)
        return dh, dw, None, None, None


# ----------------------------------------------------------------------------------------------
# Functional entry point (the registry's "triton" backend)
# ----------------------------------------------------------------------------------------------
def triton_policy_loss(inputs: FlatInputs, config: PolicyLossConfig) -> PolicyLossOutput:
    """The `triton` backend of `rlev_fast.policy_loss` (see loss.py for the function it computes)."""
    _kl_code(config.kl_estimator)  # an estimator without a kernel branch fails here, before any launch
    if inputs.hidden.dtype not in (torch.float32, torch.bfloat16, torch.float16, torch.float64):
        raise ValueError(f"triton backend: unsupported dtype {inputs.hidden.dtype}")
    if inputs.hidden.device.type != "cuda" and not _interpret():
        raise RuntimeError("triton backend needs a CUDA tensor, or TRITON_INTERPRET=1 for the CPU interpreter")
    aux: dict = {}
    loss = TritonPolicyLossFunction.apply(inputs.hidden, inputs.weight, inputs, config, aux)
    return PolicyLossOutput(
        loss=loss,
        logprobs=aux["logprobs"].float(),
        clip_frac=aux["clip_frac"],
        kl=aux["kl"],
        entropy=aux["entropy"],
        p_eos=aux.get("p_eos"),
        eos_grad=aux.get("eos_grad"),
    )
