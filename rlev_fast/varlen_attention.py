"""Causal attention over a packed row of documents, for transformers models.

A packed micro-batch is one row of N tokens holding many documents back to back (rlev_fast/packing.py
lays them out); positions restart at 0 in each document. `VarlenMeta` tells attention where each
document's queries and keys are: cumulative lengths `cu_q` / `cu_k` (flash-attn's cu_seqlens) and,
when some document attends to keys that are not its own contiguous query span (the completions of a
shared prompt attend to that prompt's keys), `kv_index`, the packed-row positions of every
document's keys in order. Within a document, query t sees keys up to t + (k_len - q_len): causal,
aligned at the bottom right (flash-attn's convention), so a completion's queries see the whole
prompt and its own earlier tokens.

transformers routes every attention call of a model through `ALL_ATTENTION_FUNCTIONS[
config._attn_implementation]` and passes the forward's extra keyword arguments down to it.
`install_packed_attention(model)` names a function registered here as the model's implementation:
a call that carries the metadata (the keyword `rlev_varlen`, which the trunk passes with a packed
row) runs the varlen kernels, any other call the model's own function and mask, unchanged. Inside
`packed_forward()` the model builds no [N, N] mask. The linear layers, norms and MLPs see the packed
[1, N, H] row and never a padding token.

Backends (VARLEN_BACKENDS; `auto` below; RLEV_FAST_ATTENTION_BACKEND overrides auto):

    flash_attn     flash-attn's flash_attn_varlen_func (CUDA, fp16/bf16, flash-attn installed)
    flex           torch FlexAttention with a document mask (CUDA, compiled; forward only on CPU)
    nested         torch SDPA on jagged nested tensors (CUDA; square documents only, i.e. no shared
                   prompt: PyTorch's kernels disagree on how to align a causal mask when a document
                   has more keys than queries)
    per_sequence   torch SDPA on each document in turn (any device and dtype; the CPU default and
                   the reference the others are tested against)

auto: flash_attn on CUDA for fp16/bf16 when flash-attn imports, else flex on CUDA, else per_sequence.
Which torch-native kernel is faster on a GPU is unmeasured here (no GPU was lent);
benchmarks/gpu_check.sh measures flex, nested and per_sequence side by side.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F

from .registry import Registry

ATTENTION_NAME = "rlev_fast_varlen"
ENV_BACKEND = "RLEV_FAST_ATTENTION_BACKEND"
VARLEN_BACKENDS = Registry("varlen attention backend")


class PackingUnsupported(ValueError):
    """The model's attention cannot run a packed row (the message says why)."""


@dataclass
class VarlenMeta:
    """Where the documents of a packed row are (see the module docstring).

    q_lens / k_lens: per document, its query tokens (a contiguous span of the row, documents in row
    order) and its keys; cu_q / cu_k: their cumulative sums (int32, D + 1, on the row's device);
    kv_index: (sum k_lens,) row positions of the keys, document by document, or None when every
    document's keys are its own queries (k_lens == q_lens). backend: a VARLEN_BACKENDS name or auto.
    cache: what a backend computes once per forward and reuses in every layer (FlexAttention's
    block mask, per_sequence's masks)."""

    q_lens: List[int]
    k_lens: List[int]
    cu_q: torch.Tensor
    cu_k: torch.Tensor
    kv_index: Optional[torch.Tensor] = None
    backend: str = "auto"
    cache: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, q_lens: List[int], k_lens: List[int], kv_index: Optional[torch.Tensor], device,
              backend: str = "auto") -> "VarlenMeta":
        if len(q_lens) != len(k_lens) or any(q < 1 or k < q for q, k in zip(q_lens, k_lens)):
            raise ValueError("every document needs 1 <= q_len <= k_len")
        if kv_index is None and q_lens != k_lens:
            raise ValueError("documents with more keys than queries need kv_index")

        def cum(lens):
            return torch.tensor([0, *lens], dtype=torch.int64).cumsum(0).to(device=device, dtype=torch.int32)

        return cls(list(q_lens), list(k_lens), cum(q_lens), cum(k_lens),
                   None if kv_index is None else kv_index.to(device), backend)

    @property
    def num_q(self) -> int:
        return sum(self.q_lens)

    @property
    def max_q(self) -> int:
        return max(self.q_lens)

    @property
    def max_k(self) -> int:
        return max(self.k_lens)

    @property
    def square(self) -> bool:
        return self.kv_index is None


