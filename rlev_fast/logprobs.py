"""`fused_logprobs`: per-token log-probs of the selected tokens from final hidden states and the lm_head
weight, with entropy and p(EOS) on request, and a backward; the [N, V] logits are never held.

    z_t        = h_t W^T / temperature
    logprob_t  = log_softmax(z_t)[y_t]                 differentiable in hidden and weight
    entropy_t  = -sum_j p_tj log p_tj                  differentiable (return_entropy=True)
    p_eos_t    = softmax(z_t)[eos_token_id]            detached (eos_token_id set)

This is the primitive DPO / KTO / GRPO trainers need (TRL's `_ChunkedLogProbFunction`, verl's
`linear_cross_entropy` / `FusedLinearForPPO`): any loss built on per-token log-probs and entropies gets
the memory of a fused kernel by calling it instead of `lm_head` + `log_softmax`. Positions whose target
is `ignore_index` (-100, as in cross-entropy and HF labels) get log-prob 0 and entropy 0, no gradient,
and are not computed at all (the backends see only the other rows).

Backends (LOGPROB_BACKENDS, a registry like loss.py's LOSS_BACKENDS; "auto": triton on CUDA, chunked
elsewhere; RLEV_FAST_LOGPROB_BACKEND overrides "auto"):
    reference  materializes the fp32 (fp64 for fp64 input) logits; autograd does the rest. Ground truth.
    chunked    PyTorch, chunked over tokens: the forward keeps lse and entropy per token, the backward
               recomputes each chunk's logits. Peak memory above inputs ~ 2 chunk_size V floats.
    triton     rlev_fast.kernels.fused_logprobs: the kernels of the fused policy loss (online logsumexp
               forward; deterministic backward that recomputes logit tiles).
Outputs are float32 (float64 for float64 input on reference / chunked; the kernels compute fp64 in fp32).

Input checks are loss.py's (shapes, dtypes, devices, finite weight and hidden rows that count, the
logit-overflow bound, targets in the vocabulary, temperature >= the smallest normal float32).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import torch

from .config_checks import check_int, check_temperature
from .loss import _FLOATS, LOGIT_LIMIT, _check_hidden_and_weight
from .registry import Registry, pick_backend

IGNORE_INDEX = -100  # the label of a position without a target (HF labels, torch cross_entropy)

# name -> fn(hidden [n, H], weight [V, H], targets [n] int64 in range, config) -> (logp [n], entropy [n] or
# None, p_eos [n] or None); logp / entropy differentiable in hidden and weight. Lazy "module:function"
# entries are imported on first use, so importing rlev_fast never imports triton.
LOGPROB_BACKENDS = Registry("log-prob backend")
LOGPROB_BACKENDS.register("reference", "rlev_fast.logprobs:reference_logprobs")
LOGPROB_BACKENDS.register("chunked", "rlev_fast.logprobs:chunked_logprobs")
LOGPROB_BACKENDS.register("triton", "rlev_fast.kernels.fused_logprobs:triton_logprobs")


@dataclass(frozen=True)
class LogProbConfig:
    """What the backends receive besides the tensors (validated here, once)."""

    temperature: float = 1.0
    return_entropy: bool = False
    eos_token_id: Optional[int] = None
    chunk_size: int = 1024
    deterministic: bool = True  # triton: weight gradient reduced without float atomics

    def __post_init__(self):
        check_temperature(self)
        check_int(self, "chunk_size")
        e = self.eos_token_id
        if e is not None and (isinstance(e, bool) or not isinstance(e, int) or e < 0):
            raise ValueError(f"eos_token_id must be a non-negative int or None, got {e!r}")


@dataclass
class LogProbOutput:
    """logprobs [lead] (differentiable); entropy [lead] (differentiable) when return_entropy; p_eos
    [lead] (detached) when eos_token_id is set. [lead] is hidden.shape[:-1]; ignored positions hold 0."""

    logprobs: torch.Tensor
    entropy: Optional[torch.Tensor] = None
    p_eos: Optional[torch.Tensor] = None


def _compute_dtype(t: torch.Tensor) -> torch.dtype:
    return torch.float64 if t.dtype == torch.float64 else torch.float32


# ----------------------------------------------------------------------------------------------
# reference backend: logits materialized
# ----------------------------------------------------------------------------------------------
def reference_logprobs(hidden, weight, targets, config: LogProbConfig):
    ct = _compute_dtype(hidden)
    z = (hidden.to(ct) @ weight.to(ct).t()) / config.temperature  # (n, V)
    logsm = torch.log_softmax(z, dim=-1)
    logp = logsm.gather(1, targets[:, None]).squeeze(1)
    ent = -(logsm.exp() * logsm).sum(-1) if config.return_entropy else None
    p_eos = logsm[:, config.eos_token_id].detach().exp() if config.eos_token_id is not None else None
    return logp, ent, p_eos


# ----------------------------------------------------------------------------------------------
# chunked backend: O(chunk x V) memory
# ----------------------------------------------------------------------------------------------
def _chunk_logits(h, Wc, s, e, ct, T, out):
    """Raw logits of tokens [s, e) divided by T, into `out` (a [e - s, V] view of the chunk buffer)."""
    hc = h[s:e].detach()
    x = torch.mm(hc if hc.dtype == ct else hc.to(ct), Wc.t(), out=out)
    if T != 1.0:
        x.div_(T)  # the reference divides too: same rounding
    return x


class ChunkedLogProbFunction(torch.autograd.Function):
    """(logp [n], entropy [n] or empty, p_eos [n] or empty) = apply(hidden, weight, targets, config)."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, config: LogProbConfig):
        ctx.set_materialize_grads(False)
        N, V = hidden.shape[0], weight.shape[0]
        ct = _compute_dtype(hidden)
        Wc = weight.detach() if weight.dtype == ct else weight.detach().to(ct)  # once: O(V H)
        T, C = float(config.temperature), min(config.chunk_size, N)
        want_ent, eos = config.return_entropy, config.eos_token_id
        buf = torch.empty(C, V, dtype=ct, device=hidden.device)
        buf2 = torch.empty(C, V, dtype=ct, device=hidden.device) if want_ent else None
        logp = torch.empty(N, dtype=ct, device=hidden.device)
        lse = torch.empty_like(logp)
        ent = torch.empty_like(logp) if want_ent else logp.new_empty(0)
        p_eos = torch.empty_like(logp) if eos is not None else logp.new_empty(0)
        for s in range(0, N, C):
            e = min(s + C, N)
            x = _chunk_logits(hidden, Wc, s, e, ct, T, buf[: e - s])
            m = x.amax(dim=1)
            x.sub_(m[:, None])  # shifted: exp cannot overflow
            zy = x.gather(1, targets[s:e, None]).squeeze(1)
            p = x.exp_() if buf2 is None else torch.exp(x, out=buf2[: e - s])
            sums = p.sum(dim=1)
            log_s = torch.log(sums)
            logp[s:e] = zy - log_s
            lse[s:e] = m + log_s
            if want_ent:  # H = log s - sum(p (z - m)) / s; a batched dot avoids an [n, V] temporary
                ent[s:e] = log_s - torch.bmm(p[:, None, :], x[:, :, None]).view(-1) / sums
            if eos is not None:
                p_eos[s:e] = p[:, eos] / sums
        ctx.save_for_backward(hidden, weight, targets, lse, ent)
        ctx.config = config
        ctx.mark_non_differentiable(p_eos)
        if not want_ent:
            ctx.mark_non_differentiable(ent)
        return logp, ent, p_eos

    @staticmethod
    def backward(ctx, g_logp, g_ent, _g_eos):
        hidden, weight, targets, lse, ent = ctx.saved_tensors
        cfg = ctx.config
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if not cfg.return_entropy:
            g_ent = None
        if (g_logp is None and g_ent is None) or not (need_h or need_w):
            return None, None, None, None
        N, V = hidden.shape[0], weight.shape[0]
        ct = _compute_dtype(hidden)
        Wc = weight.detach() if weight.dtype == ct else weight.detach().to(ct)
        T, C = float(cfg.temperature), min(cfg.chunk_size, N)
        buf = torch.empty(C, V, dtype=ct, device=hidden.device)
        buf2 = torch.empty(C, V, dtype=ct, device=hidden.device) if g_ent is not None else None
        grad_h = torch.empty(N, hidden.shape[1], dtype=ct, device=hidden.device) if need_h else None
        grad_w = torch.zeros(V, weight.shape[1], dtype=ct, device=hidden.device) if need_w else None
        gl = g_logp.to(ct) / T if g_logp is not None else None
        for s in range(0, N, C):
            e = min(s + C, N)
            x = _chunk_logits(hidden, Wc, s, e, ct, T, buf[: e - s])
            x.sub_(lse[s:e, None])  # log p
            if g_ent is None:  # dz = gl (onehot - p): all in x
                x.exp_().mul_(-gl[s:e, None])
            else:  # dz = gl (onehot - p) - gH p (log p + H)
                p = torch.exp(x, out=buf2[: e - s])
                gh = g_ent[s:e].to(ct) / T
                x.add_(ent[s:e, None]).mul_(-gh[:, None])
                if gl is not None:
                    x.sub_(gl[s:e, None])
                x.mul_(p)
            if gl is not None:
                x.scatter_add_(1, targets[s:e, None], gl[s:e, None])
            if need_h:
                torch.mm(x, Wc, out=grad_h[s:e])
            if need_w:
                hc = hidden[s:e].detach()
                grad_w.addmm_(x.t(), hc if hc.dtype == ct else hc.to(ct))
        return (grad_h.to(hidden.dtype) if need_h else None, grad_w.to(weight.dtype) if need_w else None, None, None)


