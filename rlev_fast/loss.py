"""The public policy-loss API: `PolicyLossConfig`, `policy_loss`, `PolicyLossOutput`.

`policy_loss` goes from final hidden states h [N, H] (or [B, T, H]) and the lm_head weight W [V, H]
to the value-weighted clipped policy loss, without the caller ever holding the [N, V] logits.
Every backend computes the same function, defined here once:

    z_t        = h_t W^T / temperature                      logits at temperature
    logp_t     = log_softmax(z_t)[y_t]
    log_ratio  = clamp(logp_t - old_t, -20, 20)             token level (PPO / GRPO)
               = logp_t - sg(logp_t) + sg(mean_{t in seq} (logp - old))       sequence level (GSPO)
    ratio      = exp(log_ratio)
    pg_t       = max(-A ratio, -A clamp(ratio, 1 - clip_low, 1 + clip_high))
               -> min(pg_t, -A dual_clip) where A < 0, when dual_clip is set
    kl_t       = k1: logp - ref | k2: (logp - ref)^2 / 2 | k3: exp(ref - logp) - (ref - logp) - 1
                 (ref - logp clamped to [-20, 20] in k3)
    H_t        = entropy of softmax(z_t)
    loss       = sum_t w_t (pg_t + kl_coef kl_t - entropy_coef H_t)

with aggregation weights w_t (zero off the response mask m):
    token-mean                 m_t / (num_tokens or sum m)
    seq-mean-token-sum         m_t / S
    seq-mean-token-mean        m_t / (S |y_seq(t)|)
    seq-mean-token-sum-norm    m_t / (S norm_constant)                (Dr. GRPO)
S is the number of sequences: B for [B, T, H] input, len(advantages) for per-sequence advantages,
else max(seq_ids) + 1.

The KL estimators, the aggregations and the backends are the built-in entries of three registries
(rlev_fast.registry): KL_ESTIMATORS (name -> kl(logp, ref)), LOSS_AGGS (name -> w_t) and
LOSS_BACKENDS (name -> backend function). A name registered there is accepted by PolicyLossConfig
and `policy_loss`; an unknown name is a ValueError that lists the known ones. The PyTorch backends
run any registered KL estimator (they differentiate it by autograd); every backend runs any
registered aggregation (they all consume the weights w_t); the triton backend implements k1, k2 and
k3 only and refuses the others.

Backends: "reference" (materializes fp32 logits; the ground truth), "chunked" (PyTorch, chunked over
tokens) and "triton" (fused kernels) as they are installed; "auto" picks triton on CUDA, chunked
elsewhere, reference when neither is available. The env var RLEV_FAST_LOSS_BACKEND overrides "auto".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional, Tuple, Union

import torch

from .config_checks import check_int, check_number, check_temperature
from .registry import Registry, pick_backend

# The entries are registered below, next to the code they belong to (aggregation weights, the KL
# estimators, the backends). Both registries read as the tuple of their names: argparse choices.
LOSS_AGGS = Registry("loss aggregation")  # name -> fn(m, sid, num_seqs, num_tokens, config, lead) -> w [N]
KL_ESTIMATORS = Registry("KL estimator")  # name -> fn(logp [N], ref [N]) -> kl [N], differentiable in logp
RATIO_LEVELS = ("token", "sequence")  # not a registry: each level is a different code path in every backend
LOG_RATIO_CLAMP = 20.0  # exp(20) ~ 5e8: keeps a stale old_logprob from overflowing the ratio (verl does the same)
# Every backend computes the logits in float32 (the Triton kernels even for float64 inputs). A token
# whose logits are bounded by LOGIT_LIMIT in absolute value cannot overflow anywhere on the way to its
# log-softmax: the partial sums of h.w obey the same bound, z - max z stays within 2 LOGIT_LIMIT and
# lse within LOGIT_LIMIT + log V. The bound used is H max|h_t| max|W| / temperature (docs/robustness.md).
LOGIT_LIMIT = float(torch.finfo(torch.float32).max) / 4  # 8.5e37
# A masked-out row whose bound passes this is zeroed before any backend sees it: its log-probs could
# reach -2e15, where the per-token terms that are multiplied by its zero weight (k2 = logp^2 / 2 times
# kl_coef) may overflow and turn 0 * inf into a NaN loss. Ordinary inputs are far below it (H = 8192,
# max|h| = 1e4, max|W| = 1, T = 0.5: 1.6e8), so the fast path of prepare_inputs keeps them untouched.
MASKED_LOGIT_LIMIT = 2.0 ** 50  # 1.1e15


@dataclass
class PolicyLossConfig:
    """Options of the clipped policy loss (see the module docstring for the exact function).

    clip_low / clip_high: decoupled PPO clip range [1 - clip_low, 1 + clip_high]; 0.28 for
        clip_high gives DAPO's clip-higher.
    dual_clip: None, or c > 1 (e.g. 3.0): bounds the loss of negative-advantage tokens by -A c.
    kl_coef, kl_estimator: KL penalty against ref_logprobs with estimator k1 | k2 | k3.
    entropy_coef: weight of the entropy bonus (subtracted from the loss).
    compute_entropy: report the mean entropy even when entropy_coef is 0 (costs one more pass
        over the vocabulary in the fused backends).
    loss_agg / norm_constant: aggregation over tokens; norm_constant is the constant of
        seq-mean-token-sum-norm (defaults to T for [B, T, H] input).
    ratio_level: "token" (PPO/GRPO) or "sequence" (GSPO: length-normalized sequence ratio).
    temperature: the logits are divided by it (the sampling temperature of the rollout).
    eos_token_id: when set, the output carries p_eos and eos_grad at every position.
    deterministic: fused backends reduce the weight gradient over tokens without float atomics,
        so two runs give bitwise-identical gradients.
    chunk_size: tokens per chunk in the chunked backend (peak memory ~ chunk_size * V * 4 bytes * 3).
    """

    # metadata: the help text and choices of the trainer's flags (rlev_fast/trainer/cli.py)
    clip_low: float = field(default=0.2, metadata={"help": "ratio floor 1 - clip_low"})
    clip_high: float = field(default=0.2, metadata={"help": "ratio ceiling 1 + clip_high (0.28: DAPO clip-higher)"})
    dual_clip: Optional[float] = field(default=None, metadata={"help": "dual-clip constant c > 1 (none: off)"})
    kl_coef: float = field(default=0.0, metadata={
        "help": "KL penalty against a frozen reference copy (0: no reference model)"})
    kl_estimator: str = field(default="k3", metadata={"help": "KL estimator", "choices": KL_ESTIMATORS})
    entropy_coef: float = field(default=0.0, metadata={"help": "entropy bonus weight"})
    compute_entropy: bool = field(default=False, metadata={
        "help": "report the mean entropy (one more pass over the vocabulary in the fused backends)"})
    loss_agg: str = field(default="token-mean", metadata={"help": "aggregation over tokens", "choices": LOSS_AGGS})
    norm_constant: Optional[float] = None
    ratio_level: str = "token"
    temperature: float = 1.0
    eos_token_id: Optional[int] = None
    deterministic: bool = True
    chunk_size: int = 1024

    def __post_init__(self):
        check_number(self, "clip_low", 0.0, 1.0, strict_hi=True)  # the ratio floor 1 - clip_low stays > 0
        check_number(self, "clip_high", 0.0)
        if self.dual_clip is not None:
            check_number(self, "dual_clip", 1.0, strict_lo=True)  # e.g. 3.0; None turns it off
        check_number(self, "kl_coef", 0.0)
        check_number(self, "entropy_coef")
        check_temperature(self)
        KL_ESTIMATORS.check(self.kl_estimator, "PolicyLossConfig.kl_estimator")
        LOSS_AGGS.check(self.loss_agg, "PolicyLossConfig.loss_agg")
        if self.ratio_level not in RATIO_LEVELS:
            raise ValueError(f"PolicyLossConfig.ratio_level must be one of {RATIO_LEVELS}, got {self.ratio_level!r}")
        if self.norm_constant is not None:
            check_number(self, "norm_constant", 0.0, strict_lo=True)
        if self.eos_token_id is not None and (
            isinstance(self.eos_token_id, bool) or not isinstance(self.eos_token_id, int) or self.eos_token_id < 0
        ):
            raise ValueError(f"PolicyLossConfig.eos_token_id must be a non-negative int or None, got {self.eos_token_id!r}")
        check_int(self, "chunk_size")

    @property
    def needs_entropy(self) -> bool:
        return self.compute_entropy or self.entropy_coef != 0.0


@dataclass
class PolicyLossOutput:
    """What `policy_loss` returns. Per-token tensors have the leading shape of `hidden` ([N] or [B, T]).

    loss: scalar, differentiable w.r.t. hidden and weight. logprobs: log p(target) at temperature,
    detached (0 where the target is off the mask and out of range). clip_frac: fraction of response
    tokens whose gradient the clipping zeroes. kl / entropy: means over response tokens (None when
    not computed). p_eos / eos_grad: p(EOS) and d loss / d (raw) EOS logit at every position (None
    unless eos_token_id is set).
    """

    loss: torch.Tensor
    logprobs: torch.Tensor
    clip_frac: torch.Tensor
    kl: Optional[torch.Tensor] = None
    entropy: Optional[torch.Tensor] = None
    p_eos: Optional[torch.Tensor] = None
    eos_grad: Optional[torch.Tensor] = None


@dataclass
class FlatInputs:
    """Validated inputs, flattened to tokens. What every backend receives."""

    hidden: torch.Tensor  # (N, H), float
    weight: torch.Tensor  # (V, H), same dtype as hidden
    targets: torch.Tensor  # (N,) int64, in [0, V) everywhere (off-mask out-of-range ids set to 0)
    target_valid: torch.Tensor  # (N,) bool: the original target was in range
    mask: torch.Tensor  # (N,) float32 (float64 for float64 hidden) in {0, 1}
    advantages: torch.Tensor  # (N,) float32 per token, or (S,) per sequence
    adv_per_seq: bool
    seq_ids: Optional[torch.Tensor]  # (N,) int64 in [0, S), or None
    num_seqs: int
    old_logprobs: Optional[torch.Tensor]  # (N,) float32
    ref_logprobs: Optional[torch.Tensor]  # (N,) float32
    weights: torch.Tensor  # (N,) float32 aggregation weights w_t
    lead_shape: Tuple[int, ...]
    # (N,) float64: the bound H max|h_t| max|W| / temperature on |logits| of every token, kept only when
    # a masked-in token's bound passes LOGIT_LIMIT (its logits may overflow float32: `check_outputs`
    # then looks at what the backend computed there). None, the usual case: no logit can overflow.
    logit_bound: Optional[torch.Tensor] = None

    def token_advantages(self) -> torch.Tensor:
        return self.advantages[self.seq_ids] if self.adv_per_seq else self.advantages


# ----------------------------------------------------------------------------------------------
# Input validation
# ----------------------------------------------------------------------------------------------
_FLOATS = (torch.float32, torch.bfloat16, torch.float16, torch.float64)


def _check_float_like(t, name, shape, device):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in _FLOATS:
        raise ValueError(f"{name} must be a float tensor, got dtype {t.dtype}")
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(t.shape)}")
    if t.device != device:
        raise ValueError(f"{name} is on {t.device} but hidden is on {device}")


def _check_finite_where(t: torch.Tensor, where: torch.Tensor, name: str) -> None:
    bad = ~torch.isfinite(t) & where
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0, 0])
        raise ValueError(f"{name} has a non-finite value at token {i}: {t[i].item()}")


def _first_nonfinite(x: torch.Tensor) -> int:
    return int(torch.nonzero(~torch.isfinite(x))[0, 0])


def _check_hidden_and_weight(h: torch.Tensor, weight: torch.Tensor, on: torch.Tensor, lead, config):
    """Finiteness of the lm_head weight (every row enters every softmax) and of the hidden states of
    masked-in tokens, and the logit-overflow bound. Returns (h, logit_bound): h with the rows of
    masked-out tokens that are non-finite or whose logit bound passes MASKED_LOGIT_LIMIT set to 0 (a
    new tensor, only when there is such a row), logit_bound as in FlatInputs.

    Cost on finite, ordinary inputs: two whole-tensor aminmax passes (hidden and weight, no [N, H]
    temporary: torch.isfinite(h) would allocate an [N, H] bool and was ~10x slower on CPU) and one host
    sync; no copy of hidden. Measured on CPU (2 threads) at N=4096, H=256, V=8000 fp32: 0.2-0.3 ms,
    against 330-500 ms for the chunked loss's forward + backward (docs/robustness.md). The per-row
    work and the copy below only run when the global bound fails (a non-finite value somewhere, or
    |logits| that could pass MASKED_LOGIT_LIMIT)."""
    N, H = h.shape
    if H == 0:
        return h, None
    T = float(config.temperature)
    with torch.no_grad():
        h_lo, h_hi = torch.aminmax(h.detach())  # NaN when h holds a NaN, +-inf for an inf
        w_lo, w_hi = torch.aminmax(weight.detach())
        h_lo, h_hi, w_lo, w_hi = torch.stack([h_lo, h_hi, w_lo, w_hi]).double().tolist()  # one sync
    w_finite = math.isfinite(w_lo) and math.isfinite(w_hi)
    if w_finite and math.isfinite(h_lo) and math.isfinite(h_hi):
        if H * max(-h_lo, h_hi) * max(-w_lo, w_hi) / T <= MASKED_LOGIT_LIMIT:
            return h, None  # the fast path: everything finite, no logit anywhere near overflow
    if not w_finite:
        bad = ~torch.isfinite(weight.detach())
        r = int(torch.nonzero(bad.any(dim=1))[0, 0])
        c = int(torch.nonzero(bad[r])[0, 0])
        raise ValueError(f"weight has a non-finite value at row {r} (column {c}): weight[{r}, {c}] = "
                         f"{weight[r, c].item()}; every row of the lm_head weight enters every token's softmax")
    aw = max(-w_lo, w_hi)
    with torch.no_grad():
        row_abs = torch.maximum(h.detach().amax(dim=1), -h.detach().amin(dim=1))  # [N], NaN-propagating
    bad = ~torch.isfinite(row_abs) & on
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0, 0])
        c = _first_nonfinite(h[i])
        where = f"hidden[{', '.join(map(str, divmod(i, lead[1])))}, {c}]" if len(lead) == 2 else f"hidden[{i}, {c}]"
        raise ValueError(f"hidden has a non-finite value at token {i} (mask 1): {where} = {h[i, c].item()}")
    bound = row_abs.double() * (H * aw / T)  # NaN / inf on non-finite rows: counted as unsafe
    drop = ~(bound <= MASKED_LOGIT_LIMIT) & ~on
    if bool(drop.any()):
        # Masked-out rows do not enter the loss; zeroing them keeps a NaN / inf / huge row there from
        # reaching the loss and the weight gradient through 0 * NaN. Their gradient is 0 either way
        # (torch.where passes none to them); only their own logprobs / p_eos change.
        h = torch.where(drop[:, None], torch.zeros((), dtype=h.dtype, device=h.device), h)
    if bool((~(bound <= LOGIT_LIMIT) & on).any()):
        return h, torch.where(on, bound, torch.zeros_like(bound))
    return h, None


def prepare_inputs(
    hidden, weight, targets, advantages, mask, old_logprobs, ref_logprobs, seq_ids, num_tokens, config
) -> FlatInputs:
    if not isinstance(hidden, torch.Tensor) or not isinstance(weight, torch.Tensor):
        raise TypeError("hidden and weight must be torch.Tensor")
    if hidden.dtype not in _FLOATS:
        raise ValueError(f"hidden must be a float tensor, got dtype {hidden.dtype}")
    if hidden.dim() not in (2, 3):
        raise ValueError(f"hidden must be [N, H] or [B, T, H], got shape {tuple(hidden.shape)}")
    if weight.dim() != 2:
        raise ValueError(f"weight must be [V, H] (the lm_head weight), got shape {tuple(weight.shape)}")
    if weight.shape[1] != hidden.shape[-1]:
        raise ValueError(f"weight is [V, H] = {tuple(weight.shape)} but hidden has H = {hidden.shape[-1]}")
    if weight.dtype != hidden.dtype:
        raise ValueError(f"weight dtype {weight.dtype} differs from hidden dtype {hidden.dtype}")
    if weight.device != hidden.device:
        raise ValueError(f"weight is on {weight.device} but hidden is on {hidden.device}")
    device = hidden.device
    # Per-token quantities in fp32, or fp64 when the whole computation is fp64 (ground truth, gradcheck).
    ptype = torch.float64 if hidden.dtype == torch.float64 else torch.float32
    lead = tuple(hidden.shape[:-1])
    N, V = math.prod(lead), weight.shape[0]
    if N == 0:
        raise ValueError("hidden holds no tokens (empty batch)")
    if V == 0:
        raise ValueError("weight has an empty vocabulary")

    if not isinstance(targets, torch.Tensor) or targets.dtype.is_floating_point or targets.dtype == torch.bool:
        raise ValueError(f"targets must be an integer tensor, got {getattr(targets, 'dtype', type(targets).__name__)}")
    if tuple(targets.shape) != lead:
        raise ValueError(f"targets must have shape {lead}, got {tuple(targets.shape)}")
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    if tuple(mask.shape) != lead:
        raise ValueError(f"mask must have shape {lead}, got {tuple(mask.shape)}")
    m = mask.reshape(N).to(device=device, dtype=ptype)
    if bool(((m != 0) & (m != 1)).any()):
        raise ValueError("mask must hold only 0/1 (or bool) values")
    on = m > 0
    tgt = targets.reshape(N).to(device=device, dtype=torch.int64)
    valid = (tgt >= 0) & (tgt < V)
    bad = on & ~valid
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0, 0])
        raise ValueError(f"targets[{i}] = {int(tgt[i])} is outside the vocabulary [0, {V}) on a masked-in token")
    tgt = torch.where(valid, tgt, torch.zeros_like(tgt))
    h_flat, logit_bound = _check_hidden_and_weight(hidden.reshape(N, hidden.shape[-1]), weight, on, lead, config)

    if seq_ids is not None:
        if not isinstance(seq_ids, torch.Tensor) or seq_ids.dtype.is_floating_point or seq_ids.dtype == torch.bool:
            raise ValueError("seq_ids must be an integer tensor")
        if tuple(seq_ids.shape) != lead:
            raise ValueError(f"seq_ids must have shape {lead}, got {tuple(seq_ids.shape)}")
        sid = seq_ids.reshape(N).to(device=device, dtype=torch.int64)
        if bool((sid < 0).any()):
            raise ValueError("seq_ids must be >= 0")
    elif hidden.dim() == 3:
        B, T = lead
        sid = torch.arange(B, device=device).repeat_interleave(T)
    else:
        sid = None

    if not isinstance(advantages, torch.Tensor):
        raise TypeError(f"advantages must be a torch.Tensor, got {type(advantages).__name__}")
    if advantages.dtype not in _FLOATS:
        raise ValueError(f"advantages must be a float tensor, got dtype {advantages.dtype}")
    if tuple(advantages.shape) == lead:
        adv = advantages.reshape(N).to(device=device, dtype=ptype)
        per_seq = False
        _check_finite_where(adv, on, "advantages")
        adv = torch.where(on, adv, torch.zeros_like(adv))  # off-mask NaN must not leak through 0 * NaN
        num_seqs = int(sid.max()) + 1 if sid is not None else 0
        if seq_ids is not None and num_seqs > N:
            # With per-token advantages S = max(seq_ids) + 1 (the per-sequence aggregations divide by
            # it and allocate [S] buffers). S > N means ids with no token, almost surely ids of a wider
            # numbering (a micro-batch holding global ids); 2**40 would allocate terabytes.
            # Renumbering here would change S for gapped ids that work today, so refuse instead.
            i = int(torch.argmax(sid))
            raise ValueError(
                f"seq_ids reach {num_seqs - 1} (at token {i}) but hidden holds only {N} tokens: with per-token "
                f"advantages the number of sequences is max(seq_ids) + 1, which must not exceed the number of "
                f"tokens; renumber them (torch.unique(seq_ids, return_inverse=True)[1]) or pass per-sequence "
                f"advantages [S]")
        if hidden.dim() == 3 and seq_ids is None:
            num_seqs = lead[0]
    elif advantages.dim() == 1 and sid is not None:
        adv = advantages.to(device=device, dtype=ptype)
        per_seq = True
        num_seqs = adv.numel()
        if int(sid.max()) >= num_seqs:
            raise ValueError(f"seq_ids reach {int(sid.max())} but advantages holds {num_seqs} sequences")
        bad = ~torch.isfinite(adv)
        if bool(bad.any()):
            i = int(torch.nonzero(bad)[0, 0])
            raise ValueError(f"advantages[{i}] (sequence {i}) is not finite: {adv[i].item()}")
    else:
        raise ValueError(
            f"advantages must have the token shape {lead}, or be per sequence [S] together with seq_ids "
            f"(or [B] for [B, T, H] hidden); got shape {tuple(advantages.shape)}"
        )

    def per_token(t, name):
        if t is None:
            return None
        _check_float_like(t, name, lead, device)
        t = t.reshape(N).to(ptype)
        _check_finite_where(t, on, name)
        return torch.where(on, t, torch.zeros_like(t))

    old = per_token(old_logprobs, "old_logprobs")
    ref = per_token(ref_logprobs, "ref_logprobs")
    if config.kl_coef > 0 and ref is None:
        raise ValueError("kl_coef > 0 needs ref_logprobs")
    if config.eos_token_id is not None and config.eos_token_id >= V:
        raise ValueError(f"eos_token_id {config.eos_token_id} is outside the vocabulary [0, {V})")
    if config.ratio_level == "sequence" and sid is None:
        raise ValueError("ratio_level='sequence' (GSPO) needs seq_ids or [B, T, H] hidden")

    w = aggregation_weights(m, sid, num_seqs, num_tokens, config, lead)
    return FlatInputs(
        hidden=h_flat,
        weight=weight,
        targets=tgt,
        target_valid=valid,
        mask=m,
        advantages=adv,
        adv_per_seq=per_seq,
        seq_ids=sid,
        num_seqs=num_seqs,
        old_logprobs=old,
        ref_logprobs=ref,
        weights=w,
        lead_shape=lead,
        logit_bound=logit_bound,
    )


def aggregation_weights(m, sid, num_seqs, num_tokens, config, lead) -> torch.Tensor:
    """w_t such that loss = sum_t w_t l_t for the configured aggregation (an entry of LOSS_AGGS).

    m [N] response mask (float), sid [N] sequence ids or None, num_seqs S, num_tokens the caller's
    global token count or None, lead the leading shape of hidden ([N] or [B, T]).
    """
    w = LOSS_AGGS.get(config.loss_agg)(m, sid, num_seqs, num_tokens, config, lead)
    # Any entry, built-in or registered: a weight the loss cannot multiply by (e.g. m / 1e-40 is inf
    # in float32) is an error, not an inf / NaN loss. O(N), one sync.
    bad = ~torch.isfinite(w)
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0, 0])
        raise ValueError(
            f"the aggregation weight of loss_agg={config.loss_agg!r} is not finite at token {i} "
            f"({w[i].item()}, {w.dtype}): w_t = m_t / denominator overflows or divides by zero with "
            f"num_tokens={num_tokens!r}, num_seqs={num_seqs}, norm_constant={config.norm_constant!r}")
    return w


def _seq_count(sid, num_seqs, config) -> int:
    """S for the per-sequence aggregations, which need to know which sequence each token is in."""
    if sid is None:
        raise ValueError(f"loss_agg={config.loss_agg!r} needs seq_ids or [B, T, H] hidden")
    return max(num_seqs, 1)


@LOSS_AGGS.register("token-mean")
def _agg_token_mean(m, sid, num_seqs, num_tokens, config, lead):
    if num_tokens is not None:
        denom = float(num_tokens)
        if not (math.isfinite(denom) and denom > 0):
            raise ValueError(f"num_tokens must be > 0, got {num_tokens!r}")
        if 1.0 / denom > torch.finfo(m.dtype).max:
            raise ValueError(
                f"num_tokens={num_tokens!r} gives the token-mean weight 1 / num_tokens = {1.0 / denom:.3g}, "
                f"beyond the {m.dtype} range (max {torch.finfo(m.dtype).max:.3g}); num_tokens is a token count")
    else:
        denom = max(float(m.sum()), 1.0)
    return m / denom


@LOSS_AGGS.register("seq-mean-token-sum")
def _agg_seq_mean_token_sum(m, sid, num_seqs, num_tokens, config, lead):
    return m / _seq_count(sid, num_seqs, config)


@LOSS_AGGS.register("seq-mean-token-mean")
def _agg_seq_mean_token_mean(m, sid, num_seqs, num_tokens, config, lead):
    S = _seq_count(sid, num_seqs, config)
    lengths = torch.zeros(S, dtype=m.dtype, device=m.device).index_add_(0, sid, m)
    return m / (S * lengths.clamp(min=1.0)[sid])


@LOSS_AGGS.register("seq-mean-token-sum-norm")
def _agg_seq_mean_token_sum_norm(m, sid, num_seqs, num_tokens, config, lead):
    S = _seq_count(sid, num_seqs, config)
    norm = config.norm_constant
    if norm is None:
        if len(lead) != 2:
            raise ValueError("loss_agg='seq-mean-token-sum-norm' needs norm_constant for flat [N, H] input")
        norm = float(lead[1])
    return m / (S * norm)


# ----------------------------------------------------------------------------------------------
# The per-token objective, shared by the PyTorch backends (the Triton kernels mirror it)
# ----------------------------------------------------------------------------------------------
def sequence_log_ratio(logp, inputs: FlatInputs) -> torch.Tensor:
    """Per token: the mean of (logp - old) over its sequence's response tokens (detached). GSPO."""
    if inputs.old_logprobs is None:
        return torch.zeros_like(logp)
    diff = (logp.detach() - inputs.old_logprobs) * inputs.mask
    S = max(inputs.num_seqs, int(inputs.seq_ids.max()) + 1)
    sums = torch.zeros(S, dtype=diff.dtype, device=logp.device).index_add_(0, inputs.seq_ids, diff)
    lens = torch.zeros(S, dtype=diff.dtype, device=logp.device).index_add_(0, inputs.seq_ids, inputs.mask)
    return (sums / lens.clamp(min=1.0))[inputs.seq_ids]


