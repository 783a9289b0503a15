"""RLEV in verl (0.9): value-preserving advantage estimators, the RLEV reward, our policy loss and our
fused log-prob kernels, each through verl's own extension points. `import rlev_fast.integrations.verl`
(or verl calling `setup_worker` in each Ray worker) registers:

    estimators    rlev_grpo (value-preserving GRPO), rlev_dr_grpo, rlev_rloo, rlev_reinforce_pp,
                  rlev_reinforce_pp_token, rlev_reinforce_pp_baseline   -> algorithm.adv_estimator=
    policy loss   rlev: rlev_fast's token objective (decoupled clip, dual clip = clip_ratio_c)
                  -> actor_rollout_ref.actor.policy_loss.loss_mode=rlev
    fused forward fused_kernels_backend "rlev_fast": log-probs and entropy from the final hidden states by
                  rlev_fast.fused_logprobs (Triton on CUDA, never the [N, V] logits)
                  -> actor_rollout_ref.model.use_fused_kernels=True
                     actor_rollout_ref.model.fused_kernel_options.impl_backend=rlev_fast
and `compute_score` is a custom reward function (reward.custom_reward_function.path=pkg://rlev_fast.
integrations.verl, name=compute_score) returning s(x) * correct. docs/integrations.md has the config.

How the value reaches the estimator. verl calls an estimator with the token-level rewards, the response
mask, the group index (uid) and the config, not with the prompt's value (and verl's v1 trainer fetches
only those fields for the advantage step). `compute_score` reads the value from the row's extra_info
(written by `python -m rlev_fast.integrations.verl_data`) and returns r = s(x) * correct, correct in
{0, 1}. Within a group s(x) is constant, so every reward of a group is 0 or s(x): `rlev_grpo` reads
s(x) back from the group's rewards (the nonzero ones; an all-zero group has no signal and no
advantage either way) and refuses a group whose rewards are not of that form, naming it. Where a
caller does pass `non_tensor_batch` (verl does for its gdpo estimator; a trainer of one's own can), an
"rlev_scale" entry there (compute_score's reward_extra_info) is used instead, which also covers
partial credit. Groups are found by uid, not by position: verl's _balance_batch reorders the batch.

Why no loss from hidden states through set_loss_fn. verl's engine hands the loss function only what
prepare_model_outputs extracts from the model output (log_probs, entropy), so a loss on hidden states
would have to patch verl's engine internals. The fusion happens one level lower instead, where verl
itself fuses: the patched forward computes log-probs and entropy from the hidden states without logits,
and verl's ppo_loss (with loss_mode=rlev, or verl's own) consumes them.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch

try:
    from verl.models.transformers import monkey_patch as _verl_monkey_patch
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, POLICY_LOSS_REGISTRY, agg_loss
    from verl.utils import torch_functional as verl_F
except ImportError as exc:  # pragma: no cover - exercised where verl is missing
    raise ImportError(f"rlev_fast.integrations.verl needs verl: pip install 'verl>=0.9' ({exc})") from exc

from ..advantages import ESTIMATORS, compute_advantages
from ..logprobs import fused_logprobs
from ..loss import FlatInputs, PolicyLossConfig, token_objective
from ..verify import verify
from .columns import answers_of, check_row_level_form, scale_of, values_of

__all__ = ["compute_score", "register_estimator", "setup_worker", "install_fused_forward", "rlev_policy_loss",
           "FUSED_BACKEND", "GROUP_LOCAL_ESTIMATORS"]

FUSED_BACKEND = "rlev_fast"  # fused_kernel_options.impl_backend
# Estimators whose advantage of a completion depends on its own group only: groups of different sizes
# can be computed size by size. The others (batch whitening) need one group size for the whole batch.
GROUP_LOCAL_ESTIMATORS = frozenset({"grpo", "dr_grpo", "rloo"})
_SCALE_RTOL = 1e-6


# ----------------------------------------------------------------------------------------------
# The reward: s(x) * correct
# ----------------------------------------------------------------------------------------------
def _row_value(extra_info: Optional[Dict[str, Any]]) -> float:
    info = extra_info if isinstance(extra_info, dict) else {}
    try:
        return float(values_of([info["value"]] if "value" in info else None,
                               [info.get("score")] if "score" in info else None,
                               [info.get("total")] if "total" in info else None)[0])
    except ValueError as exc:
        idx = info.get("index")
        raise ValueError(f"rlev compute_score: row{'' if idx is None else f' {idx}'}: extra_info needs 'value' or "
                         f"'score' and 'total' (python -m rlev_fast.integrations.verl_data writes them): {exc}") from None


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: Optional[Dict[str, Any]] = None,
                  alpha: float = 10.0, form: str = "rlev", **kwargs) -> Dict[str, float]:
    """verl's custom reward function: {"score": s(x) * correct, "acc": correct, "rlev_scale": s(x),
    "rlev_value": v}; correct by rlev_fast's verifier, v from extra_info. alpha / form come from
    reward.custom_reward_function.reward_kwargs."""
    check_row_level_form(form, "rlev compute_score")
    v = _row_value(extra_info)
    s = float(scale_of(torch.tensor([v], dtype=torch.float64), alpha, form)[0])
    gold = answers_of([ground_truth])[0]
    correct = 1.0 if verify(str(solution_str), gold) else 0.0
    return {"score": s * correct, "acc": correct, "rlev_scale": s, "rlev_value": v}


# ----------------------------------------------------------------------------------------------
# Estimators
# ----------------------------------------------------------------------------------------------
def _groups(index, n: int) -> Tuple[np.ndarray, np.ndarray]:
    """(group id per sample, samples ordered by group, stable), from verl's uid array (None: one group each)."""
    if index is None:
        gid = np.arange(n)
    else:
        uids = np.asarray(index, dtype=object)
        if uids.shape != (n,):
            raise ValueError(f"index (uid) has shape {uids.shape}, expected ({n},)")
        _, gid = np.unique(uids.astype(str), return_inverse=True)
    return gid, np.argsort(gid, kind="stable")