def chunked_logprobs(hidden, weight, targets, config: LogProbConfig):
    logp, ent, p_eos = ChunkedLogProbFunction.apply(hidden, weight, targets, config)
    return logp, (ent if config.return_entropy else None), (p_eos if config.eos_token_id is not None else None)


# ----------------------------------------------------------------------------------------------
# Input checks and the entry point
# ----------------------------------------------------------------------------------------------
def resolve_logprob_backend(backend: str, device: torch.device) -> str:
    """The concrete backend for `backend` on `device` ("auto": RLEV_FAST_LOGPROB_BACKEND, else triton on
    CUDA, chunked elsewhere)."""
    return pick_backend(LOGPROB_BACKENDS, backend, device, "RLEV_FAST_LOGPROB_BACKEND")


def _check_inputs(hidden, weight, targets, ignore_index) -> Tuple[Tuple[int, ...], torch.Tensor, torch.Tensor]:
    """(lead shape, targets flattened to int64 [N], valid [N] bool) after the shape / dtype / device checks."""
    for name, t in (("hidden", hidden), ("weight", weight), ("targets", targets)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if hidden.dtype not in _FLOATS:
        raise ValueError(f"hidden must be a float tensor, got dtype {hidden.dtype}")
    if hidden.dim() < 2:
        raise ValueError(f"hidden must be [..., H] (e.g. [N, H] or [B, T, H]), got shape {tuple(hidden.shape)}")
    if weight.dim() != 2 or weight.shape[1] != hidden.shape[-1]:
        raise ValueError(f"weight must be [V, H] with H = {hidden.shape[-1]} (the lm_head weight), got shape "
                         f"{tuple(weight.shape)}")
    if weight.dtype != hidden.dtype:
        raise ValueError(f"weight dtype {weight.dtype} differs from hidden dtype {hidden.dtype}")
    lead = tuple(hidden.shape[:-1])
    for name, t in (("weight", weight), ("targets", targets)):
        if t.device != hidden.device:
            raise ValueError(f"{name} is on {t.device} but hidden is on {hidden.device}")
    if targets.dtype.is_floating_point or targets.dtype.is_complex or targets.dtype == torch.bool:
        raise ValueError(f"targets must be an integer tensor, got dtype {targets.dtype}")
    if tuple(targets.shape) != lead:
        raise ValueError(f"targets must have shape {lead} (hidden's leading shape), got {tuple(targets.shape)}")
    if weight.shape[0] == 0:
        raise ValueError("weight has an empty vocabulary")
    V = weight.shape[0]
    y = targets.reshape(-1).to(torch.int64)
    valid = y != ignore_index
    bad = valid & ((y < 0) | (y >= V))
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0, 0])
        raise ValueError(f"targets[{i}] = {int(y[i])} (flat index) is outside the vocabulary [0, {V}) and is not "
                         f"ignore_index={ignore_index}")
    return lead, y, valid