# ----------------------------------------------------------------------------------------------
# Backends: fn(q (1, h, Nq, d), k (1, hk, Nk, d), v, meta, scale, dropout) -> (1, Nq, h, d), with k
# and v already gathered by kv_index (documents in order). Output layout: transformers' attention
# functions return (batch, seq, heads, head_dim).
# ----------------------------------------------------------------------------------------------
def _repeat_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """Grouped-query attention: each key/value head serves heads / hk query heads (transformers' repeat_kv)."""
    hk = x.shape[1]
    return x if hk == heads else x.repeat_interleave(heads // hk, dim=1)


@VARLEN_BACKENDS.register("per_sequence")
def per_sequence_attention(q, k, v, meta: VarlenMeta, scale: float, dropout: float) -> torch.Tensor:
    """SDPA on each document: exact on any device and dtype. split / cat (not slicing) so that the
    backward is one concatenation per tensor, not a zero-filled full-size gradient per document."""
    h = q.shape[1]
    k, v = _repeat_heads(k, h), _repeat_heads(v, h)
    qs, ks, vs = q.split(meta.q_lens, dim=2), k.split(meta.k_lens, dim=2), v.split(meta.k_lens, dim=2)
    masks = meta.cache.setdefault("per_sequence_masks", {})
    outs = []
    for qd, kd, vd in zip(qs, ks, vs):
        lq, lk = qd.shape[2], kd.shape[2]
        if lq == lk:
            outs.append(F.scaled_dot_product_attention(qd, kd, vd, dropout_p=dropout, is_causal=True, scale=scale))
            continue
        mask = masks.get((lq, lk))
        if mask is None:  # query t sees keys up to t + lk - lq (bottom-right causal)
            mask = masks[(lq, lk)] = torch.ones(lq, lk, dtype=torch.bool, device=q.device).tril(lk - lq)
        outs.append(F.scaled_dot_product_attention(qd, kd, vd, attn_mask=mask, dropout_p=dropout, scale=scale))
    return torch.cat(outs, dim=2).transpose(1, 2)


@VARLEN_BACKENDS.register("flash_attn")
def flash_attn_attention(q, k, v, meta: VarlenMeta, scale: float, dropout: float) -> torch.Tensor:
    """flash-attn's varlen kernel: (total, heads, d) inputs, cu_seqlens, causal aligned bottom right,
    grouped-query heads natively."""
    from flash_attn import flash_attn_varlen_func

    out = flash_attn_varlen_func(q[0].transpose(0, 1), k[0].transpose(0, 1), v[0].transpose(0, 1),
                                 meta.cu_q, meta.cu_k, meta.max_q, meta.max_k, dropout_p=dropout,
                                 softmax_scale=scale, causal=True)
    return out[None]


_COMPILED_FLEX: Dict[str, Callable] = {}


def _flex_fn(device_type: str) -> Callable:
    """flex_attention, compiled once per process on CUDA (its fast kernels exist only compiled); eager
    elsewhere (torch's CPU FlexAttention has no backward: tests run it without gradients)."""
    from torch.nn.attention.flex_attention import flex_attention

    if device_type != "cuda":
        return flex_attention
    if "cuda" not in _COMPILED_FLEX:
        _COMPILED_FLEX["cuda"] = torch.compile(flex_attention, dynamic=True)
    return _COMPILED_FLEX["cuda"]


def _flex_block_mask(meta: VarlenMeta, device):
    """The document mask of a packed row as a FlexAttention BlockMask: same document, and key
    position within the document <= the query's (bottom-right aligned). Built once per forward."""
    bm = meta.cache.get("flex_block_mask")
    if bm is not None:
        return bm
    from torch.nn.attention.flex_attention import create_block_mask

    D = len(meta.q_lens)
    ql = torch.tensor(meta.q_lens, device=device)
    kl = torch.tensor(meta.k_lens, device=device)
    q_doc = torch.repeat_interleave(torch.arange(D, device=device), ql)
    k_doc = torch.repeat_interleave(torch.arange(D, device=device), kl)
    q_at = torch.arange(q_doc.numel(), device=device) - meta.cu_q.long()[q_doc] + (kl - ql)[q_doc]
    k_at = torch.arange(k_doc.numel(), device=device) - meta.cu_k.long()[k_doc]

    def document_causal(b, h, q_idx, kv_idx):
        return (q_doc[q_idx] == k_doc[kv_idx]) & (k_at[kv_idx] <= q_at[q_idx])

    bm = create_block_mask(document_causal, None, None, q_doc.numel(), k_doc.numel(), device=device)
    meta.cache["flex_block_mask"] = bm
    return bm


@VARLEN_BACKENDS.register("flex")
def flex_varlen_attention(q, k, v, meta: VarlenMeta, scale: float, dropout: float) -> torch.Tensor:
    if dropout:
        raise PackingUnsupported("the flex varlen backend has no attention dropout; use per_sequence")
    bm = _flex_block_mask(meta, q.device)
    out = _flex_fn(q.device.type)(q, k, v, block_mask=bm, scale=scale, enable_gqa=k.shape[1] != q.shape[1])
    return out.transpose(1, 2)


@VARLEN_BACKENDS.register("nested")
def nested_attention(q, k, v, meta: VarlenMeta, scale: float, dropout: float) -> torch.Tensor:
    """SDPA on jagged nested tensors (PyTorch's own varlen flash / memory-efficient kernels on CUDA)."""
    if not meta.square:
        raise PackingUnsupported("the nested varlen backend takes square documents only (no shared prompt): "
                                 "turn --share-prompt off or use another --varlen-attention backend")
    h = q.shape[1]
    offsets = meta.cu_q.long()

    def jagged(x):  # (1, heads, N, d) -> (docs, heads, ragged, d)
        vals = x[0].transpose(0, 1).contiguous()
        return torch.nested.nested_tensor_from_jagged(vals, offsets, max_seqlen=meta.max_q).transpose(1, 2)

    out = F.scaled_dot_product_attention(jagged(q), jagged(_repeat_heads(k, h)), jagged(_repeat_heads(v, h)),
                                         dropout_p=dropout, is_causal=True, scale=scale)
    return out.transpose(1, 2).values()[None]


def flash_attn_available() -> bool:
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(name: str, device: torch.device, dtype: torch.dtype) -> str:
    """The concrete backend for `name` ("auto" resolved, see the module docstring)."""
    if name != "auto":
        return VARLEN_BACKENDS.check(name, "varlen attention backend")
    env = os.environ.get(ENV_BACKEND, "auto")
    if env != "auto":
        return VARLEN_BACKENDS.check(env, ENV_BACKEND)
    if device.type == "cuda":
        if dtype in (torch.float16, torch.bfloat16) and flash_attn_available():
            return "flash_attn"
        return "flex"
    return "per_sequence"


# ----------------------------------------------------------------------------------------------
# The transformers attention function and the switch that routes a model through it
# ----------------------------------------------------------------------------------------------
def varlen_attention_forward(module, query, key, value, attention_mask, scaling: Optional[float] = None,
                             dropout: float = 0.0, sliding_window: Optional[int] = None, softcap=None, s_aux=None,
                             rlev_varlen: Optional[VarlenMeta] = None, **kwargs) -> Tuple[torch.Tensor, None]:
    """transformers' attention-function signature; query (1, heads, N, d), key / value (1, kv_heads,
    N, d). Refuses what the packed row cannot honour (PackingUnsupported names it), so that the
    trainer's probe falls back to padded micro-batches instead of training a different function."""
    where = type(module).__name__
    meta = rlev_varlen
    if meta is None:
        raise PackingUnsupported(f"{where} was called without the packing metadata: the model does not pass "
                                 "its forward's keyword arguments down to attention")
    if attention_mask is not None:
        raise PackingUnsupported(f"{where} built an attention mask of its own ({tuple(attention_mask.shape)}); a "
                                 "packed row needs the mask-free path")
    if not getattr(module, "is_causal", True):
        raise PackingUnsupported(f"{where} is not causal")
    if softcap is not None or s_aux is not None:
        raise PackingUnsupported(f"{where} uses {'logit soft-capping' if softcap is not None else 'attention sinks'}, "
                                 "which the varlen kernels do not implement")
    if sliding_window is not None and meta.max_k > sliding_window:
        raise PackingUnsupported(f"{where} attends within a sliding window of {sliding_window} tokens and a packed "
                                 f"document holds {meta.max_k}")
    if query.shape[0] != 1 or query.shape[2] != meta.num_q:
        raise ValueError(f"packed attention expects one row of {meta.num_q} tokens, got query {tuple(query.shape)}")
    if meta.kv_index is not None:
        key, value = key.index_select(2, meta.kv_index), value.index_select(2, meta.kv_index)
    scale = scaling if scaling is not None else 1.0 / math.sqrt(query.shape[-1])
    name = resolve_backend(meta.backend, query.device, query.dtype)
    return VARLEN_BACKENDS.get(name)(query, key, value, meta, scale, float(dropout or 0.0)), None


# A packed forward is in progress in this thread: the model's mask function builds no mask.
_PACKED_FORWARD: contextvars.ContextVar = contextvars.ContextVar("rlev_fast_packed_forward", default=False)


def _base_of(implementation: Optional[str]) -> Optional[str]:
    """The model's own implementation behind an installed one (None: not installed)."""
    if implementation and implementation.startswith(ATTENTION_NAME + "+"):
        return implementation[len(ATTENTION_NAME) + 1 :]
    return None


def _base_attention(module, base: str) -> Callable:
    """The attention function the model would use without packing."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    if base == "eager":  # each modeling file has its own eager function; transformers passes it as the default
        fn = getattr(sys.modules.get(type(module).__module__), "eager_attention_forward", None)
        if fn is None:
            raise PackingUnsupported(f"{type(module).__name__}: no eager_attention_forward in its modeling file")
        return fn
    return ALL_ATTENTION_FUNCTIONS.get_interface(base, None)


def _register(base: str) -> str:
    """Registers, once per base implementation, the attention and mask functions of an installed
    model: packed calls (the `rlev_varlen` keyword) go to varlen_attention_forward, every other call
    (generate, evaluation, the padded fallback) to the model's own function and mask."""
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
    from transformers.modeling_utils import AttentionInterface

    name = f"{ATTENTION_NAME}+{base}"
    if name in AttentionInterface._global_mapping:
        return name

    def attention(module, query, key, value, attention_mask, *args, **kwargs):
        if kwargs.get("rlev_varlen") is None:
            return _base_attention(module, base)(module, query, key, value, attention_mask, *args, **kwargs)
        return varlen_attention_forward(module, query, key, value, attention_mask, *args, **kwargs)

    def mask(*args, **kwargs):
        if _PACKED_FORWARD.get() or base not in ALL_MASK_ATTENTION_FUNCTIONS:
            return None  # a packed row needs no mask (and an unknown base gets none from transformers either)
        return ALL_MASK_ATTENTION_FUNCTIONS[base](*args, **kwargs)

    AttentionInterface.register(name, attention)
    AttentionMaskInterface.register(name, mask)
    return name


def install_packed_attention(model) -> None:
    """Routes `model`'s attention through the functions of `_register` from now on (its config's and
    sub-configs' implementation name; not saved with the model). Permanent rather than around each
    forward: activation checkpointing re-runs the layers in the backward pass, and the recomputation
    must take the same path."""
    config = model.config
    if _base_of(config._attn_implementation) is None:
        config._attn_implementation = _register(config._attn_implementation or "eager")


def uninstall_packed_attention(model) -> None:
    base = _base_of(model.config._attn_implementation)
    if base is not None:
        model.config._attn_implementation = base


@contextlib.contextmanager
def packed_forward():
    """A packed forward of an installed model runs inside this: its mask function returns no mask
    (transformers would otherwise build an [N, N] document mask from the restarting positions)."""
    token = _PACKED_FORWARD.set(True)
    try:
        yield
    finally:
        _PACKED_FORWARD.reset(token)


def packing_support(model, backend: str = "auto", autocast: Callable = contextlib.nullcontext) -> Tuple[bool, str]:
    """(True, backend note) when a packed forward of `model` gives the hidden states of separate
    forwards, and the model stays installed (install_packed_attention); (False, why) otherwise, the
    model as it was. Runs two short documents (3 and 5 tokens) once, without gradients and in eval
    mode (dropout off), through `backend`, under `autocast` (the trainer's: flash-attn runs only in
    16-bit precision)."""
    from .policy import final_hidden_states

    name = type(model).__name__
    if not getattr(model, "_supports_attention_backend", False):
        return False, f"{name} does not route its attention through transformers' AttentionInterface"
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    vocab = int(getattr(model.config, "vocab_size", 0) or 0)
    if vocab < 2:
        return False, f"{name} has no vocab_size in its config"
    lens = [3, 5]
    ids = (torch.arange(sum(lens), device=device) * 7919 % (vocab - 1) + 1)[None]  # (1, 8), spread over the vocabulary
    pos = torch.cat([torch.arange(n, device=device) for n in lens])[None]
    was_training = model.training
    installed = _base_of(model.config._attn_implementation) is not None
    model.eval()
    try:
        with torch.no_grad(), autocast():
            # the precision attention will see: autocast's when it is on (bf16 on GPU), else the weights'
            compute = torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else dtype
            alone = torch.cat([final_hidden_states(model, part[None], position_ids=p[None])[0]
                               for part, p in zip(ids[0].split(lens), pos[0].split(lens))])
            meta = VarlenMeta.build(lens, lens, None, device, backend)
            install_packed_attention(model)
            with packed_forward():
                packed = final_hidden_states(model, ids, position_ids=pos, rlev_varlen=meta)[0]
    except Exception as exc:  # PackingUnsupported, or whatever a model's own code raises on packed input
        if not installed:
            uninstall_packed_attention(model)
        return False, f"a packed forward of {name} failed ({type(exc).__name__}: {exc})"
    finally:
        model.train(was_training)
    tol = 1e-4 if compute in (torch.float32, torch.float64) else 3e-2
    err = float((packed.float() - alone.float()).abs().max())
    scale = float(alone.float().abs().max()) + 1.0
    if not err <= tol * scale:
        if not installed:
            uninstall_packed_attention(model)
        return False, (f"a packed forward of {name} differs from separate forwards by {err:.3g} (the model mixes "
                       "the packed documents)")
    return True, resolve_backend(backend, device, compute)