def _scale_from_rewards(r: torch.Tensor, gid: np.ndarray, index) -> torch.Tensor:
    """s(x) per sample read back from r = s(x) * correct, correct in {0, 1} (module docstring)."""
    s = torch.ones_like(r)
    g = torch.as_tensor(gid)
    for k in torch.unique(g).tolist():
        sel = g == k
        rk = r[sel]
        nz = rk[rk != 0]
        if nz.numel() == 0:
            continue  # all wrong: no signal, s(x) does not matter
        top = nz.max()
        if bool((nz <= 0).any()) or bool(((nz - top).abs() > _SCALE_RTOL * top.abs()).any()):
            uid = np.asarray(index, dtype=object)[int(torch.nonzero(sel)[0, 0])] if index is not None else k
            raise ValueError(
                f"rlev_grpo reads s(x) from rewards r = s(x) * correct with correct in {{0, 1}}, but group {uid!r} "
                f"has rewards [{', '.join(f'{x:.6g}' for x in sorted(set(rk.tolist())))}]; use rlev_fast's compute_score, or pass the scale as "
                f"non_tensor_batch['rlev_scale']")
        s[sel] = top
    return s


def _explicit_scale(non_tensor_batch, n: int) -> Optional[torch.Tensor]:
    if not non_tensor_batch or "rlev_scale" not in non_tensor_batch:
        return None
    s = torch.as_tensor(np.asarray(non_tensor_batch["rlev_scale"], dtype=np.float64))
    if s.shape != (n,):
        raise ValueError(f"non_tensor_batch['rlev_scale'] has shape {tuple(s.shape)}, expected ({n},)")
    return s


def _advantages_by_group(name: str, r, gid, order, scale, lengths, eps) -> torch.Tensor:
    """Our estimator on the samples regrouped by uid; group sizes may differ for group-local estimators."""
    counts = np.bincount(gid)
    out = torch.empty_like(r)
    sizes = np.unique(counts)
    if len(sizes) > 1 and name not in GROUP_LOCAL_ESTIMATORS:
        raise ValueError(f"estimator {name!r} whitens over the batch and needs one group size; groups here have "
                         f"sizes {sizes.tolist()}")
    for size in sizes:
        idx = torch.as_tensor(order[np.isin(gid[order], np.nonzero(counts == size)[0])])
        out[idx] = compute_advantages(r[idx], int(size), name, scale=None if scale is None else scale[idx],
                                      eps=eps, lengths=lengths[idx]).to(r.dtype)
    return out


