"""One RL update on a rollout batch: PPO epochs x mini-batches x micro-batches of the fused policy
loss on the trunk's hidden states, with old and reference log-probs recomputed by the trainer.

Sampler / trainer mismatch. The rollout engine reports the log-prob of each token it drew
(`RolloutBatch.sampler_logprobs`); the trainer's own log-probs before the update (old_t) are either
the recomputed old log-probs (several updates) or, on-policy (one epoch, one mini-batch), the
per-token log-probs the fused loss returns in its pass anyway (no extra forward). The update
reports rollout_logprob_diff = mean_t |sampler_t - old_t| over response tokens and its max.

Rollout importance sampling (`AlgoConfig.rollout_is`, verl's rollout IS in "truncate" mode / TIS,
TRL's vLLM importance-sampling correction), detached weights on the policy-gradient term:

    token      w_t = min(exp(clamp(old_t - sampler_t, -20, 20)), cap)
    sequence   w_t = min(exp(clamp(sum_{t' in seq} (old_t' - sampler_t'), -20, 20)), cap)
               (the product of the sequence's per-token ratios, as verl's "sequence" level)

The clipped PPO term is positively homogeneous in A (max(-A w r, -A w clip(r)) = w max(-A r, -A clip(r))
for w > 0, the dual clip too), so the weight is applied exactly by passing the token advantages
A_seq * w_t to policy_loss; the KL and entropy terms are not weighted (as in verl). On-policy, the
weights need old_t before the loss pass: one no-grad forward more (only with --rollout-is)."""
from __future__ import annotations

import contextlib
import dataclasses
import math
from typing import Any, Dict, List, Optional, Sequence

import torch

from .. import distributed as D
from ..loss import PolicyLossConfig, policy_loss
from ..rollout import RolloutBatch
from .batch_metrics import eos_stats
from .config import TrainConfig
from .runtime import TrainingError
from .trunk import bucket_segments, length_buckets, share_index

IS_LOG_CLAMP = 20.0  # as the loss's log-ratio clamp (and verl's SAFETY_BOUND)


def rollout_is_weights(old_logprobs: torch.Tensor, sampler_logprobs: torch.Tensor, mask: torch.Tensor, level: str,
                       cap: float) -> torch.Tensor:
    """Rollout importance weights (S, R), detached, 1 off the mask (see the module docstring); the
    levels are AlgoConfig.rollout_is's choices. cap = inf gives the untruncated weights.

    old_logprobs / sampler_logprobs / mask: (S, R); level "token" or "sequence"; cap > 0."""
    m = mask.to(old_logprobs.dtype)
    log_ratio = (old_logprobs.detach() - sampler_logprobs.to(old_logprobs.dtype)) * m  # (S, R)
    if level == "token":
        lr = log_ratio
    elif level == "sequence":
        lr = log_ratio.sum(-1, keepdim=True).expand_as(log_ratio)
    else:
        raise ValueError(f"rollout_is level must be one of token, sequence; got {level!r}")
    w = torch.exp(lr.clamp(-IS_LOG_CLAMP, IS_LOG_CLAMP)).clamp(max=cap)
    return torch.where(m > 0, w, torch.ones_like(w)).detach()


def logprob_gap(sampler_logprobs: torch.Tensor, trainer_logprobs: torch.Tensor, mask: torch.Tensor) -> Dict[str, float]:
    """{"rollout_logprob_diff": mean |sampler - trainer| over the response tokens of all ranks,
    "rollout_logprob_diff_max": its max}."""
    m = mask.bool()
    d = (sampler_logprobs.float() - trainer_logprobs.float()).abs()[m].double().cpu()
    tot = D.all_reduce_sum(torch.tensor([float(d.sum()), float(d.numel())], dtype=torch.float64))
    mx = max(D.all_gather_objects(float(d.max()) if d.numel() else 0.0))
    return {"rollout_logprob_diff": float(tot[0] / max(float(tot[1]), 1.0)), "rollout_logprob_diff_max": mx}


def token_logprobs(trunk, batch: RolloutBatch, rows: Sequence[int], loss_cfg: PolicyLossConfig, backend: str,
                   autocast, share_prompt: bool = False, buckets: int = 1) -> torch.Tensor:
    """log p(response token) under `trunk` (no grad), (b, R) for the given rows in their order, run as
    up to `buckets` length buckets in one trunk call."""
    lengths = batch.response_lengths.tolist()
    order, segments = bucket_segments(length_buckets(list(rows), lengths, buckets), lengths)
    mb = batch.select(order)
    P = mb.prompt_width
    share = share_index(order, batch.group_size) if share_prompt else None
    with torch.no_grad(), autocast():
        hs, W = trunk(mb.input_ids, mb.attention_mask, P, share, segments)  # [(rows, w, H)], (V, H)
    cfg = dataclasses.replace(loss_cfg, eos_token_id=None, compute_entropy=False, entropy_coef=0.0, kl_coef=0.0)
    out = torch.zeros(len(order), mb.response_width, dtype=torch.float32, device=mb.input_ids.device)
    with torch.no_grad():
        for (a, b, w), h in zip(segments, hs):
            res = policy_loss(h, W.to(h.dtype), mb.input_ids[a:b, P : P + w], torch.zeros(b - a, device=h.device),
                              mb.response_mask[a:b, :w], config=cfg, backend=backend)
            out[a:b, :w] = res.logprobs.float()
    where = {r: i for i, r in enumerate(order)}
    return out[torch.tensor([where[r] for r in rows], device=out.device)]  # (b, R), rows' order


