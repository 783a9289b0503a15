"""RLEV in TRL: `RLEVGRPOTrainer`, a GRPOTrainer with value-preserving advantages and the fused loss, and
`rlev_reward`, a plain TRL reward function for those who keep TRL's trainer as it is.

    from rlev_fast.integrations.trl import RLEVGRPOTrainer
    trainer = RLEVGRPOTrainer(model=model, args=GRPOConfig(...), train_dataset=ds, processing_class=tok)
    trainer.train()

The dataset has TRL's "prompt" column, the reference answer ("answer", or RLEV's "label") and the value
("value" in [0, 1], or RLEV's "score" and "total"). How it differs from the stock trainer (TRL 1.16):

- Rewards. The reward functions (default: `verifier_correctness`, rlev_fast's verifier, 1 or 0) give
  correctness c; the reward is r = s(x) c with s(x) = value_scale(v, alpha, scale_form).
- Advantages. TRL computes them inline in `_generate_and_score_completions` and has no hook for them;
  they are replaced after it by `compute_advantages(r, num_generations, estimator, scale=s, lengths=...)`
  on the batch gathered over processes (groups are contiguous there, as TRL's own `view(-1, G)` assumes).
  estimator "grpo" keeps s(x): A = s (c - mean c) / (std c + eps), where TRL's standardization would
  divide it out. TRL's scale_rewards / multi_objective_aggregation no longer apply. Any registered
  estimator works (dr_grpo, rloo, reinforce_pp, reinforce_pp_token, reinforce_pp_baseline).
- Loss (`_compute_loss`). The final hidden states (the model's decoder, through the model's own forward
  so DDP hooks run) go to `rlev_fast.policy_loss`, which never holds the [B, T, V] logits; TRL's
  loss_type maps to our aggregation (grpo: seq-mean-token-mean, bnpo: token-mean, dr_grpo:
  seq-mean-token-sum-norm over max_completion_length, dapo: token-mean over TRL's num_items_in_batch
  normalizer), epsilon / epsilon_high to the clip range, beta to a k3 KL, importance_sampling_level
  "sequence" to GSPO. Options our loss does not implement (cispo, sapo, vespo, luspo, delta, the
  entropy mask, off-policy masking, vLLM importance sampling, an entropy bonus outside bnpo) are refused
  at construction; pass fused_loss=False to keep TRL's loss with our advantages.
- Metrics. Besides TRL's: rlev/reward (s c), rlev/acc, rlev/h_acc, rlev/scale, and the EOS statistics of
  the fused loss by value bucket: rlev/eos_p_{top,bottom} (mean p(EOS) over the response),
  rlev/eos_p_last_{top,bottom}, rlev/eos_grad_{top,bottom} (mean d loss_t / d z_EOS), top and bottom 20%
  of the micro-batch's completions by value (rlev_fast.metrics.value_buckets).
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Optional

import torch

try:
    import datasets
    from accelerate.utils import gather, gather_object, is_peft_model
    from trl import GRPOTrainer
except ImportError as exc:  # pragma: no cover - exercised where trl is missing
    raise ImportError(f"rlev_fast.integrations.trl needs TRL: pip install 'trl>=1.16' ({exc})") from exc

from ..advantages import ESTIMATORS, compute_advantages
from ..loss import LOSS_BACKENDS, PolicyLossConfig, policy_loss
from ..metrics import nanmean, value_buckets
from ..policy import final_hidden_states, lm_head_weight
from ..rewards import SCALE_FORMS
from ..trainer.batch_metrics import eos_stats
from ..verify import verify_batch
from .columns import answers_of, check_row_level_form, completion_text, scale_of, values_of, values_of_rows

SCALE_COLUMN = "rlev_scale"  # s(x) per row, added to the train dataset by RLEVGRPOTrainer

__all__ = ["RLEVGRPOTrainer", "TRL_LOSS_AGGS", "make_rlev_reward", "rlev_reward", "rows_for_trl", "verifier_correctness"]


# ----------------------------------------------------------------------------------------------
# Reward functions (TRL's signature: prompts, completions, **dataset columns)
# ----------------------------------------------------------------------------------------------
def verifier_correctness(prompts, completions, answer=None, label=None, **kwargs) -> List[float]:
    """1.0 where rlev_fast's verifier accepts the completion's answer, else 0.0 (TRL reward function)."""
    golds = answers_of(answer, label)
    return [float(ok) for ok in verify_batch([completion_text(c) for c in completions], golds)]


def make_rlev_reward(alpha: float = 10.0, form: str = "rlev", seed: int = 0) -> Callable[..., List[float]]:
    """A TRL reward function r = s(x) * correct with the given scale (TRL names the metric after it)."""
    SCALE_FORMS.check(form, "form")
    check_row_level_form(form, "make_rlev_reward")

    def rlev_reward(prompts, completions, answer=None, label=None, value=None, score=None, total=None,
                    **kwargs) -> List[float]:
        correct = verifier_correctness(prompts, completions, answer=answer, label=label)
        s = scale_of(values_of(value, score, total), alpha, form, seed)
        return [float(si) * c for si, c in zip(s.tolist(), correct)]

    rlev_reward.__doc__ = (f"TRL reward function: s(x) * correct, s = value_scale(v, alpha={alpha}, form={form!r}); "
                           "v from the 'value' column or 'score' / 'total', the answer from 'answer' or 'label'.")
    return rlev_reward


# The plain reward for TRL's own GRPOTrainer: GRPOTrainer(..., reward_funcs=rlev_reward). Note that TRL's
# group standardization then divides s(x) out again (scale_rewards="group"); scale_rewards="none" (Dr.
# GRPO) or "batch" keep it, and RLEVGRPOTrainer keeps it with the GRPO standardization.
rlev_reward = make_rlev_reward()


# ----------------------------------------------------------------------------------------------
# TRL loss_type -> our aggregation
# ----------------------------------------------------------------------------------------------
# loss_type -> (loss_agg, divide by the accumulation steps like TRL does)
TRL_LOSS_AGGS: Dict[str, tuple] = {
    "grpo": ("seq-mean-token-mean", True),
    "bnpo": ("token-mean", True),
    "dr_grpo": ("seq-mean-token-sum-norm", True),
    "dapo": ("token-mean", False),
}


def _refusals(trainer: GRPOTrainer) -> List[str]:
    """What the fused loss does not implement, in this trainer's settings."""
    a = trainer.args
    out = []
    if trainer.loss_type not in TRL_LOSS_AGGS:
        out.append(f"loss_type={trainer.loss_type!r} (supported: {', '.join(TRL_LOSS_AGGS)})")
    if getattr(a, "delta", None) is not None:
        out.append("delta (two-sided clipping)")
    if trainer.top_entropy_quantile < 1.0:
        out.append("top_entropy_quantile < 1 (entropy mask)")
    if trainer.off_policy_mask_threshold is not None:
        out.append("off_policy_mask_threshold")
    if trainer.use_vllm and trainer.vllm_importance_sampling_correction:
        out.append("vLLM importance sampling correction (vllm_importance_sampling_correction=False)")
    if trainer.use_adaptive_entropy:
        out.append("use_adaptive_entropy")
    if trainer.entropy_coef != 0.0 and trainer.loss_type != "bnpo":
        out.append(f"entropy_coef with loss_type={trainer.loss_type!r} (TRL averages the entropy bonus over tokens, "
                   "which our aggregation matches for 'bnpo' only)")
    if getattr(a, "use_bias_correction_kl", False) and trainer.beta != 0.0:
        out.append("use_bias_correction_kl (TRL's default: the KL term times the ratio; set it False for the "
                   "plain k3 KL)")
    if trainer.aux_loss_enabled:
        out.append("an MoE router auxiliary loss")
    return out


