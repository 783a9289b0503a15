"""The metrics row of one RL step: the paper's metrics on the training batch, and the EOS statistics
of the fused loss (p(EOS) and d loss / d z_EOS) for the top and bottom 20% of prompts by value."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import torch

from ..metrics import (EOS_PROFILE_BINS, accuracy, by_value_bucket, h_acc, mean_length, nanmean, position_bins,
                       value_buckets)


def eos_stats(p_eos: torch.Tensor, eos_grad: torch.Tensor, mask: torch.Tensor, num_tokens: float) -> List[Optional[Dict]]:
    """Per sequence: mean p(EOS) over the response, p(EOS) at the last token, mean d loss / d z_EOS
    of the per-token loss (the fused loss's gradient times the token count), and the p(EOS) profile
    in EOS_PROFILE_BINS bins of relative position (None for an empty response)."""
    out: List[Optional[Dict]] = []
    p_eos, eos_grad, mask = p_eos.float().cpu(), eos_grad.float().cpu(), mask.float().cpu()
    lengths = mask.sum(1).tolist()
    by_len = {}  # L -> (bins, counts, counts > 0): the same for every response of that length
    nan = torch.full((EOS_PROFILE_BINS,), float("nan"))
    for i in range(p_eos.shape[0]):
        L = int(lengths[i])
        if L == 0:
            out.append(None)
            continue
        p = p_eos[i, :L]
        g = eos_grad[i, :L] * num_tokens
        if L not in by_len:
            bins = position_bins(L)
            cnt = torch.zeros(EOS_PROFILE_BINS).index_add_(0, bins, torch.ones(L))
            by_len[L] = (bins, cnt.clamp(min=1), cnt > 0)
        bins, cnt1, seen = by_len[L]
        prof = torch.zeros(EOS_PROFILE_BINS).index_add_(0, bins, p)
        prof = torch.where(seen, prof / cnt1, nan)
        out.append({"p_mean": float(p.mean()), "p_last": float(p[-1]), "grad_mean": float(g.mean()),
                    "profile": prof.tolist()})
    return out


def batch_metrics(values: Sequence[float], correct: Sequence[float], lengths: Sequence[float],
                  rewards: Sequence[float], eos: Sequence[Optional[Dict]]) -> Dict[str, Any]:
    """Training-batch metrics over all completions of the step (global)."""
    row: Dict[str, Any] = {
        "reward": float(sum(rewards) / len(rewards)),
        "acc": accuracy(correct),
        "h_acc": h_acc(correct, values) if sum(values) > 0 else None,
        "len_mean": mean_length(lengths),
    }
    b = by_value_bucket(values, correct, lengths)
    row.update({"acc_top": b["top_acc"], "acc_bottom": b["bottom_acc"],
                "len_top": b["top_length"], "len_bottom": b["bottom_length"]})
    top, bottom = value_buckets(values)
    for name, idx in (("top", top), ("bottom", bottom)):
        stats = [eos[i] for i in idx if eos[i] is not None]
        row[f"eos_p_{name}"] = nanmean([s["p_mean"] for s in stats])
        row[f"eos_p_last_{name}"] = nanmean([s["p_last"] for s in stats])
        row[f"eos_grad_{name}"] = nanmean([s["grad_mean"] for s in stats])
        row[f"eos_profile_{name}"] = [nanmean([s["profile"][j] for s in stats]) for j in range(EOS_PROFILE_BINS)]
    return row