def token_objective(logp: torch.Tensor, inputs: FlatInputs, config: PolicyLossConfig, seq_log_ratio=None):
    """Per-token loss terms from log-probs (differentiable in logp).

    Returns (pg_plus_kl [N], clipped [N] bool, kl [N] or None). The entropy term is added by the
    backend, which owns the logits.
    """
    adv = inputs.token_advantages()
    old = inputs.old_logprobs if inputs.old_logprobs is not None else logp.detach()
    if config.ratio_level == "sequence":
        if seq_log_ratio is None:
            seq_log_ratio = sequence_log_ratio(logp, inputs)
        log_ratio = logp - logp.detach() + seq_log_ratio.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    elif config.ratio_level == "token":
        log_ratio = torch.clamp(logp - old, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    else:  # a level added to RATIO_LEVELS without its code path here
        raise ValueError(f"ratio_level {config.ratio_level!r} has no implementation; known: {RATIO_LEVELS}")
    ratio = torch.exp(log_ratio)
    pg1 = -adv * ratio
    pg2 = -adv * torch.clamp(ratio, 1.0 - config.clip_low, 1.0 + config.clip_high)
    pg = torch.maximum(pg1, pg2)
    clipped = pg2 > pg1
    if config.dual_clip is not None:
        pg3 = -adv * config.dual_clip
        dual_active = (adv < 0) & (pg3 < pg)
        pg = torch.where(adv < 0, torch.minimum(pg, pg3), pg)
        clipped = clipped | dual_active
    kl = None
    if inputs.ref_logprobs is not None:
        kl = kl_penalty(logp, inputs.ref_logprobs, config.kl_estimator)
        pg = pg + config.kl_coef * kl
    return pg, clipped, kl


def kl_penalty(logp: torch.Tensor, ref: torch.Tensor, estimator: str) -> torch.Tensor:
    """Per-token estimate of KL(pi || ref) by the KL_ESTIMATORS entry `estimator`."""
    return KL_ESTIMATORS.get(estimator)(logp, ref)


# Schulman's estimators. The Triton epilogue kernel has its own copy of these three (and of their
# gradients); kernels/fused_policy_loss.py recognizes them by identity, so re-registering a name
# with another function is refused there instead of silently running the kernel's formula.
@KL_ESTIMATORS.register("k1")
def kl_k1(logp: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return logp - ref


@KL_ESTIMATORS.register("k2")
def kl_k2(logp: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return 0.5 * (logp - ref) ** 2


@KL_ESTIMATORS.register("k3")
def kl_k3(logp: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    d = torch.clamp(ref - logp, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    return torch.exp(d) - d - 1.0


def masked_mean(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    return (x.to(m.dtype) * m).sum() / m.sum().clamp(min=1.0)


def check_outputs(inputs: FlatInputs, config: PolicyLossConfig, logp: torch.Tensor, per_token: torch.Tensor,
                  kl: Optional[torch.Tensor] = None, entropy: Optional[torch.Tensor] = None,
                  loss: Optional[torch.Tensor] = None) -> None:
    """ValueError when what a backend computed for a masked-in token, or the loss, is not finite.

    Every backend calls it after its forward pass ([N] detached vectors: logp, the per-token loss
    term, kl and entropy when computed; the loss). prepare_inputs has made every input that counts
    finite and zeroed masked-out rows that could overflow, so what is left is overflow in the
    computation itself: logits beyond float32 (only possible where inputs.logit_bound is set), a KL
    term or per-token loss that overflows (k2 against ref = -1e20), or the weighted sum. O(N) and
    one host sync on the finite path.
    """
    on = inputs.mask > 0
    with torch.no_grad():
        bad = ~torch.isfinite(logp) | ~torch.isfinite(per_token)
        if kl is not None:
            bad |= ~torch.isfinite(kl)
        if entropy is not None:
            bad |= ~torch.isfinite(entropy)
        bad &= on
        flag = bad.any()
        if loss is not None:
            flag = flag | ~torch.isfinite(loss.detach())
        if not bool(flag):
            return
        i = int(torch.nonzero(bad)[0, 0]) if bool(bad.any()) else None
    if i is None:
        off = ~torch.isfinite(per_token) & ~on
        if bool(off.any()):  # only past MASKED_LOGIT_LIMIT-sized log-probs with a huge kl_coef, or a custom KL
            j = int(torch.nonzero(off)[0, 0])
            raise ValueError(
                f"the per-token term of masked-out token {j} is not finite ({per_token[j].item()}, logp = "
                f"{logp[j].item():.3g}) and its zero weight times it makes the loss {loss.item()}; "
                f"kl_estimator={config.kl_estimator!r}, kl_coef={config.kl_coef:g}")
        contrib = (inputs.weights.double() * per_token.double()).abs()
        j = int(torch.argmax(contrib))
        raise ValueError(
            f"the loss sum_t w_t * term_t overflows float32 ({loss.item()}) although every term is finite; the "
            f"largest |w_t term_t| is {contrib[j].item():.3g} at token {j} (w = {inputs.weights[j].item():.3g}, "
            f"num_tokens / norm_constant too small?)")
    tok = f"token {i} (mask 1)"
    if not (bool(torch.isfinite(logp[i])) and (entropy is None or bool(torch.isfinite(entropy[i])))):
        b = inputs.logit_bound
        if b is not None and float(b[i]) > LOGIT_LIMIT:
            raise ValueError(
                f"the logits overflow float32 at {tok}: |h W^T| / temperature can reach {float(b[i]):.3g} there "
                f"(H = {inputs.hidden.shape[1]}, max |hidden row| = {inputs.hidden[i].abs().max().item():.3g}, "
                f"max |weight| = {inputs.weight.abs().max().item():.3g}, temperature = {config.temperature:g}) and "
                f"its log-softmax came out {logp[i].item()}; float32 holds up to 3.4e38: scale hidden / weight "
                f"down or raise the temperature")
        raise ValueError(f"the log-prob (or entropy) of {tok} is not finite: logp = {logp[i].item()}")
    if kl is not None and not bool(torch.isfinite(kl[i])):
        ref = inputs.ref_logprobs[i].item()
        raise ValueError(
            f"the {config.kl_estimator} KL term overflows float32 at {tok}: logp = {logp[i].item():.6g}, "
            f"ref_logprobs = {ref:.6g} (logp - ref = {logp[i].item() - ref:.3g}), kl = {kl[i].item()}")
    old = inputs.old_logprobs[i].item() if inputs.old_logprobs is not None else None
    raise ValueError(
        f"the per-token loss overflows float32 at {tok}: term = {per_token[i].item()} (logp = {logp[i].item():.6g}, "
        f"old_logprobs = {old}, advantage = {inputs.token_advantages()[i].item():.6g}"
        + (f", kl = {kl[i].item():.6g}, kl_coef = {config.kl_coef:g}" if kl is not None else "")
        + (f", entropy = {entropy[i].item():.6g}, entropy_coef = {config.entropy_coef:g}" if entropy is not None else "")
        + ")")


# ----------------------------------------------------------------------------------------------
# Backends and the entry point
# ----------------------------------------------------------------------------------------------
BackendFn = Callable[[FlatInputs, PolicyLossConfig], PolicyLossOutput]

# name -> backend function, or a lazy "module:function" path imported on first use (and then
# cached with .set): importing rlev_fast never imports triton.
LOSS_BACKENDS = Registry("loss backend")
LOSS_BACKENDS.register("reference", "rlev_fast.loss_reference:reference_policy_loss")
LOSS_BACKENDS.register("chunked", "rlev_fast.loss_chunked:chunked_policy_loss")
LOSS_BACKENDS.register("triton", "rlev_fast.kernels.fused_policy_loss:triton_policy_loss")


def register_backend(name: str, fn_or_path: Union[str, BackendFn], override: bool = False) -> None:
    """Registers a loss backend: fn(inputs: FlatInputs, config) -> PolicyLossOutput, or the lazy
    "module:function" path of one. A taken name is an error unless override=True."""
    if not callable(fn_or_path) and not (isinstance(fn_or_path, str) and fn_or_path.count(":") == 1):
        raise ValueError(f"loss backend {name!r} must be a function or a 'module:function' path, got {fn_or_path!r}")
    LOSS_BACKENDS.register(name, fn_or_path, override=override)


def _load_backend(name: str) -> Optional[BackendFn]:
    """The function of a registered backend; None when its module does not import (e.g. no triton)."""
    return LOSS_BACKENDS.load(name)


def resolve_backend(backend: str, device: torch.device) -> str:
    """The concrete backend name for `backend` on `device` ("auto" resolved; RLEV_FAST_LOSS_BACKEND)."""
    return pick_backend(LOSS_BACKENDS, backend, device, "RLEV_FAST_LOSS_BACKEND")


def policy_loss(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    old_logprobs: Optional[torch.Tensor] = None,
    ref_logprobs: Optional[torch.Tensor] = None,
    seq_ids: Optional[torch.Tensor] = None,
    num_tokens: Optional[Union[int, float, torch.Tensor]] = None,
    config: Optional[PolicyLossConfig] = None,
    backend: str = "auto",
) -> PolicyLossOutput:
    """Value-weighted clipped policy loss from final hidden states and the lm_head weight.

    hidden [N, H] or [B, T, H]; weight [V, H]; targets, mask, old/ref log-probs in the leading shape;
    advantages per token, or per sequence [S] with seq_ids (or [B] for 3-D hidden). old_logprobs=None
    means on-policy (ratio 1, gradient still flows). num_tokens: global token count for token-mean
    across micro-batches and ranks. See the module docstring for the exact function.
    """
    if config is None:
        config = PolicyLossConfig()
    elif not isinstance(config, PolicyLossConfig):
        raise TypeError(f"config must be a PolicyLossConfig, got {type(config).__name__}")
    if isinstance(num_tokens, torch.Tensor):
        num_tokens = float(num_tokens.item())
    inputs = prepare_inputs(hidden, weight, targets, advantages, mask, old_logprobs, ref_logprobs,
                            seq_ids, num_tokens, config)
    name = resolve_backend(backend, hidden.device)
    fn = _load_backend(name)
    if fn is None:
        raise RuntimeError(f"loss backend {name!r} is not available here (import failed)")
    out = fn(inputs, config)
    lead = inputs.lead_shape
    for key in ("logprobs", "p_eos", "eos_grad"):
        t = getattr(out, key)
        if t is not None:
            setattr(out, key, t.reshape(lead))
    return out
