"""One RL step, the function the trainer loop, bench_train.py and the paper runner's cells all run:

    prompts -> rollout (n completions each) -> verify -> r = s(x) * correct -> advantages on the
    global batch -> update(s) -> weights to the rollout engine -> the step's metrics row

A rollout engine with a `sleep()` method (vLLM on GPU) is put to sleep after its rollout, so that
the update has its memory; its `sync_weights` wakes it. The row carries sync_s / sync_bytes (the
weight push; 0 bytes for the HF backends, which sample from the training model itself) and the
sampler / trainer log-prob gap (rollout_logprob_diff, rollout_logprob_diff_max; update.py).
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Sequence

import torch

from .. import distributed as D
from ..advantages import compute_advantages
from ..data import Example, format_prompt
from ..rewards import value_scale
from ..verify import verify_batch
from .batch_metrics import batch_metrics
from .config import TrainConfig
from .update import rl_update


@dataclass
class TrainSet:
    """The training questions, their prompts as the policy sees them, and s(x) for each."""

    examples: List[Example]
    prompts: List[str]
    scale: torch.Tensor  # (Q,) float32

    @classmethod
    def build(cls, examples: Sequence[Example], tokenizer, reward: str, alpha: float, seed: int) -> "TrainSet":
        # s(x) for every training question, once: "uniform" is the training-set mean, "shuffled" a
        # fixed permutation of the values across questions (seeded), as in the paper's controls.
        values = torch.tensor([ex.value for ex in examples], dtype=torch.float32)
        return cls(list(examples), [format_prompt(ex, tokenizer) for ex in examples],
                   value_scale(values, alpha=alpha, form=reward, seed=seed))


@dataclass
class Policy:
    """What a step trains and samples with. trunk: the (wrapped) PolicyTrunk; ref_trunk: a frozen
    copy for the KL penalty (None without one); rollout: the sampler, which must hold the trunk's
    weights (`sync_weights` after every update); autocast: a context-manager factory."""

    trunk: Any
    optimizer: Any
    scheduler: Any
    rollout: Any
    ref_trunk: Any = None
    autocast: Callable = contextlib.nullcontext


def rl_step(policy: Policy, data: TrainSet, prompt_idx: Sequence[int], cfg: TrainConfig, info: D.DistInfo,
            step: int) -> Dict[str, Any]:
    """One RL step on this rank's prompts `prompt_idx` (indices into `data`; its slice of the global
    batch). Returns the step's metrics row, global over ranks (a collective under torchrun)."""
    t_step = time.time()
    n = cfg.rollout.n
    examples = [data.examples[i] for i in prompt_idx]
    # 1. rollout: n completions per prompt, groups consecutive
    t0 = time.time()
    batch = policy.rollout.generate([data.prompts[i] for i in prompt_idx])
    sleep = getattr(policy.rollout, "sleep", None)
    if callable(sleep):
        sleep()
    t_rollout = time.time() - t0
    # 2. verify
    t0 = time.time()
    golds = [ex.answer for ex in examples for _ in range(n)]
    correct = torch.tensor(verify_batch(batch.texts, golds), dtype=torch.float32)  # (S,)
    t_verify = time.time() - t0
    # 3. rewards r = s(x) * correct; advantages on the global batch (REINFORCE++ whitens over it).
    # Every estimator gets s(x): GRPO needs it to keep the value scale, the others ignore it.
    scale = data.scale[list(prompt_idx)].repeat_interleave(n)  # (S,)
    rewards = scale * correct
    adv_all = compute_advantages(D.all_gather_cat(rewards), n, cfg.algo.algo, scale=D.all_gather_cat(scale),
                                 lengths=D.all_gather_cat(batch.response_lengths.double()))
    S = rewards.numel()
    adv = adv_all[info.rank * S : (info.rank + 1) * S]
    # 4. the update(s), then the new weights to the sampler
    t0 = time.time()
    upd = rl_update(policy.trunk, batch, adv, policy.optimizer, policy.scheduler, cfg, info, policy.ref_trunk,
                    policy.autocast, step=step + 1)
    t_sync = time.time()
    sync_bytes = policy.rollout.sync_weights(policy.trunk)
    t_sync = time.time() - t_sync
    t_train = time.time() - t0
    # 5. metrics, global over the batch
    values = [ex.value for ex in examples for _ in range(n)]
    local_rows = list(zip(values, correct.tolist(), batch.response_lengths.tolist(), rewards.tolist(), upd["eos"]))
    rows = [r for part in D.all_gather_objects(local_rows) for r in part]
    gen_tokens = sum(r[2] for r in rows)
    times = D.all_gather_objects((t_rollout, t_verify, t_train, time.time() - t_step, t_sync))
    t_rollout, t_verify, t_train, t_total, t_sync = (max(t[i] for t in times) for i in range(5))
    row = batch_metrics(*(list(col) for col in zip(*rows)))
    row.update({k: upd[k] for k in ("loss", "clip_frac", "kl", "entropy", "grad_norm")})
    row.update({k: upd.get(k) for k in ("rollout_logprob_diff", "rollout_logprob_diff_max")})
    row.update({k: upd[k] for k in ("rollout_is_mean", "rollout_is_capped_frac") if k in upd})
    finished = float(D.all_reduce_sum(batch.finished.float().sum().reshape(1).cpu())[0])
    row.update({"finished_frac": finished / len(rows), "gen_tokens": gen_tokens,
                "tokens_per_s": gen_tokens / max(t_total, 1e-9), "time_rollout_s": t_rollout,
                "time_verify_s": t_verify, "time_train_s": t_train, "time_step_s": t_total,
                "sync_s": t_sync, "sync_bytes": int(sync_bytes or 0)})
    return row