def _check_outputs(logp, ent, bound, hidden, weight, temperature) -> None:
    """ValueError when a computed log-prob or entropy is not finite (logits beyond float32)."""
    bad = ~torch.isfinite(logp.detach())
    if ent is not None:
        bad |= ~torch.isfinite(ent.detach())
    if not bool(bad.any()):
        return
    i = int(torch.nonzero(bad)[0, 0])
    if bound is not None and float(bound[i]) > LOGIT_LIMIT:
        raise ValueError(
            f"the logits overflow float32 at token {i} (among the computed rows): |h W^T| / temperature can reach "
            f"{float(bound[i]):.3g} there (max |hidden row| = {hidden[i].abs().max().item():.3g}, max |weight| = "
            f"{weight.abs().max().item():.3g}, temperature = {temperature:g}); scale hidden / weight down or raise "
            f"the temperature")
    raise ValueError(f"the log-prob (or entropy) of token {i} (among the computed rows) is not finite: "
                     f"{logp[i].item()}")


def _scatter(x: Optional[torch.Tensor], valid: torch.Tensor, all_valid: bool, lead) -> Optional[torch.Tensor]:
    """Computed rows back into [lead], zeros at ignored positions (masked_scatter keeps the graph)."""
    if x is None:
        return None
    if not all_valid:
        x = x.new_zeros(valid.shape).masked_scatter(valid, x)
    return x.reshape(lead)


