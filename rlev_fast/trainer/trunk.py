"""The model the trainer differentiates: final hidden states of the response tokens, no logits.

`PolicyTrunk` is the module DDP / FSDP2 wrap. Two ways it avoids work a plain forward would do,
both exact (tests/trainer/test_trunk.py checks hidden states and gradients against the plain
forward):

- length buckets: a micro-batch is cut into a few row ranges ("segments") of similar response
  length, each run on its own width (`length_buckets`, `bucket_segments`), so short answers are
  not padded to the longest;
- the shared prompt: the n completions of a prompt run that prompt once (`share_index`), with its
  KV cache gathered for every row.
"""
from __future__ import annotations

from typing import List, Sequence

import torch
import torch.nn as nn

from ..policy import decoder_of, final_hidden_states, lm_head_weight
from ..rollout import cache_kwarg, cache_tensors


class PolicyTrunk(nn.Module):
    """The module DDP / FSDP2 wrap. forward returns the final hidden states that predict the response
    tokens (h[:, t] scores token P + t) and the lm_head weight W (V, H); no logits. Returning W from
    forward keeps it inside the wrapper's forward, where FSDP2 has it unsharded.

    segments: [(start, stop, width)], contiguous row ranges of the batch, each run on its first
    `width` response columns (length buckets: short answers are not padded to the longest); forward
    then returns a list of (stop - start, width, H) hidden states, one per segment, else one (S, R, H).

    share = (rep, inv): rows whose prompts are identical (the n completions of a group) run their
    prompt once for all segments: the prompts of the representative rows `rep` (U,) are encoded with
    a KV cache, each segment gathers the cache of its rows by `inv` (S,) (differentiable, so the
    prompt gets the gradient of all its completions) and runs its responses on top of it. The same
    function as the full forward (positions and masks identical), on P * U + sum(width * rows)
    tokens instead of (P + R) * S."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, prompt_width: int, share=None, segments=None):
        P = prompt_width
        segs = segments if segments is not None else [(0, input_ids.shape[0], input_ids.shape[1] - P)]
        hs = []
        if share is None:
            for a, b, w in segs:
                # Position t predicts token t + 1: the last response token is never an input.
                hidden = final_hidden_states(self.model, input_ids[a:b, : P + w - 1], attention_mask[a:b, : P + w - 1])
                hs.append(hidden[:, P - 1 :])  # (rows, w, H)
        else:
            from transformers import DynamicCache

            rep, inv = (t.to(input_ids.device) for t in share)  # index_select wants its index on the data's device
            decoder = decoder_of(self.model)
            prompt_cache = DynamicCache(config=self.model.config)
            hp = final_hidden_states(self.model, input_ids[rep, :P], attention_mask[rep, :P],
                                     **cache_kwarg(decoder, prompt_cache))  # (U, P, H)
            kv = cache_tensors(prompt_cache)  # per layer: keys, values (U, heads, P, d)
            for a, b, w in segs:
                sel = inv[a:b]
                first = hp[:, -1:].index_select(0, sel)  # (rows, 1, H): predicts response token 0
                if w == 1:
                    hs.append(first)
                    continue
                cache = DynamicCache(config=self.model.config)
                for layer, (k, v) in enumerate(kv):  # every row gets its prompt's keys and values
                    cache.update(k.index_select(0, sel), v.index_select(0, sel), layer)
                # Response tokens 0 .. w - 2 predict tokens 1 .. w - 1 (the last one is never an input).
                hr = final_hidden_states(self.model, input_ids[a:b, P : P + w - 1], attention_mask[a:b, : P + w - 1],
                                         **cache_kwarg(decoder, cache))  # (rows, w - 1, H)
                hs.append(torch.cat([first, hr], dim=1))
        return (hs if segments is not None else hs[0]), lm_head_weight(self.model)


def share_index(rows: Sequence[int], group_size: int):
    """(rep, inv) for PolicyTrunk: one representative row per group present in `rows` (positions
    within the micro-batch), or None when no two rows share a prompt."""
    groups = torch.tensor([r // group_size for r in rows])
    uniq, inv = torch.unique(groups, return_inverse=True)
    if uniq.numel() == len(rows):
        return None
    first = {}
    for pos, g in enumerate(groups.tolist()):
        first.setdefault(g, pos)
    rep = torch.tensor([first[g] for g in uniq.tolist()])
    return rep, inv


def bucket_segments(groups: List[List[int]], lengths: List[int]):
    """Rows of length buckets laid end to end: (order, segments) with order the concatenated rows
    and segments [(start, stop, width)] for PolicyTrunk, width = the bucket's longest response."""
    order, segments = [], []
    for g in groups:
        segments.append((len(order), len(order) + len(g), max(1, max(lengths[r] for r in g))))
        order.extend(g)
    return order, segments


BUCKET_OVERHEAD_TOKENS = 256  # a forward/backward call costs about as much as this many more padded tokens


def length_buckets(rows: List[int], lengths: List[int], max_buckets: int) -> List[List[int]]:
    """Splits `rows` into at most `max_buckets` groups of similar response length, minimizing the
    padded response tokens (rows x longest in the group) plus a per-group overhead (DP over the
    rows sorted by length)."""
    if max_buckets <= 1 or len(rows) <= 1:
        return [rows]
    import numpy as np

    order = sorted(rows, key=lambda r: lengths[r])
    L = [max(1, lengths[r]) for r in order]
    n = len(order)
    INF = float("inf")
    # best[k][i]: cost of splitting the first i sorted rows into k groups; cut[k][i]: where the last starts
    best = np.full((max_buckets + 1, n + 1), INF)
    cut = np.zeros((max_buckets + 1, n + 1), dtype=np.int64)
    best[0][0] = 0.0
    starts = np.arange(n + 1, dtype=np.int64)
    for k in range(1, max_buckets + 1):
        prev = best[k - 1]
        for i in range(k, n + 1):
            # candidates s = k-1 .. i-1, the first minimum on ties (the strict < of a loop over s)
            c = prev[k - 1 : i] + (i - starts[k - 1 : i]) * L[i - 1] + BUCKET_OVERHEAD_TOKENS
            j = int(np.argmin(c))
            best[k][i], cut[k][i] = c[j], k - 1 + j
    best, cut = best.tolist(), cut.tolist()
    k = min(range(1, max_buckets + 1), key=lambda kk: best[kk][n])
    out, i = [], n
    while k > 0:
        s = cut[k][i]
        out.append(order[s:i])
        i, k = s, k - 1
    return [sorted(g) for g in reversed(out)]