def _eos_token_id(processing_class) -> Optional[int]:
    tok = getattr(processing_class, "tokenizer", processing_class)
    eos = getattr(tok, "eos_token_id", None)
    return eos[0] if isinstance(eos, (list, tuple)) and eos else eos


# ----------------------------------------------------------------------------------------------
# The trainer
# ----------------------------------------------------------------------------------------------
class RLEVGRPOTrainer(GRPOTrainer):
    """GRPOTrainer with RLEV rewards, value-preserving advantages and rlev_fast's fused loss (module
    docstring). Extra keyword arguments:

    alpha, scale_form: s(x) = value_scale(v, alpha, scale_form) (default 1 + min(10 v, 1)).
    estimator: the advantage estimator (rlev_fast.advantages.ESTIMATORS; default "grpo", keeping s(x)).
    fused_loss: compute the loss with rlev_fast.policy_loss from hidden states (default True).
    loss_backend: its backend ("auto": triton on CUDA, chunked elsewhere).
    reward_funcs default to [verifier_correctness]: their (weighted) sum is the correctness c.
    """

    def __init__(self, model, reward_funcs=None, args=None, train_dataset=None, *a, alpha: float = 10.0,
                 scale_form: str = "rlev", estimator: str = "grpo", fused_loss: bool = True,
                 loss_backend: str = "auto", **kw):
        self.rlev_estimator = ESTIMATORS.check(estimator, "estimator")
        self.rlev_scale_form = SCALE_FORMS.check(scale_form, "scale_form")
        self.rlev_alpha = float(alpha)
        scale_of(torch.zeros(1), self.rlev_alpha, self.rlev_scale_form)  # a bad alpha fails here
        self.rlev_fused_loss = bool(fused_loss)
        self.rlev_loss_backend = LOSS_BACKENDS.check(loss_backend, "loss_backend") if loss_backend != "auto" else "auto"
        train_dataset = self._with_scale_column(train_dataset)
        super().__init__(model, reward_funcs if reward_funcs is not None else [verifier_correctness], args,
                         train_dataset, *a, **kw)
        if self.rlev_fused_loss:
            refused = _refusals(self)
            if refused:
                raise ValueError("RLEVGRPOTrainer's fused loss does not implement: " + "; ".join(refused)
                                 + ". Change these settings or pass fused_loss=False (TRL's loss, our advantages).")
            self._add_hidden_state_forward()
        self._rlev_pending: Optional[tuple] = None
        self._rlev_eos_id = _eos_token_id(self.processing_class)

    def _with_scale_column(self, dataset):
        """The train dataset with s(x) per row as column SCALE_COLUMN, computed over the whole set (so that
        the set-level forms uniform / shuffled mean what they mean in rlev_fast.train)."""
        if not isinstance(dataset, datasets.Dataset):
            check_row_level_form(self.rlev_scale_form, "RLEVGRPOTrainer with a streaming dataset")
            return dataset
        cols = {k: dataset[k] for k in ("value", "score", "total") if k in dataset.column_names}
        s = scale_of(values_of(cols.get("value"), cols.get("score"), cols.get("total")), self.rlev_alpha,
                     self.rlev_scale_form)
        if SCALE_COLUMN in dataset.column_names:
            dataset = dataset.remove_columns(SCALE_COLUMN)
        return dataset.add_column(SCALE_COLUMN, s.tolist())

    # -- hidden states through the model's own forward -------------------------------------------
    def _add_hidden_state_forward(self) -> None:
        """model(..., rlev_hidden_states=True) returns the final hidden states (no lm_head). Going through
        the (possibly DDP-wrapped) model's forward keeps its hooks; TRL patched that forward with its
        own fused head before, which stays the path of every other call."""
        base = self.model.get_base_model() if is_peft_model(self.model) else self.model
        inner = base.forward

        @functools.wraps(inner)  # generate() validates its kwargs against this signature, as TRL's own patch keeps it
        def forward(*args, rlev_hidden_states: bool = False, **kwargs):
            if not rlev_hidden_states:
                return inner(*args, **kwargs)
            return final_hidden_states(base, kwargs.pop("input_ids"), kwargs.pop("attention_mask", None), **kwargs)

        base.forward = forward

    # -- rewards and advantages ------------------------------------------------------------------
    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        values = values_of_rows(inputs)
        if inputs and all(SCALE_COLUMN in row for row in inputs):  # computed over the train set
            s = torch.tensor([float(row[SCALE_COLUMN]) for row in inputs], dtype=torch.float64)
        else:  # evaluation rows, streaming data: row-level forms only
            check_row_level_form(self.rlev_scale_form, "RLEVGRPOTrainer on rows without rlev_scale")
            s = scale_of(values, self.rlev_alpha, self.rlev_scale_form)
        device = rewards_per_func.device
        self._rlev_pending = (rewards_per_func, gather(s.to(device)), gather(values.to(device)), values)
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        out = super()._generate_and_score_completions(inputs)
        rewards_per_func, s_all, v_all, v_local = self._rlev_pending
        self._rlev_pending = None
        mode = "train" if self.model.training else "eval"
        G = self.num_generations if mode == "train" else self.num_generations_eval
        unscorable = torch.isnan(rewards_per_func).all(dim=1)
        correct = (rewards_per_func * self.reward_weights.to(rewards_per_func.device)[None]).nansum(dim=1)
        correct = torch.where(unscorable, torch.zeros_like(correct), correct).double()
        rewards = s_all.double() * correct
        lengths = gather(out["completion_mask"].sum(dim=1).double())
        adv = compute_advantages(rewards.cpu(), G, self.rlev_estimator, scale=s_all.cpu(), lengths=lengths.cpu())
        adv = torch.where(unscorable.cpu(), torch.zeros_like(adv), adv)  # no signal, as in TRL
        n_local = out["completion_ids"].size(0)
        start = self.accelerator.process_index * n_local
        out["advantages"] = adv[start:start + n_local].to(out["completion_ids"].device)
        out["rlev_values"] = v_local.to(device=out["completion_ids"].device, dtype=torch.float32)
        logged = self._logs.get("advantages")
        if logged is not None and len(logged) >= adv.numel():  # TRL logged its own advantages: replace them
            for _ in range(adv.numel()):
                logged.pop()
            logged.extend(adv.tolist())
        m = self._metrics[mode]
        m["rlev/reward"].append(float(rewards.mean()))
        m["rlev/scale"].append(float(s_all.double().mean()))
        m["rlev/acc"].append(float(correct.mean()))
        if float(v_all.sum()) > 0:
            m["rlev/h_acc"].append(float((v_all.double() * correct).sum() / v_all.double().sum()))
        return out

    # -- the loss ----------------------------------------------------------------------------------
    def _rlev_loss_config(self, mode: str) -> PolicyLossConfig:
        agg, _ = TRL_LOSS_AGGS[self.loss_type]
        return PolicyLossConfig(
            clip_low=self.epsilon_low, clip_high=self.epsilon_high, kl_coef=self.beta, kl_estimator="k3",
            entropy_coef=self.entropy_coef, compute_entropy=True, loss_agg=agg,
            norm_constant=float(self.max_completion_length) if self.loss_type == "dr_grpo" else None,
            ratio_level="sequence" if self.importance_sampling_level == "sequence" else "token",
            temperature=self.temperature, eos_token_id=self._rlev_eos_id if mode == "train" else None)

    def _compute_loss(self, model, inputs):
        if not self.rlev_fused_loss:
            return super()._compute_loss(model, inputs)
        mode = "train" if self.model.training else "eval"
        completion_ids, completion_mask = inputs["completion_ids"], inputs["completion_mask"]
        input_ids = torch.cat([inputs["prompt_ids"], completion_ids], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], completion_mask], dim=1)
        T = completion_ids.size(1)
        mask = completion_mask if "tool_mask" not in inputs else completion_mask * inputs["tool_mask"]
        with self.accelerator.autocast():
            hidden = model(input_ids=input_ids, attention_mask=attention_mask, rlev_hidden_states=True)
        hidden = hidden[:, -T - 1:-1]  # (B, T, H): the positions that predict the completion tokens
        weight = lm_head_weight(self.accelerator.unwrap_model(model))
        if hidden.dtype != weight.dtype:
            hidden = hidden.to(weight.dtype)
        agg, per_step = TRL_LOSS_AGGS[self.loss_type]
        num_tokens = None
        if self.loss_type == "dapo":  # TRL's normalizer: num_items_in_batch over one accumulation window
            num_tokens = inputs["num_items_in_batch"].clamp(min=1.0) / self.accelerator.num_processes
            if mode == "train":
                num_tokens = num_tokens * self.current_gradient_accumulation_steps / self.args.steps_per_generation
        out = policy_loss(hidden, weight, completion_ids, inputs["advantages"].float(), mask,
                          old_logprobs=inputs.get("old_per_token_logps"),
                          ref_logprobs=inputs.get("ref_per_token_logps") if self.beta != 0.0 else None,
                          num_tokens=num_tokens, config=self._rlev_loss_config(mode), backend=self.rlev_loss_backend)
        loss = out.loss
        if per_step and mode == "train":
            loss = loss / self.current_gradient_accumulation_steps
        m = self._metrics[mode]
        m["entropy"].append(self.accelerator.gather(out.entropy).mean().item())
        m["clip_ratio/region_mean"].append(self.accelerator.gather(out.clip_frac).mean().item())
        if out.kl is not None:
            m["kl"].append(self.accelerator.gather(out.kl).mean().item())
        if out.p_eos is not None and "rlev_values" in inputs:
            self._log_eos(out, mask, inputs["rlev_values"], m)
        return loss

    def _log_eos(self, out, mask, values, m) -> None:
        """p(EOS) and d loss_t / d z_EOS (the per-token loss's gradient: the fused loss's eos_grad over
        the aggregation weight of its sequence) for the top and bottom 20% of completions by value."""
        lengths = mask.sum(dim=1).clamp(min=1.0)
        agg = TRL_LOSS_AGGS[self.loss_type][0]
        n = float(mask.sum().clamp(min=1.0))
        B = mask.size(0)
        if agg == "seq-mean-token-mean":
            inv_w = (B * lengths)[:, None]
        elif agg == "seq-mean-token-sum-norm":
            inv_w = torch.full_like(lengths, B * float(self.max_completion_length))[:, None]
        else:
            inv_w = torch.full_like(lengths, n)[:, None]
        stats = eos_stats(out.p_eos, out.eos_grad * inv_w.to(out.eos_grad.dtype), mask, 1.0)
        rows = [r for part in gather_object([list(zip(values.tolist(), stats))]) for r in part]
        vals = [v for v, _ in rows]
        top, bottom = value_buckets(vals)
        for name, idx in (("top", top), ("bottom", bottom)):
            st = [rows[i][1] for i in idx if rows[i][1] is not None]
            for key, field in (("eos_p", "p_mean"), ("eos_p_last", "p_last"), ("eos_grad", "grad_mean")):
                x = nanmean([s[field] for s in st])
                if x is not None:
                    m[f"rlev/{key}_{name}"].append(x)


def rows_for_trl(examples, conversational: bool = False) -> List[Dict[str, Any]]:
    """rlev_fast Examples (rlev_fast.data, read_jsonl) as TRL dataset rows {prompt, answer, value}:
    datasets.Dataset.from_list(rows_for_trl(examples)). conversational=True makes each prompt that is
    not already chat-templated one user message, so TRL applies the model's chat template."""
    return [{"prompt": [{"role": "user", "content": ex.prompt}] if conversational and not ex.templated else ex.prompt,
             "answer": ex.answer, "value": float(ex.value)} for ex in examples]