def _graph_zeros(n: int, dtype, tensors) -> torch.Tensor:
    """Zeros connected to the autograd graph of `tensors` (an all-ignored micro-batch must still
    backward to zero gradients instead of failing); uses one finite element of each."""
    z = torch.zeros(n, dtype=dtype, device=tensors[0].device)
    for t in tensors:
        if t.requires_grad and t.numel() > 0:
            z = z + 0.0 * t.reshape(-1)[0].to(dtype)
    return z


def fused_logprobs(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    temperature: float = 1.0,
    *,
    return_entropy: bool = False,
    eos_token_id: Optional[int] = None,
    ignore_index: int = IGNORE_INDEX,
    backend: str = "auto",
    chunk_size: int = 1024,
    deterministic: bool = True,
) -> LogProbOutput:
    """Per-token log-probs of `targets` under softmax(hidden weight^T / temperature); see the module
    docstring. hidden [..., H] (e.g. [N, H], [B, T, H]), weight [V, H] of the same dtype, targets [...]
    integer (`ignore_index` marks positions without a target)."""
    config = LogProbConfig(temperature=temperature, return_entropy=bool(return_entropy), eos_token_id=eos_token_id,
                           chunk_size=chunk_size, deterministic=bool(deterministic))
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise ValueError(f"ignore_index must be an int, got {ignore_index!r}")
    lead, y, valid = _check_inputs(hidden, weight, targets, ignore_index)
    V, H = weight.shape
    if eos_token_id is not None and eos_token_id >= V:
        raise ValueError(f"eos_token_id {eos_token_id} is outside the vocabulary [0, {V})")
    name = resolve_logprob_backend(backend, hidden.device)
    fn = LOGPROB_BACKENDS.load(name)
    if fn is None:
        raise RuntimeError(f"log-prob backend {name!r} is not available here (import failed)")
    N = math.prod(lead)
    h, bound = _check_hidden_and_weight(hidden.reshape(N, H), weight, valid, lead, config)
    all_valid = bool(valid.all())
    out_dtype = torch.float64 if hidden.dtype == torch.float64 and name != "triton" else torch.float32
    if not bool(valid.any()):  # nothing to compute: zeros (still part of the graph)
        z = _graph_zeros(N, out_dtype, (h, weight))
        return LogProbOutput(z.reshape(lead), z.reshape(lead) if return_entropy else None,
                             torch.zeros(lead, dtype=out_dtype, device=hidden.device) if eos_token_id is not None
                             else None)
    if not all_valid:  # the backends see only the rows with a target
        h, y = h[valid], y[valid]
        bound = None if bound is None else bound[valid]
    logp, ent, p_eos = fn(h, weight, y, config)
    _check_outputs(logp, ent, bound, h, weight, float(temperature))
    return LogProbOutput(_scatter(logp, valid, all_valid, lead), _scatter(ent, valid, all_valid, lead),
                         _scatter(None if p_eos is None else p_eos.detach(), valid, all_valid, lead))

