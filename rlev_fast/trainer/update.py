"""One RL update on a rollout batch: PPO epochs x mini-batches x micro-batches of the fused policy
loss on the trunk's hidden states, with old and reference log-probs recomputed by the trainer.

Micro-batches (rlev_fast/micro_batches.py): --grad-accum of them per mini-batch at least, more where
a micro-batch's packed row would pass --max-tokens-per-micro-batch; every process runs the same
number (an all-reduce max agrees on it before any forward). Whatever the split, the loss is that of
the whole mini-batch in one piece: token-mean divides by the mini-batch's global token count, the
per-sequence aggregations by its global sequence count (SEQ_MEAN_AGGS: each call's loss is rescaled
from its own count), and seq-mean-token-sum-norm's constant is the mini-batch's longest response
(global) unless --loss's norm_constant is set.

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
from ..micro_batches import needed_micro_batches, plan_micro_batches
from ..packing import prompt_lengths
from .trunk import Piece, forward_pieces, length_buckets, padded_share_possible, unwrap_trunk

IS_LOG_CLAMP = 20.0  # as the loss's log-ratio clamp (and verl's SAFETY_BOUND)
# Aggregations that divide by the number of sequences of a policy_loss call (S = the call's rows):
# rescaled by S / (the mini-batch's global sequence count), so that any split gives the one-batch loss.
SEQ_MEAN_AGGS = frozenset({"seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"})


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
    """log p(response token) under `trunk` (no grad), (b, R) for the given rows in their order, 0 past
    each response; one trunk call (packed, or padded in up to `buckets` length buckets)."""
    with torch.no_grad(), autocast():
        pieces, W = forward_pieces(trunk, batch, rows, share_prompt, buckets)
    # the log-probs alone: no aggregation constant, KL or entropy needed
    cfg = dataclasses.replace(loss_cfg, eos_token_id=None, compute_entropy=False, entropy_coef=0.0, kl_coef=0.0,
                              loss_agg="token-mean")
    full = torch.zeros(batch.num_sequences, batch.response_width, dtype=torch.float32, device=batch.input_ids.device)
    with torch.no_grad():
        for pc in pieces:
            if not bool(pc.mask.sum() > 0):
                continue
            res = policy_loss(pc.hidden, W.to(pc.hidden.dtype), pc.targets, torch.zeros(pc.num_rows, device=pc.hidden.device),
                              pc.mask, seq_ids=pc.seq_ids, config=cfg, backend=backend)
            pc.put(full, res.logprobs)
    return full[torch.as_tensor(list(rows), dtype=torch.long, device=full.device)]


def agreed_plans(batch: RolloutBatch, specs, share: bool, budget: int) -> List[List[List[int]]]:
    """Micro-batches of each (rows, at least count) in specs, as many on every process: one
    all-reduce max of the counts the token budget needs (a no-op on one process)."""
    lengths, plens = batch.response_lengths.tolist(), prompt_lengths(batch)
    args = (plens, lengths, batch.group_size, share, budget)
    need = [needed_micro_batches(rows, *args, count) for rows, count in specs]
    need = D.all_reduce_max(torch.tensor(need, dtype=torch.int64)).tolist()
    return [plan_micro_batches(rows, *args, k) for (rows, _), k in zip(specs, need)]


def mini_batch_normalizers(batch: RolloutBatch, rows: Sequence[int], loss_cfg: PolicyLossConfig):
    """(global response tokens, global sequences, loss config for the calls) of a mini-batch: what
    makes a micro-batch's loss its share of the whole mini-batch's (module docstring)."""
    tot = D.all_reduce_sum(torch.tensor([float(batch.response_mask[rows].sum()), float(len(rows))], dtype=torch.float64))
    num_tokens, num_seqs = max(float(tot[0]), 1.0), max(float(tot[1]), 1.0)
    if loss_cfg.loss_agg == "seq-mean-token-sum-norm" and loss_cfg.norm_constant is None:
        longest = int(batch.response_lengths[rows].max()) if len(rows) else 0
        longest = int(D.all_reduce_max(torch.tensor([longest], dtype=torch.int64))[0])
        loss_cfg = dataclasses.replace(loss_cfg, norm_constant=float(max(longest, 1)))
    return num_tokens, num_seqs, loss_cfg


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
    inner = unwrap_trunk(trunk)
    # The padded fallback shares prompts only where its KV-cache trick can run; the packed row always can.
    share = A.share_prompt and (inner.packed or padded_share_possible(inner))
    buckets = 1 if inner.packed else A.length_buckets
    lengths = batch.response_lengths.tolist()

    # Mini-batch m holds rows m, m + M, m + 2M, ... of this rank: with ranks holding contiguous slices
    # of the global batch (and S divisible by M), that is the same global mini-batch for any number
    # of processes, so 2 processes reproduce 1 process update by update.
    minis = [list(range(m, S, A.mini_batches)) for m in range(A.mini_batches)]
    updates = A.ppo_epochs * A.mini_batches
    # The micro-batches of each mini-batch and of the no-grad log-prob passes (over all rows).
    *mini_plans, lp_plan = agreed_plans(batch, [(rows, A.grad_accum) for rows in minis] +
                                        [(list(range(S)), A.mini_batches * A.grad_accum)], share,
                                        A.max_tokens_per_micro_batch)

    def calls_of(rows: List[int]):
        """The trunk calls of a micro-batch: (rows, length buckets in the call). Packed: one. Padded with
        the shared prompt: one for all its buckets; without it (FSDP2, gradient checkpointing): one per bucket."""
        if inner.packed or share or not rows:
            return [(rows, buckets)]
        return [(g, 1) for g in length_buckets(rows, lengths, buckets)]

    def all_logprobs(which) -> torch.Tensor:  # (S, R) log-probs of every response token, no grad
        full = torch.zeros(S, batch.response_width, dtype=torch.float32, device=batch.input_ids.device)
        for rows in lp_plan:
            lp = token_logprobs(which, batch, rows, loss_cfg, backend, autocast, share, buckets)
            if rows:
                full[rows] = lp
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
    token_adv = None if is_w is None else adv.to(is_w.device)[:, None] * is_w  # (S, R): A_seq * w_t (exact: the PG term is homogeneous in A)
    # on-policy without --rollout-is: the loss pass's own log-probs (the first and only pass)
    collect = sampler_lp is not None and gap_lp is None
    first_lp = torch.zeros(S, batch.response_width, dtype=torch.float32, device=batch.input_ids.device) if collect else None

    losses, clips, kls, ents, gnorms = [], [], [], [], []
    eos: List[Optional[Dict]] = [None] * S
    seq_mean = cfg.loss.loss_agg in SEQ_MEAN_AGGS
    for epoch in range(A.ppo_epochs):
        want_eos = epoch == 0 and stats_cfg.eos_token_id is not None
        for rows, plan in zip(minis, mini_plans):
            num_tokens, num_seqs, call_cfg = mini_batch_normalizers(batch, rows, stats_cfg if want_eos else loss_cfg)
            optimizer.zero_grad(set_to_none=True)
            total = torch.zeros((), dtype=torch.float64)
            mclip, mkl, ment = [], [], []
            calls = [c for mb_rows in plan for c in calls_of(mb_rows)]
            for j, (call_rows, nb) in enumerate(calls):
                sync = j == len(calls) - 1
                ctx = trunk.no_sync() if (not sync and hasattr(trunk, "no_sync")) else contextlib.nullcontext()
                with ctx:
                    with autocast():
                        pieces, W = forward_pieces(trunk, batch, call_rows, share, nb)
                    call_loss = 0.0
                    for pc in pieces:
                        weight = float(pc.mask.sum())
                        if weight == 0:  # nothing to train (an empty micro-batch): zero loss, same backward
                            call_loss = call_loss + 0.0 * (pc.hidden.sum() + W.sum())
                            continue
                        h = pc.hidden
                        out = policy_loss(
                            h, W.to(h.dtype), pc.targets,
                            adv[pc.rows].to(h.device) if token_adv is None else pc.take(token_adv).to(h.device),
                            pc.mask, old_logprobs=None if old_lp is None else pc.take(old_lp),
                            ref_logprobs=None if ref_lp is None else pc.take(ref_lp), seq_ids=pc.seq_ids,
                            num_tokens=num_tokens, config=call_cfg, backend=backend,
                        )
                        scale = pc.num_rows / num_seqs if seq_mean else 1.0
                        loss = out.loss * scale if seq_mean else out.loss
                        if not bool(torch.isfinite(loss.detach())):
                            raise TrainingError(f"the loss is {float(loss.detach())} at step {step} "
                                                f"(epoch {epoch}, micro-batch {j})")
                        call_loss = call_loss + loss
                        if first_lp is not None and epoch == 0:
                            pc.put(first_lp, out.logprobs)
                        mclip.append((float(out.clip_frac), weight))
                        if out.kl is not None:
                            mkl.append((float(out.kl), weight))
                        if out.entropy is not None:
                            ment.append((float(out.entropy), weight))
                        if want_eos and out.p_eos is not None:
                            record_eos(eos, pc, out.p_eos, out.eos_grad * scale, num_tokens)
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


def record_eos(eos: List[Optional[Dict]], pc: Piece, p_eos: torch.Tensor, eos_grad: torch.Tensor,
               num_tokens: float) -> None:
    """The EOS statistics of a piece's rows (batch_metrics.eos_stats), into eos[row]."""
    for r, st in zip(pc.rows, eos_stats(pc.as_rows(p_eos), pc.as_rows(eos_grad), pc.as_rows(pc.mask), num_tokens)):
        eos[r] = st


def eos_token_id(trunk) -> Optional[int]:
    m = D.unwrap(trunk).model
    gc = getattr(m, "generation_config", None)
    eos = getattr(gc, "eos_token_id", None) if gc is not None else None
    if eos is None:
        eos = getattr(m.config, "eos_token_id", None)
    if isinstance(eos, (list, tuple)):
        eos = eos[0] if eos else None
    return eos
