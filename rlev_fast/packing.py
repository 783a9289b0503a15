"""Packed micro-batches: the sequences of a rollout batch laid end to end in one row, no padding.

A sequence is its prompt's real tokens (left padding dropped) and its response tokens but the last
(the last response token is a target, never an input), with positions restarting at 0. The trainer
needs the hidden state before each response token: at the prompt's last token for response token 0,
then at response tokens 0 .. L - 2. `pack_rows` returns the row, its positions, the attention
metadata (rlev_fast/varlen_attention.py) and `out_index`, where those hidden states sit in the row, so
the trunk hands the loss exactly the [T, H] response-predicting states, T = the sum of the response
lengths, and the fused loss takes them as they are.

Shared prompt (share=True). The completions of one prompt (rows r with the same r // group_size, as
RolloutBatch lays out groups) put the prompt in the row once, followed by each completion's
response tokens; each completion is a document whose keys are the prompt's plus its own
(`kv_index`), so the MLPs and projections run the prompt once for all of them, as the padded
trunk's shared KV cache did (the keys are gathered per completion, as that cache was). A group with
one completion in the micro-batch is one ordinary document.

Rows with an empty response have no tokens to train and take no place in the row. The cost of a
set of rows (`packed_tokens`) is the length of their packed row: what a token budget counts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch

from .varlen_attention import VarlenMeta


@dataclass
class PackedBatch:
    """One packed row (see the module docstring).

    rows: the batch rows it trains (non-empty responses, in the given order); sequence i of the row
    is rows[i]. input_ids / position_ids (1, N). varlen: the documents for attention. out_index (T,):
    row position of the hidden state that predicts each response token; targets, seq_ids (index into
    rows) and cols (response position) (T,), sequence by sequence. The tensors are on the batch's
    device."""

    rows: List[int]
    input_ids: torch.Tensor
    position_ids: torch.Tensor
    varlen: VarlenMeta
    out_index: torch.Tensor
    targets: torch.Tensor
    seq_ids: torch.Tensor
    cols: torch.Tensor

    @property
    def num_tokens(self) -> int:
        return self.input_ids.shape[1]

    @property
    def num_targets(self) -> int:
        return self.targets.numel()


def prompt_lengths(batch) -> List[int]:
    """Real (unpadded) prompt tokens of every row of a RolloutBatch."""
    return batch.attention_mask[:, : batch.prompt_width].sum(1).tolist()


def sequence_groups(rows: Sequence[int], group_size: int, share: bool) -> List[List[int]]:
    """The rows in units of the packed row: each prompt's completions together when shared (in order of
    first appearance), else one row per unit."""
    if not share:
        return [[r] for r in rows]
    groups: Dict[int, List[int]] = {}
    for r in rows:
        groups.setdefault(r // group_size, []).append(r)
    return list(groups.values())


def packed_tokens(prompt_len: int, response_lens: Sequence[int]) -> int:
    """Tokens one unit (a prompt and the completions that share it) takes in a packed row."""
    inputs = [L - 1 for L in response_lens if L > 0]
    return prompt_len + sum(inputs) if inputs else 0


def pack_rows(batch, rows: Sequence[int], share: bool, varlen_backend: str = "auto",
              prompt_lens: Optional[List[int]] = None) -> PackedBatch:
    """The packed row of `rows` of a RolloutBatch (see the module docstring). A micro-batch with no
    response token gets a one-token row (nothing to train: the caller still runs it where every
    process must run the same forwards); its targets are empty."""
    P, W = batch.prompt_width, batch.input_ids.shape[1]
    lengths = batch.response_lengths.tolist()
    plens = prompt_lengths(batch) if prompt_lens is None else prompt_lens
    keep = [r for r in rows if lengths[r] > 0]
    seq_of = {r: i for i, r in enumerate(keep)}
    mask = batch.attention_mask[:, :P].bool().cpu()
    src: List[int] = []  # flat index into batch.input_ids of each packed token
    pos: List[int] = []
    q_lens: List[int] = []
    k_lens: List[int] = []
    kv: List[int] = []
    out_index: List[int] = []
    tgt_src: List[int] = []
    seq_ids: List[int] = []
    cols: List[int] = []
    shared_any = False
    for unit in sequence_groups(keep, batch.group_size, share):
        rep = unit[0]
        p = plens[rep]
        if p == 0:
            raise ValueError(f"row {rep} has an empty prompt: no hidden state predicts its first response token")
        prompt_src = (torch.nonzero(mask[rep]).flatten() + rep * W).tolist()
        shared = len(unit) > 1
        start = len(src)
        if shared:  # the prompt once, as a document of its own
            shared_any = True
            src += prompt_src
            pos += range(p)
            q_lens.append(p)
            k_lens.append(p)
            kv += range(start, start + p)
        for r in unit:
            L = lengths[r]
            resp = range(r * W + P, r * W + P + L - 1)  # response tokens 0 .. L - 2: the inputs
            if shared:
                first = start + p - 1  # the prompt's last token predicts response token 0
                rs = len(src)
                src += resp
                pos += range(p, p + L - 1)
                if L > 1:
                    q_lens.append(L - 1)
                    k_lens.append(p + L - 1)
                    kv += range(start, start + p)
                    kv += range(rs, rs + L - 1)
                out_index.append(first)
                out_index += range(rs, rs + L - 1)
            else:
                src += prompt_src
                src += resp
                pos += range(p + L - 1)
                q_lens.append(p + L - 1)
                k_lens.append(p + L - 1)
                kv += range(start, start + p + L - 1)
                out_index += range(start + p - 1, start + p + L - 1)
            tgt_src += range(r * W + P, r * W + P + L)
            seq_ids += [seq_of[r]] * L
            cols += range(L)
    device = batch.input_ids.device
    flat = batch.input_ids.reshape(-1)
    if not src:  # nothing to train: one token keeps the forward (and its collectives) going
        src, pos, q_lens, k_lens = [P - 1], [0], [1], [1]

    def t(xs):
        return torch.tensor(xs, dtype=torch.long, device=device)

    kv_index = t(kv) if shared_any else None
    varlen = VarlenMeta.build(q_lens, k_lens, kv_index, device, varlen_backend)
    tgt = t(tgt_src)
    return PackedBatch(rows=keep, input_ids=flat[t(src)][None], position_ids=t(pos)[None], varlen=varlen,
                       out_index=t(out_index), targets=flat[tgt] if tgt.numel() else tgt, seq_ids=t(seq_ids),
                       cols=t(cols))