def rl_update(trunk, batch: RolloutBatch, adv: torch.Tensor, optimizer, scheduler, cfg: TrainConfig,
              info: D.DistInfo, ref_trunk=None, autocast=contextlib.nullcontext, step: int = 0) -> Dict[str, Any]:
    """PPO epochs x mini-batches x micro-batches on this rank's sequences of the global batch.

    adv: (S,) per-sequence advantages of this rank's rows. Returns the mean loss statistics (global
    loss: the sum over ranks of each update's loss, averaged over updates), the per-sequence EOS
    statistics of the first pass and, when the batch carries sampler log-probs, the sampler /
    trainer gap (rollout_logprob_diff, rollout_logprob_diff_max; None without them) and, with
    --rollout-is, the mean importance weight and the share of capped tokens.
    """
    A = cfg.algo
    S = batch.num_sequences
    backend = A.loss_backend
    loss_cfg = dataclasses.replace(cfg.loss, eos_token_id=None)
    stats_cfg = dataclasses.replace(cfg.loss, eos_token_id=eos_token_id(trunk))
    world = info.world_size if D.dist_is_on() else 1  # DDP averages gradients over ranks: undo it

    mb_size = S // A.mini_batches
    micro = mb_size // A.grad_accum
    # Mini-batch m holds rows m, m + M, m + 2M, ... of this rank: with ranks holding contiguous slices
    # of the global batch (and S divisible by M), that is the same global mini-batch for any number
    # of processes, so 2 processes reproduce 1 process update by update.
    minis = [list(range(m, S, A.mini_batches)) for m in range(A.mini_batches)]
    updates = A.ppo_epochs * A.mini_batches

    def all_logprobs(which) -> torch.Tensor:  # (S, R) log-probs of every response token, no grad
        full = torch.zeros(S, batch.response_width, dtype=torch.float32, device=batch.input_ids.device)
        for s in range(0, S, micro):
            rows = list(range(s, min(s + micro, S)))
            lp = token_logprobs(which, batch, rows, loss_cfg, backend, autocast, A.share_prompt, A.length_buckets)
            full[s : s + len(rows), : lp.shape[1]] = lp
        return full

    # Old log-probs: recomputed by the training model before any update (skipped when on-policy:
    # with a single update the ratio is exactly 1).
    old_lp = all_logprobs(trunk) if updates > 1 else None
    ref_lp = all_logprobs(ref_trunk) if (cfg.loss.kl_coef > 0 and ref_trunk is not None) else None
    sampler_lp = batch.sampler_logprobs
    is_level = A.rollout_is
    is_w = None  # (S, R) rollout importance weights
    is_stats: Dict[str, Any] = {}
    gap_lp = old_lp  # the trainer's log-probs before the update, for the sampler gap
    if is_level != "none":
        if sampler_lp is None:
            raise TrainingError("--rollout-is needs the sampler's log-probs, and this rollout backend reports none")
        if gap_lp is None:  # on-policy: the old log-probs are not otherwise computed
            gap_lp = all_logprobs(trunk)
        raw = rollout_is_weights(gap_lp, sampler_lp, batch.response_mask, is_level, float("inf"))
        m = batch.response_mask.bool()
        is_w = torch.where(m, raw.clamp(max=A.rollout_is_cap), raw)  # truncated on the mask, 1 off it
        n_tok = D.all_reduce_sum(torch.tensor([float(is_w[m].double().sum()), float((raw[m] > A.rollout_is_cap).sum()),
                                               float(m.sum())], dtype=torch.float64))
        is_stats = {"rollout_is_mean": float(n_tok[0] / max(float(n_tok[2]), 1.0)),
                    "rollout_is_capped_frac": float(n_tok[1] / max(float(n_tok[2]), 1.0))}
    # on-policy without --rollout-is: the loss pass's own log-probs (the first and only pass)
    collect = sampler_lp is not None and gap_lp is None
    first_lp = torch.zeros(S, batch.response_width, dtype=torch.float32, device=batch.input_ids.device) if collect else None

    losses, clips, kls, ents, gnorms = [], [], [], [], []
    eos: List[Optional[Dict]] = [None] * S
    lengths = batch.response_lengths.tolist()
    for epoch in range(A.ppo_epochs):
        want_eos = epoch == 0 and stats_cfg.eos_token_id is not None
        for rows in minis:
            tokens = float(batch.response_mask[rows].sum())
            num_tokens = float(D.all_reduce_sum(torch.tensor([tokens], dtype=torch.float64))[0])
            num_tokens = max(num_tokens, 1.0)
            optimizer.zero_grad(set_to_none=True)
            total = torch.zeros((), dtype=torch.float64)
            mclip, mkl, ment = [], [], []
            # Each micro-batch runs as a few length buckets (same gradient: the token-mean divides by
            # the global token count, whatever the split), so short answers are not padded to the
            # longest response of the batch. With the shared prompt, one trunk call per micro-batch
            # runs its prompts once for all buckets, then one backward; without it (FSDP2, gradient
            # checkpointing), one trunk call and one backward per bucket.
            calls = []
            for i in range(0, len(rows), micro):
                buckets = length_buckets(rows[i : i + micro], lengths, A.length_buckets)
                calls.extend([buckets] if A.share_prompt else [[g] for g in buckets])
            for j, groups in enumerate(calls):
                order, segments = bucket_segments(groups, lengths)
                mb = batch.select(order)
                P = mb.prompt_width
                sync = j == len(calls) - 1
                ctx = trunk.no_sync() if (not sync and hasattr(trunk, "no_sync")) else contextlib.nullcontext()
                with ctx:
                    share = share_index(order, batch.group_size) if A.share_prompt else None
                    with autocast():
                        hs, W = trunk(mb.input_ids, mb.attention_mask, P, share, segments)  # [(rows, w, H)], (V, H)
                    call_loss = 0.0
                    for (a, b, w), h in zip(segments, hs):
                        seg_rows = order[a:b]
                        mask = mb.response_mask[a:b, :w]
                        seg_adv = adv[seg_rows].to(h.device)
                        if is_w is not None:  # token advantages A_seq * w_t (exact: the PG term is homogeneous in A)
                            seg_adv = seg_adv[:, None] * is_w[seg_rows, :w].to(h.device)
                        out = policy_loss(
                            h, W.to(h.dtype), mb.input_ids[a:b, P : P + w], seg_adv, mask,
                            old_logprobs=None if old_lp is None else old_lp[seg_rows, :w],
                            ref_logprobs=None if ref_lp is None else ref_lp[seg_rows, :w],
                            num_tokens=num_tokens, config=stats_cfg if want_eos else loss_cfg, backend=backend,
                        )
                        if not bool(torch.isfinite(out.loss.detach())):
                            raise TrainingError(f"the loss is {float(out.loss.detach())} at step {step} "
                                                f"(epoch {epoch}, micro-batch {j})")
                        call_loss = call_loss + out.loss
                        if first_lp is not None and epoch == 0:
                            first_lp[seg_rows, :w] = out.logprobs.detach().float().reshape(b - a, w).to(first_lp.device)
                        weight = float(mask.sum())
                        mclip.append((float(out.clip_frac), weight))
                        if out.kl is not None:
                            mkl.append((float(out.kl), weight))
                        if out.entropy is not None:
                            ment.append((float(out.entropy), weight))
                        if want_eos and out.p_eos is not None:
                            for r, st in zip(seg_rows, eos_stats(out.p_eos, out.eos_grad, mask, num_tokens)):
                                eos[r] = st
                    (call_loss * world).backward()
                total += call_loss.detach().double().cpu()
            # The global loss of this update: the sum over ranks of each rank's token-mean share.
            g_loss = float(D.all_reduce_sum(total.reshape(1))[0])
            if not math.isfinite(g_loss):
                raise TrainingError(f"the loss is {g_loss} at step {step}")
            if cfg.optim.grad_clip > 0:
                gn = torch.nn.utils.clip_grad_norm_(trunk.parameters(), cfg.optim.grad_clip)
            else:
                gn = torch.sqrt(sum((p.grad.detach().float() ** 2).sum() for p in trunk.parameters() if p.grad is not None))
            gn = float(gn.full_tensor() if hasattr(gn, "full_tensor") else gn)
            if not math.isfinite(gn):
                raise TrainingError(f"the gradient norm is {gn} at step {step}")
            optimizer.step()
            scheduler.step()
            losses.append(g_loss)
            gnorms.append(gn)
            for acc, src in ((clips, mclip), (kls, mkl), (ents, ment)):
                if src:
                    acc.append(sum(v * w for v, w in src) / max(sum(w for _, w in src), 1.0))
    gap = {"rollout_logprob_diff": None, "rollout_logprob_diff_max": None}
    if sampler_lp is not None:
        gap = logprob_gap(sampler_lp, gap_lp if gap_lp is not None else first_lp, batch.response_mask)
    return {
        **gap,
        **is_stats,
        "loss": sum(losses) / len(losses),
        "losses": losses,
        "clip_frac": sum(clips) / len(clips) if clips else 0.0,
        "kl": sum(kls) / len(kls) if kls else None,
        "entropy": sum(ents) / len(ents) if ents else None,
        "grad_norm": sum(gnorms) / len(gnorms),
        "eos": eos,
    }


def eos_token_id(trunk) -> Optional[int]:
    m = D.unwrap(trunk).model
    gc = getattr(m, "generation_config", None)
    eos = getattr(gc, "eos_token_id", None) if gc is not None else None
    if eos is None:
        eos = getattr(m.config, "eos_token_id", None)
    if isinstance(eos, (list, tuple)):
        eos = eos[0] if eos else None
    return eos