def register_estimator(name: str, verl_name: Optional[str] = None) -> str:
    """Registers our estimator `name` (rlev_fast.advantages.ESTIMATORS) in verl's registry as `verl_name`
    (default "rlev_" + name); returns the verl name. Idempotent."""
    ESTIMATORS.check(name, "estimator")
    verl_name = verl_name or f"rlev_{name}"

    def estimator(token_level_rewards: torch.Tensor, response_mask: torch.Tensor, index=None,
                  epsilon: float = 1e-6, config=None, non_tensor_batch=None, **kwargs):
        with torch.no_grad():
            r = token_level_rewards.sum(dim=-1).double()
            n = r.numel()
            gid, order = _groups(index, n)
            scale = None
            if name == "grpo":
                scale = _explicit_scale(non_tensor_batch, n)
                if scale is None:
                    scale = _scale_from_rewards(r, gid, index)
            lengths = response_mask.sum(dim=-1).double()
            adv = _advantages_by_group(name, r, gid, order, scale, lengths, epsilon)
            adv = adv.to(token_level_rewards.dtype)[:, None] * response_mask
        return adv, adv

    estimator.__name__ = f"compute_{verl_name}_advantage"
    estimator.__doc__ = f"rlev_fast's {name!r} estimator for verl (rlev_fast.integrations.verl)."
    if getattr(ADV_ESTIMATOR_REGISTRY.get(verl_name), "_rlev_name", None) != name:
        estimator._rlev_name = name
        ADV_ESTIMATOR_REGISTRY[verl_name] = estimator
    return verl_name


# ----------------------------------------------------------------------------------------------
# Policy loss (verl's PolicyLossFn signature)
# ----------------------------------------------------------------------------------------------
def rlev_policy_loss(old_log_prob, log_prob, advantages, response_mask, loss_agg_mode: str = "token-mean",
                     config=None, rollout_is_weights=None):
    """rlev_fast's per-token objective (loss.token_objective) under verl's aggregation (agg_loss): clip
    range clip_ratio_low / clip_ratio_high, dual clip clip_ratio_c, log-ratio clamped at +-20. Equal to
    verl's "vanilla" loss; registered as loss_mode "rlev" so verl runs exactly the objective rlev_fast's
    own trainer optimizes."""
    clip = config.clip_ratio
    cfg = PolicyLossConfig(
        clip_low=config.clip_ratio_low if config.clip_ratio_low is not None else clip,
        clip_high=config.clip_ratio_high if config.clip_ratio_high is not None else clip,
        dual_clip=config.get("clip_ratio_c", 3.0))
    shape = log_prob.shape
    m = response_mask.to(log_prob.dtype).reshape(-1)
    flat = FlatInputs(hidden=None, weight=None, targets=None, target_valid=None, mask=m,
                      advantages=advantages.reshape(-1).to(log_prob.dtype), adv_per_seq=False, seq_ids=None,
                      num_seqs=shape[0], old_logprobs=old_log_prob.reshape(-1).to(log_prob.dtype), ref_logprobs=None,
                      weights=m, lead_shape=tuple(shape))  # token_objective reads advantages, mask, old, ref
    pg, _, _ = token_objective(log_prob.reshape(-1), flat, cfg)
    pg = pg.reshape(shape)
    if rollout_is_weights is not None:
        pg = pg * rollout_is_weights
    loss = agg_loss(loss_mat=pg, loss_mask=response_mask, loss_agg_mode=loss_agg_mode, **config.global_batch_info)
    with torch.no_grad():  # verl's vanilla metrics, by verl's definitions
        log_ratio = (log_prob - old_log_prob).clamp(-20.0, 20.0)
        ratio = log_ratio.exp()
        pg1, pg2 = -advantages * ratio, -advantages * ratio.clamp(1 - cfg.clip_low, 1 + cfg.clip_high)
        lower = (torch.maximum(pg1, pg2) > -advantages * cfg.dual_clip) & (advantages < 0)
        metrics = {
            "actor/pg_clipfrac": verl_F.masked_mean((pg2 > pg1).float(), response_mask).item(),
            "actor/ppo_kl": verl_F.masked_mean(-log_ratio, response_mask).item(),
            "actor/pg_clipfrac_lower": verl_F.masked_mean(lower.float(), response_mask).item(),
        }
    return loss, metrics


