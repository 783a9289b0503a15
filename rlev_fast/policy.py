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

import contextlib
import os
import sys
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


class ModelSourceError(ValueError):
    """--model names nothing that can be loaded; the message (one line) says what was wrong."""


_HUB_PROBE_TIMEOUT_S = 10.0
_HUB_OK: set = set()  # hub ids found on the hub in this process


def _hub_offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) as set now or when huggingface_hub was imported."""
    if any(os.environ.get(k, "").strip().upper() in ("1", "ON", "YES", "TRUE") for k in ("HF_HUB_OFFLINE",
                                                                                         "TRANSFORMERS_OFFLINE")):
        return True
    try:
        import huggingface_hub

        return bool(huggingface_hub.is_offline_mode())
    except (ImportError, AttributeError):
        return False


def _check_model_folder(path: str, name: str) -> None:
    """A local --model folder must hold save_pretrained files; a rlev_fast checkpoint or run folder
    is named as such, with what to pass instead."""
    if os.path.isfile(os.path.join(path, "config.json")):
        try:
            import json

            with open(os.path.join(path, "config.json")) as f:
                cfg = json.load(f)
        except (OSError, ValueError):
            cfg = {}
        if isinstance(cfg, dict) and "resolved" in cfg and "run" in cfg:  # a run folder's config.json
            final = os.path.join(name, "final")
            raise ModelSourceError(f"--model {name} is a training run folder, not a model folder; its trained model "
                                   f"is {final}" + ("" if os.path.isdir(os.path.join(path, "final")) else
                                                     " (not there: the run has not finished, or ran with --no-save-final)"))
        return
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isfile(os.path.join(path, "meta.json")) and os.path.isfile(os.path.join(path, "model.pt")):
        run = os.path.dirname(parent) if os.path.basename(parent) == "checkpoints" else None
        if run is not None:
            run = os.path.relpath(run) if not os.path.isabs(name) else run
            raise ModelSourceError(f"--model {name} is a training checkpoint (rlev_fast's model.pt, not save_pretrained "
                                   f"files); use {os.path.join(run, 'final')}, or continue the run with --out {run} "
                                   "--resume")
        raise ModelSourceError(f"--model {name} is a training checkpoint (rlev_fast's model.pt, not save_pretrained "
                               "files); use the run's final/ folder, or --out <run> --resume")
    raise ModelSourceError(f"--model {name}: the folder holds no config.json, so it is not a save_pretrained model "
                           "folder")


def check_model_source(name: str) -> str:
    """Where --model `name` loads from: "local" (a folder) or "hub" (a hub id, cached or reachable).
    Anything else is a ModelSourceError with a one-line reason, found quickly: a name that looks
    like a path (starts with . / ~, or is not a valid hub id) is only looked up on disk; a hub id
    that is no folder is looked up in the hub cache, then (unless HF_HUB_OFFLINE=1) asked of the hub
    once with a short timeout, instead of transformers' retries (~50 s without a network)."""
    path = os.path.expanduser(name)
    if os.path.isdir(path):
        _check_model_folder(path, name)
        return "local"
    if name in _HUB_OK:  # asked once per process (the trainer checks at startup, load_policy again)
        return "hub"
    if os.path.exists(path):
        raise ModelSourceError(f"--model {name} is a file; it must be a model folder (save_pretrained) or a hub id")
    looks_local = name.startswith((".", "/", "~")) or (os.sep in name and name.count("/") != 1) or \
        (os.altsep is not None and os.altsep != "/" and os.altsep in name)
    try:
        from huggingface_hub.utils import validate_repo_id

        validate_repo_id(name)
        valid_id = True
    except ImportError:
        valid_id = not looks_local
    except Exception:  # HFValidationError: not a hub id
        valid_id = False
    if looks_local or not valid_id:
        raise ModelSourceError(f"--model {name}: no such model folder")
    missing = f"--model {name}: no such model folder"
    try:
        import huggingface_hub

        huggingface_hub.hf_hub_download(name, "config.json", local_files_only=True)
        return "hub"  # in the hub cache
    except ImportError:
        return "hub"
    except Exception:
        pass
    if _hub_offline():
        raise ModelSourceError(f"{missing}, and not in the hub cache (HF_HUB_OFFLINE is set: the hub is not asked)")
    try:
        huggingface_hub.model_info(name, timeout=_HUB_PROBE_TIMEOUT_S)
        _HUB_OK.add(name)
    except Exception as exc:  # no network, no such repo, gated, ...
        kind = type(exc).__name__
        if "RepositoryNotFound" in kind:
            reason = "no such model on the hub"
        elif "Gated" in kind:
            reason = "a gated model: accept its terms on the hub and log in (hf auth login)"
        else:
            msg = (str(exc).strip().splitlines() or [""])[0]
            reason = f"{kind}: {msg}" if msg else kind
            if "Connect" in kind or "Timeout" in kind:
                reason = f"no connection ({reason}); HF_HUB_OFFLINE=1 uses the hub cache only"
        raise ModelSourceError(f"{missing}, and it could not be fetched from the hub: {reason}") from None
    return "hub"


def load_policy(name_or_path: str, device: Any = "cpu", dtype: torch.dtype = torch.float32) -> Tuple[Any, Any]:
    """(model, tokenizer) for a causal LM: a local folder or a hub id (hub needs network or its
    cache). Sets pad to eos where the tokenizer has no pad token; left padding for generation. A name
    that loads nothing is a ModelSourceError that says why (`check_model_source`)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    local = check_model_source(name_or_path) == "local"
    path = os.path.expanduser(name_or_path) if local else name_or_path
    kwargs = {"local_files_only": True} if local else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as exc:
        if not local:
            raise
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelSourceError(f"--model {name_or_path}: cannot load its tokenizer: {reason}") from exc
    # transformers' "Loading weights" bar: on a terminal only (in a log file it is one long line)
    quiet = not (callable(getattr(sys.stderr, "isatty", None)) and sys.stderr.isatty())
    with _quiet_progress() if quiet else contextlib.nullcontext():
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kwargs)
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
