"""The model the trainer differentiates: final hidden states of the response tokens, no logits.

`PolicyTrunk` is the module DDP / FSDP2 wrap. It runs a micro-batch one of two ways:

- packed (the default where the model takes it): the micro-batch's sequences end to end in one
  row without padding, positions restarting per sequence, each prompt once for all its completions
  (rlev_fast/packing.py), attention through the variable-length kernels of
  rlev_fast/varlen_attention.py; the trunk returns the [T, H] hidden states that predict the T
  response tokens. `PolicyTrunk(model, packing=...)` probes the model once (a packed forward of two
  short documents against separate forwards): a model whose attention cannot take a packed row runs
  padded, and `packing_note` says why;
- padded (the fallback, and --packing off): rows padded to a width, cut into a few length buckets
  ("segments", `length_buckets`, `bucket_segments`) so short answers are not padded to the longest,
  with the shared prompt (`share_index`): the n completions of a prompt run that prompt once, its KV
  cache gathered for every row.

All of them compute the plain forward's function (tests/trainer/test_trunk.py and
test_packed_update.py check hidden states, losses and gradients against it). `forward_pieces` runs
one trunk call either way and returns `Piece`s: hidden states together with where they sit in the
batch's (S, R) response tensors, so that the update computes the loss the same way for both.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..packing import PackedBatch, pack_rows
from ..policy import decoder_of, final_hidden_states, lm_head_weight
from ..rollout import cache_kwarg, cache_tensors
from ..varlen_attention import PackingUnsupported, packed_forward, packing_support

PACKING_MODES = ("auto", "on", "off")


def decide_packing(model, packing: str, varlen_attention: str, autocast=contextlib.nullcontext) -> Tuple[bool, str]:
    """(packed, note) for a model: --packing off, or the probe's verdict (auto falls back to padded
    micro-batches; on makes an unsupported model an error)."""
    if packing not in PACKING_MODES:
        raise ValueError(f"packing must be one of {', '.join(PACKING_MODES)}; got {packing!r}")
    if packing == "off":
        return False, "padded micro-batches (--packing off)"
    ok, why = packing_support(model, varlen_attention, autocast)
    if ok:
        return True, f"packed micro-batches, no padding (varlen attention: {why})"
    if packing == "on":
        raise PackingUnsupported(f"--packing on: {why}; use --packing auto (padded micro-batches) instead")
    return False, f"padded micro-batches: packing is off for this model ({why})"


class PolicyTrunk(nn.Module):
    """The module DDP / FSDP2 wrap. forward returns the final hidden states that predict the response
    tokens and the lm_head weight W (V, H); no logits. Returning W from forward keeps it inside the
    wrapper's forward, where FSDP2 has it unsharded.

    packed=PackedBatch: one packed row; returns (T, H), T = its response tokens, sequence by sequence.
    packing: auto | on | off (decide_packing); varlen_attention: a VARLEN_BACKENDS name or auto;
    autocast: the precision the trainer runs the model in (the probe runs in it).

    Padded input (input_ids, attention_mask (S, P + R), prompt_width P): h[:, t] scores token P + t.

    segments: [(start, stop, width)], contiguous row ranges of the batch, each run on its first
    `width` response columns (length buckets: short answers are not padded to the longest); forward
    then returns a list of (stop - start, width, H) hidden states, one per segment, else one (S, R, H).

    Positions count from each row's first real token (`positions`), as the samplers number them.

    share = (rep, inv): rows whose prompts are identical (the n completions of a group) run their
    prompt once for all segments: the prompts of the representative rows `rep` (U,) are encoded with
    a KV cache, each segment gathers the cache of its rows by `inv` (S,) (differentiable, so the
    prompt gets the gradient of all its completions) and runs its responses on top of it. The same
    function as the full forward (positions and masks identical), on P * U + sum(width * rows)
    tokens instead of (P + R) * S."""

    def __init__(self, model: nn.Module, packing: str = "auto", varlen_attention: str = "auto",
                 autocast=contextlib.nullcontext):
        super().__init__()
        self.model = model
        self.varlen_attention = varlen_attention
        self.packed, self.packing_note = decide_packing(model, packing, varlen_attention, autocast)

    def forward(self, input_ids=None, attention_mask=None, prompt_width: int = 0, share=None, segments=None,
                packed: Optional[PackedBatch] = None):
        if packed is not None:  # (1, N) row -> (T, H) states before the response tokens, (V, H)
            with packed_forward():
                h = final_hidden_states(self.model, packed.input_ids, None, position_ids=packed.position_ids,
                                        rlev_varlen=packed.varlen)
            return h[0].index_select(0, packed.out_index), lm_head_weight(self.model)
        P = prompt_width
        segs = segments if segments is not None else [(0, input_ids.shape[0], input_ids.shape[1] - P)]
        hs = []
        if share is None:
            for a, b, w in segs:
                # Position t predicts token t + 1: the last response token is never an input.
                mask = attention_mask[a:b, : P + w - 1]
                hidden = final_hidden_states(self.model, input_ids[a:b, : P + w - 1], mask, position_ids=positions(mask))
                hs.append(hidden[:, P - 1 :])  # (rows, w, H)
        else:
            from transformers import DynamicCache

            rep, inv = (t.to(input_ids.device) for t in share)  # index_select wants its index on the data's device
            decoder = decoder_of(self.model)
            prompt_cache = DynamicCache(config=self.model.config)
            hp = final_hidden_states(self.model, input_ids[rep, :P], attention_mask[rep, :P],
                                     position_ids=positions(attention_mask[rep, :P]),
                                     **cache_kwarg(decoder, prompt_cache))  # (U, P, H)
            prompt_lens = attention_mask[:, :P].sum(-1, keepdim=True)  # (S, 1): where each response starts
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
                resp_pos = prompt_lens[a:b] + torch.arange(w - 1, device=input_ids.device)  # (rows, w - 1)
                hr = final_hidden_states(self.model, input_ids[a:b, P : P + w - 1], attention_mask[a:b, : P + w - 1],
                                         position_ids=resp_pos, **cache_kwarg(decoder, cache))  # (rows, w - 1, H)
                hs.append(torch.cat([first, hr], dim=1))
        return (hs if segments is not None else hs[0]), lm_head_weight(self.model)


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids from the first real token of each row (left padding does not shift them), as the
    samplers (generate, the hf-cached loop, vLLM) and the packed row number them."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


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




@dataclass
class Piece:
    """Hidden states of some rows of a batch, lined up with its (S, R) response tensors.

    Packed: hidden (T, H), one row per response token; seq_ids (T,) index into `rows`, cols (T,)
    the response position. Padded segment: hidden (b, w, H) for `rows`, response columns 0 .. w - 1.
    targets and mask have hidden's leading shape."""

    hidden: torch.Tensor
    rows: List[int]
    targets: torch.Tensor
    mask: torch.Tensor
    seq_ids: Optional[torch.Tensor] = None
    cols: Optional[torch.Tensor] = None

    @property
    def packed(self) -> bool:
        return self.cols is not None

    @property
    def num_rows(self) -> int:
        """The sequences policy_loss counts for its per-sequence aggregations."""
        return len(self.rows)

    def _index(self, device):
        return torch.as_tensor(self.rows, dtype=torch.long, device=device)

    def take(self, t: torch.Tensor) -> torch.Tensor:
        """Values of an (S, R) batch tensor at this piece's tokens, in hidden's leading shape."""
        rows = self._index(t.device)
        if self.packed:
            return t[rows[self.seq_ids.to(t.device)], self.cols.to(t.device)]
        return t[rows, : self.hidden.shape[1]]

    def put(self, dst: torch.Tensor, values: torch.Tensor) -> None:
        """Writes per-token values (hidden's leading shape) into an (S, R) batch tensor."""
        rows = self._index(dst.device)
        values = values.detach().to(dst.dtype).to(dst.device)
        if self.packed:
            dst[rows[self.seq_ids.to(dst.device)], self.cols.to(dst.device)] = values
        else:
            dst[rows, : self.hidden.shape[1]] = values.reshape(len(self.rows), -1)

    def as_rows(self, values: torch.Tensor) -> torch.Tensor:
        """Per-token values as (rows, width), zero past each response: the layout of eos_stats."""
        if not self.packed:
            return values
        width = int(self.cols.max()) + 1 if self.cols.numel() else 1
        out = torch.zeros(len(self.rows), width, dtype=values.dtype, device=values.device)
        out[self.seq_ids.to(values.device), self.cols.to(values.device)] = values
        return out


