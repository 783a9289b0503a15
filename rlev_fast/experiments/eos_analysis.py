"""The paper's EOS mechanism, measured with the fused loss's `p_eos` and `eos_grad`.

Eq. 13 of the paper: dJ/dz_eos = s(x) pi_e (1 - pi_e) (p_e - p_not_e): the value scale s(x)
multiplies the gradient on the end-of-sequence logit. For a policy and a held-out exam this module

1. decodes greedily, verifies the answers and builds the reward r = s(x) * correct of the chosen
   reward form (rlev, correctness, ...);
2. runs `policy_loss` on the final hidden states with per-sequence advantages A = r (the
   REINFORCE form of J = E[r]), `loss_agg="seq-mean-token-sum"` and `eos_token_id` set, so that
   `eos_grad` at a sequence's terminal position is -(A / S)(1 - p_eos): the measured d loss / d z_eos;
3. reports, for the top and bottom 20% of prompts by value: p(EOS) along the response in tenths of
   its length (the paper's Figure 2); at the terminal positions of correct responses, the mean
   |d loss / d z_eos| (scaled by S to be per sequence) and its top/bottom ratio; the "value factor"
   |d loss / d z_eos| / (1 - p_eos), whose top/bottom ratio Eq. 13 says is the ratio of s(x); and
   the ratio of mean s(x) itself. The raw ratio also carries (1 - p_eos), which is tiny and noisy
   for a policy that is sure where to stop, so the value factor is the quantity to compare.
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import torch

from ..loss import PolicyLossConfig, policy_loss
from ..metrics import EOS_PROFILE_BINS, position_bins, value_buckets
from ..rewards import value_scale

def eos_profile(p_eos: torch.Tensor, mask: torch.Tensor, rows: Sequence[int], bins: int = EOS_PROFILE_BINS) -> List[float]:
    """Mean p(EOS) in each tenth (bins) of the response, over `rows`. p_eos, mask: (B, R)."""
    sums = torch.zeros(bins, dtype=torch.float64)
    counts = torch.zeros(bins, dtype=torch.float64)
    for i in rows:
        n = int(mask[i].sum())
        if n == 0:
            continue
        b = position_bins(n, bins)
        sums.index_add_(0, b, p_eos[i, :n].double())
        counts.index_add_(0, b, torch.ones(n, dtype=torch.float64))
    return [float(s / c) if c > 0 else float("nan") for s, c in zip(sums, counts)]


@torch.no_grad()
def _decode(model, tokenizer, prompts, max_new_tokens, batch_size):
    from ..rollout import HFRollout, RolloutConfig

    rollout = HFRollout(model, tokenizer, RolloutConfig(n=1, max_new_tokens=max_new_tokens, batch_size=batch_size))
    return rollout.generate(prompts, greedy=True)


def eos_analysis(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Any],
    form: str = "rlev",
    alpha: float = 10.0,
    max_new_tokens: int = 48,
    batch_size: int = 64,
    fraction: float = 0.2,
    backend: str = "auto",
) -> Dict[str, Any]:
    """EOS statistics of `model` on `examples` (rlev_fast.data.Example). See the module docstring."""
    from ..data import format_prompt
    from ..policy import final_hidden_states, lm_head_weight
    from ..verify import verify_batch

    if not examples:
        raise ValueError("eos_analysis needs at least one example")
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the tokenizer has no EOS token")
    prompts = [format_prompt(e, tokenizer) for e in examples]
    ro = _decode(model, tokenizer, prompts, max_new_tokens, batch_size)
    correct = torch.tensor(verify_batch(ro.texts, [e.answer for e in examples]), dtype=torch.float32)
    values = [float(e.value) for e in examples]
    s = value_scale(values, alpha=alpha, form=form)
    rewards = s * correct

    P, B = ro.prompt_width, ro.num_sequences
    mask = ro.response_mask  # (B, R)
    R = mask.shape[1]
    with torch.no_grad():
        hidden = final_hidden_states(model, ro.input_ids, ro.attention_mask)  # (B, P + R, H)
    h = hidden[:, P - 1 : P - 1 + R].detach()  # (B, R, H): the state that predicts response token t
    targets = ro.input_ids[:, P : P + R]  # (B, R)
    W = lm_head_weight(model).detach()
    cfg = PolicyLossConfig(eos_token_id=eos, loss_agg="seq-mean-token-sum")
    with torch.enable_grad():
        out = policy_loss(h.float(), W.float(), targets, rewards, mask, config=cfg, backend=backend)
    p_eos, eos_grad = out.p_eos.detach(), out.eos_grad.detach()  # (B, R)

    lengths = mask.sum(1).long()
    term = (lengths - 1).clamp(min=0)
    rows = torch.arange(B)
    ended = ro.finished & (lengths > 0)
    terminal_grad = eos_grad[rows, term].abs() * B  # per sequence: s(x) * correct * (1 - p_eos)
    terminal_p = p_eos[rows, term]
    # |dL/dz_eos| / (1 - p_eos): Eq. 13's value factor; p_eos == 1 in fp32 leaves it undefined (NaN)
    value_factor = torch.where(terminal_p < 1, terminal_grad / (1 - terminal_p), torch.full_like(terminal_p, float("nan")))

    top, bottom = value_buckets(values, fraction)
    result: Dict[str, Any] = {"form": form, "alpha": alpha, "n": B, "acc": float(correct.mean())}
    for name, idx in (("top", top), ("bottom", bottom)):
        sel = torch.tensor([i for i in idx if bool(ended[i]) and correct[i] > 0], dtype=torch.long)
        result[f"{name}_profile"] = eos_profile(p_eos, mask, idx)
        result[f"{name}_mean_s"] = float(s[idx].mean())
        result[f"{name}_length"] = float(lengths[idx].float().mean())
        result[f"{name}_terminal_n"] = int(sel.numel())
        if sel.numel():
            result[f"{name}_eos_grad"] = float(terminal_grad[sel].mean())
            result[f"{name}_terminal_p_eos"] = float(terminal_p[sel].mean())
            result[f"{name}_mean_s_terminal"] = float(s[sel].mean())
            vf = value_factor[sel]
            vf = vf[~torch.isnan(vf)]
            result[f"{name}_value_factor"] = float(vf.mean()) if vf.numel() else float("nan")
        else:
            result[f"{name}_eos_grad"] = result[f"{name}_terminal_p_eos"] = float("nan")
            result[f"{name}_value_factor"] = result[f"{name}_mean_s_terminal"] = float("nan")
    result["grad_ratio"] = _ratio(result["top_eos_grad"], result["bottom_eos_grad"])
    # over the same correct, finished responses as the gradients
    result["s_ratio"] = _ratio(result["top_mean_s_terminal"], result["bottom_mean_s_terminal"])
    result["value_factor_ratio"] = _ratio(result["top_value_factor"], result["bottom_value_factor"])
    return result


def _ratio(a: float, b: float) -> float:
    return a / b if b == b and b != 0 and a == a else float("nan")