# ----------------------------------------------------------------------------------------------
# The fused forward: fused_kernels_backend = "rlev_fast"
# ----------------------------------------------------------------------------------------------
_VL_MODEL_TYPES = ("qwen2_5_vl", "qwen2_vl", "qwen3_vl", "qwen3_vl_moe", "glm4v", "qwen3_5", "qwen3_5_moe")


def _fused_forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                   inputs_embeds=None, labels=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                   return_dict=None, cache_position=None, logits_to_keep=0, temperature: float = 1.0,
                   shift_labels=None, **loss_kwargs):
    """verl's fused forward contract (dense_common.forward_with_torch_backend): log_probs and entropy of
    the next tokens, here by rlev_fast.fused_logprobs from the final hidden states."""
    from verl.models.transformers.dense_common import CausalLMOutputForPPO, forward_base_model

    outputs = forward_base_model(self, input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                 past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache,
                                 output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                                 cache_position=cache_position)
    hidden = outputs[0]
    if shift_labels is not None:
        targets = shift_labels
    elif labels is not None:
        targets = torch.roll(labels, shifts=-1, dims=-1)
    elif input_ids is not None:
        targets = torch.roll(input_ids, shifts=-1, dims=-1)
    else:
        raise RuntimeError("the rlev_fast fused forward needs labels, shift_labels or input_ids")
    weight = self.lm_head.weight
    if hidden.dtype != weight.dtype:
        hidden = hidden.to(weight.dtype)
    out = fused_logprobs(hidden, weight, targets, float(temperature), return_entropy=True)
    return CausalLMOutputForPPO(log_probs=out.logprobs, entropy=out.entropy, past_key_values=outputs.past_key_values,
                                hidden_states=outputs.hidden_states, attentions=outputs.attentions)


def install_fused_forward(model) -> None:
    """Sets the model class's forward to the rlev_fast fused forward (what verl's patch_forward_with_backends
    does for its own backends); dense text models only."""
    if model.config.model_type in _VL_MODEL_TYPES:
        raise ValueError(f"fused_kernels_backend={FUSED_BACKEND!r} supports dense text models; "
                         f"{model.config.model_type!r} needs verl's own 'triton' or 'torch' backend")
    model._verl_fused_kernels_backend = FUSED_BACKEND
    model.__class__.forward = _fused_forward


def _patch_verl_backends() -> None:
    """verl's patch_forward_with_backends, extended by the "rlev_fast" backend (idempotent)."""
    current = _verl_monkey_patch.patch_forward_with_backends
    if getattr(current, "_rlev", False):
        return

    def patch_forward_with_backends(model, use_fused_kernels: bool = False, fused_kernels_backend: str = None):
        if use_fused_kernels and fused_kernels_backend == FUSED_BACKEND:
            return install_fused_forward(model)
        return current(model, use_fused_kernels=use_fused_kernels, fused_kernels_backend=fused_kernels_backend)

    patch_forward_with_backends._rlev = True
    _verl_monkey_patch.patch_forward_with_backends = patch_forward_with_backends


# ----------------------------------------------------------------------------------------------
# Registration (at import, and in every Ray worker through worker_process_setup_hook)
# ----------------------------------------------------------------------------------------------
def setup_worker() -> None:
    """Registers everything in this process. verl runs its trainer and workers as Ray actors: pass
    +ray_kwargs.ray_init.runtime_env.worker_process_setup_hook=rlev_fast.integrations.verl.setup_worker."""
    for name in ESTIMATORS:
        register_estimator(name)
    POLICY_LOSS_REGISTRY["rlev"] = rlev_policy_loss
    _patch_verl_backends()


setup_worker()
