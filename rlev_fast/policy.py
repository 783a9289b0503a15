"""Policies: the tiny shipped policy, real Hugging Face models, and hidden-state access.

The tiny policy is a Llama-style decoder (RoPE, RMSNorm, SwiGLU) built from a config, with a
character-level tokenizer built locally with the `tokenizers` library: printable ASCII, newline,
and a handful of whole-phrase tokens of the synthetic exams ("Answer: ", " points): ", " A) ", ...)
so that prompts and responses stay short. Digits are always single tokens. The warm-start
checkpoint in `rlev_fast/assets/tiny_policy/` is produced by `python -m rlev_fast.warm_start`.

RoPE makes attention depend only on relative positions, so left padding without explicit
position ids gives the same logits on the real tokens as no padding (up to float rounding).

The tiny tokenizer adds no special tokens when encoding; callers append `eos_token_id` to
training targets themselves. It has no chat template, so `data.format_prompt` gives it plain prompts.
"""
from __future__ import annotations

import os
from typing import Any, Optional, Tuple

import torch

ASSET_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets", "tiny_policy")

SPECIAL_TOKENS = ("<pad>", "<eos>", "<bos>", "<unk>")
# Whole-phrase tokens of the synthetic exams (rlev_fast/data.py); the longest match wins.
PHRASES = (
    " Answer with a letter.",
    " points): ",
    "Answer: ",
    " = ?",
    "Q (",
    " of ",
    " is ",
    " A) ",
    " B) ",
    " C) ",
    " D) ",
    ". ",
)
ALPHABET = "\n" + "".join(chr(c) for c in range(32, 127))  # newline + printable ASCII


def build_tokenizer():
    """The tiny policy's tokenizer: PreTrainedTokenizerFast, ids 0..3 = <pad> <eos> <bos> <unk>,
    then the phrases, then one token per character of ALPHABET. Unknown characters -> <unk>.
    decode(encode(s)) == s for any string over ALPHABET."""
    import re

    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {}
    for tok in SPECIAL_TOKENS + PHRASES + tuple(ALPHABET):
        if tok not in vocab:
            vocab[tok] = len(vocab)
    # Isolate each phrase and otherwise every single character; WordLevel maps pieces to ids.
    pattern = "|".join(re.escape(p) for p in sorted(PHRASES, key=len, reverse=True)) + r"|[\s\S]"
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
        clean_up_tokenization_spaces=False,
        model_max_length=256,
    )
    fast.padding_side = "left"
    return fast


def build_tiny_model(
    vocab_size: int,
    hidden_size: int = 128,
    num_layers: int = 4,
    num_heads: int = 4,
    intermediate_size: int = 384,
    max_position_embeddings: int = 256,
    pad_token_id: int = 0,
    eos_token_id: int = 1,
    bos_token_id: int = 2,
    seed: Optional[int] = 0,
):
    """A small LlamaForCausalLM from config (tie_word_embeddings=False: lm_head.weight is its own
    parameter). Defaults: hidden 128, 4 layers, 4 heads, SwiGLU 384 -> 881,792 parameters with the
    tiny tokenizer's vocabulary."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        pad_token_id=pad_token_id,
        eos_token_id=eos_token_id,
        bos_token_id=bos_token_id,
        attention_bias=False,
        mlp_bias=False,
    )
    if seed is not None:
        torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = pad_token_id
    model.generation_config.eos_token_id = eos_token_id
    model.generation_config.bos_token_id = bos_token_id
    return model


def _finish(model, tokenizer, device, dtype):
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise ValueError("tokenizer has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model = model.to(device=device, dtype=dtype)
    gc = getattr(model, "generation_config", None)
    if gc is not None:
        if gc.pad_token_id is None:
            gc.pad_token_id = tokenizer.pad_token_id
        if gc.eos_token_id is None:
            gc.eos_token_id = tokenizer.eos_token_id
    model.eval()
    return model, tokenizer


def load_policy(name_or_path: str, device: Any = "cpu", dtype: torch.dtype = torch.float32) -> Tuple[Any, Any]:
    """(model, tokenizer) for a causal LM: a local folder or a hub id (hub needs network).
    Sets pad to eos where the tokenizer has no pad token; left padding for generation."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    local = os.path.isdir(name_or_path)
    if not local and os.path.sep in name_or_path and not name_or_path.count("/") == 1:
        raise FileNotFoundError(f"no model folder at {name_or_path}")
    kwargs = {"local_files_only": True} if local else {}
    tokenizer = AutoTokenizer.from_pretrained(name_or_path, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype, **kwargs)
    return _finish(model, tokenizer, device, dtype)


def load_default_policy(device: Any = "cpu", dtype: torch.dtype = torch.float32, path: Optional[str] = None) -> Tuple[Any, Any]:
    """The shipped warm-started tiny policy from rlev_fast/assets/tiny_policy/ (no network)."""
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    path = path or ASSET_DIR
    if not os.path.isfile(os.path.join(path, "model.safetensors")):
        raise FileNotFoundError(
            f"no warm-start checkpoint in {path}; build it with `python -m rlev_fast.warm_start`"
        )
    tokenizer = PreTrainedTokenizerFast.from_pretrained(path, local_files_only=True)
    with _quiet_progress():  # a 39-tensor checkpoint needs no "Loading weights" bar
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True)
    return _finish(model, tokenizer, device, dtype)


class _quiet_progress:
    def __enter__(self):
        from transformers.utils import logging as hf_logging

        self.log = hf_logging
        self.was = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()

    def __exit__(self, *exc):
        if self.was:
            self.log.enable_progress_bar()


def decoder_of(model):
    """The stack that returns final-normed hidden states (model.model for Llama/Qwen2/Mistral)."""
    dec = None
    get = getattr(model, "get_decoder", None)
    if callable(get):
        try:
            dec = get()
        except Exception:
            dec = None
    if dec is None or dec is model:
        prefix = getattr(model, "base_model_prefix", "model")
        dec = getattr(model, prefix, None)
    if dec is None or dec is model:
        raise TypeError(f"cannot find the decoder stack of {type(model).__name__}")
    return dec


def final_hidden_states(model, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None, **kwargs) -> torch.Tensor:
    """(B, T, H) hidden states after the final norm and before lm_head, without computing logits.
    hidden @ lm_head_weight(model).T equals model(...).logits."""
    out = decoder_of(model)(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, **kwargs)
    h = getattr(out, "last_hidden_state", None)
    if h is None:
        h = out[0]
    return h


def lm_head_weight(model) -> torch.Tensor:
    """The (V, H) output projection weight."""
    head = model.get_output_embeddings()
    if head is None or getattr(head, "weight", None) is None:
        raise TypeError(f"{type(model).__name__} has no output embedding weight")
    if getattr(head, "bias", None) is not None:
        raise TypeError(f"{type(model).__name__}'s lm_head has a bias; the fused loss assumes none")
    return head.weight


def num_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