def forward_pieces(trunk, batch, rows: Sequence[int], share: bool, buckets: int = 1) -> Tuple[List[Piece], torch.Tensor]:
    """One trunk call on `rows` of a RolloutBatch: packed when the trunk packs, else padded in up to
    `buckets` length buckets (with the shared prompt when `share`). Returns the pieces and W (V, H).
    Call it under the caller's autocast."""
    inner = unwrap_trunk(trunk)
    if inner.packed:
        pk = pack_rows(batch, rows, share, inner.varlen_attention)
        h, W = trunk(packed=pk)
        ones = torch.ones(pk.num_targets, dtype=batch.response_mask.dtype, device=h.device)
        return [Piece(h, pk.rows, pk.targets, ones, pk.seq_ids, pk.cols)], W
    lengths = batch.response_lengths.tolist()
    # No rows (an empty micro-batch that keeps the processes in step): row 0 runs, masked out.
    run = list(rows) or [0]
    order, segments = bucket_segments(length_buckets(run, lengths, buckets), lengths)
    mb = batch.select(order)
    P = mb.prompt_width
    share_idx = share_index(order, batch.group_size) if share and padded_share_possible(inner) else None
    hs, W = trunk(mb.input_ids, mb.attention_mask, P, share_idx, segments)  # [(rows, w, H)], (V, H)
    masks = mb.response_mask if rows else torch.zeros_like(mb.response_mask)
    return [Piece(h, order[a:b], mb.input_ids[a:b, P : P + w], masks[a:b, :w]) for (a, b, w), h in zip(segments, hs)], W


def unwrap_trunk(trunk) -> "PolicyTrunk":
    """The PolicyTrunk inside a DDP wrapper (FSDP2 keeps the module itself)."""
    inner = getattr(trunk, "module", trunk)
    return inner if isinstance(inner, PolicyTrunk) else trunk


def padded_share_possible(trunk: "PolicyTrunk") -> bool:
    """The padded shared prompt runs each layer twice per forward (prompt, then responses on its
    cache): not through checkpointed layers, and not (untested) through FSDP2's per-layer hooks. The
    packed row shares prompts inside attention and has neither limit."""
    from ..distributed import _is_fsdp2

    checkpointed = any(getattr(m, "gradient_checkpointing", False) is True for m in trunk.model.modules())
    return not checkpointed and not _is_fsdp2(trunk)
