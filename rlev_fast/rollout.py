"""Rollouts: n completions per prompt, as token ids the trainer can score and train on.

Three backends (`ROLLOUT_BACKENDS`, a registry a user can add to) return the same `RolloutBatch`:

    hf    `model.generate` (batched, temperature / top-p sampling, n completions per prompt, stops at
          EOS). The CPU default; also right for small models on one GPU.
    hf-cached  the same HF model and KV cache, with a decode loop of our own: each prompt is
          prefilled once and its cache shared by its n completions (generate prefills it n times),
          and finished sequences leave the batch (generate keeps computing them). Same sampling
          distribution; greedy output identical to generate. `python benchmarks/bench_decode.py`
          (tiny policy, 16 prompts x 8, up to 48 new tokens, 2-core CPU, four runs): 0.42-0.44x
          generate's time per generated token with 1 thread (122-153 vs 277-346 us), 0.48-0.53x
          with 2 threads (106-133 vs 206-259 us). A Llama-only decode step running the layers on a
          preallocated KV cache was removed after that benchmark: 8-14% faster than this loop with
          2 threads, no faster with 1, for a copy of transformers' Llama internals.
    vllm  a vLLM engine on the GPU; after every optimizer update the trainer pushes the policy's
          weights into it (`sync_weights`). Importing it without vllm installed is a clear error.

Either way the rollout engine only samples: the log-probs the loss needs (old and reference) are
recomputed by the training model, so a sampler's numerics (vLLM's bf16 kernels, sampling
processors) never leak into the importance ratio.

Layout of a batch of S = B * n sequences (completion j of prompt i is row i * n + j, so groups are
consecutive, as `compute_advantages` expects):

    input_ids       (S, P + R)  prompt left-padded to width P, response right-padded to width R
    attention_mask  (S, P + R)  1 on real prompt tokens and on response tokens up to EOS
    response_mask   (S, R)      1 on response tokens, EOS included, 0 after it
    response_lengths (S,)       tokens in each response (EOS included)
    finished        (S,)        the response ended with EOS (False: cut at max_new_tokens)
    texts           S strings   the decoded responses, special tokens dropped
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import torch

from . import distributed as D
from .config_checks import check_int, check_number
from .registry import Registry

# name -> factory(config, model, tokenizer, *, model_path, seed, dtype, max_model_len, add_special_tokens,
# fsdp_root) returning an object with generate(prompts, n=None, greedy=False, max_new_tokens=None) ->
# RolloutBatch and sync_weights(model). "hf", "hf-cached" and "vllm" are registered below
# `make_rollout`; a user's backend registers the same way and is then a valid RolloutConfig.backend
# and --rollout choice.
ROLLOUT_BACKENDS = Registry("rollout backend")


@dataclass
class RolloutConfig:
    """How completions are sampled.

    backend: a name in ROLLOUT_BACKENDS: "hf" (model.generate), "hf-cached" (own decode loop, shared
        prompt cache), "vllm" (GPU engine, weights pushed after each update) or one a user registered.
    n: completions per prompt (the GRPO group size).
    max_new_tokens: response length cap in tokens.
    temperature / top_p: sampling; the loss uses the same temperature so that its log-probs are
        those of the distribution the tokens were drawn from. top_k is always off.
    batch_size: prompts per generate call (0: all of them at once).
    vllm_gpu_memory_utilization: fraction of GPU memory vLLM may take (the trainer needs the rest).
    """

    backend: str = field(default="hf", metadata=dict(
        flag="--rollout", choices=ROLLOUT_BACKENDS,
        help="sampler: hf (model.generate), hf-cached (its own decode loop on the same model: one prefill per "
             "prompt, finished rows leave the batch), vllm (a vLLM engine, weights pushed after each update), or a "
             "backend registered in ROLLOUT_BACKENDS"))
    n: int = field(default=8, metadata=dict(
        aliases=("--num-completions",),
        help="completions per prompt (group size); under torchrun spell it --num-completions (torchrun's own "
             "parser takes --n for one of its flags)"))
    max_new_tokens: int = field(default=48, metadata=dict(help="response length cap"))
    temperature: float = field(default=1.0, metadata=dict(help="sampling temperature (also the loss's)"))
    top_p: float = field(default=1.0, metadata=dict(help="nucleus sampling"))
    batch_size: int = field(default=0, metadata=dict(flag="--rollout-batch-size",
                                                     help="prompts per generate call (0: all)"))
    vllm_gpu_memory_utilization: float = field(default=0.3, metadata=dict(help="GPU memory share of vLLM"))

    def __post_init__(self):
        ROLLOUT_BACKENDS.check(self.backend, "RolloutConfig.backend")
        check_int(self, "n")
        check_int(self, "max_new_tokens")
        check_int(self, "batch_size", 0)
        check_number(self, "temperature", 0.0, strict_lo=True)
        check_number(self, "top_p", 0.0, 1.0, strict_lo=True)
        check_number(self, "vllm_gpu_memory_utilization", 0.0, 1.0, strict_lo=True, strict_hi=True)


@dataclass
class RolloutBatch:
    input_ids: torch.Tensor  # (S, P + R) int64
    attention_mask: torch.Tensor  # (S, P + R) int64
    response_mask: torch.Tensor  # (S, R) float32
    response_lengths: torch.Tensor  # (S,) int64
    finished: torch.Tensor  # (S,) bool
    texts: List[str]
    prompt_width: int
    group_size: int

    @property
    def num_sequences(self) -> int:
        return self.input_ids.shape[0]

    @property
    def response_width(self) -> int:
        return self.input_ids.shape[1] - self.prompt_width

    def select(self, rows: Sequence[int]) -> "RolloutBatch":
        """A sub-batch of the given rows, its padding trimmed to the longest response in it."""
        idx = torch.as_tensor(list(rows), dtype=torch.long)
        lengths = self.response_lengths[idx]
        R = max(int(lengths.max()) if idx.numel() else 0, 1)
        P = self.prompt_width
        return RolloutBatch(
            input_ids=self.input_ids[idx, : P + R],
            attention_mask=self.attention_mask[idx, : P + R],
            response_mask=self.response_mask[idx, :R],
            response_lengths=lengths,
            finished=self.finished[idx],
            texts=[self.texts[i] for i in idx.tolist()],
            prompt_width=P,
            group_size=self.group_size,
        )


def encode_prompts(tokenizer, prompts: Sequence[str], device, add_special_tokens: bool = False) -> tuple:
    """Left-padded prompt ids and attention mask (S, P). add_special_tokens: False for chat-templated
    prompts (the template already carries BOS), True for plain prompts of a model that wants BOS."""
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        enc = tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=add_special_tokens)
    finally:
        tokenizer.padding_side = old_side
    return enc["input_ids"].to(device), enc["attention_mask"].to(device)


def assemble_batch(
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    responses: List[List[int]],
    eos_token_id: Optional[int],
    pad_token_id: int,
    tokenizer,
    group_size: int,
) -> RolloutBatch:
    """Builds a RolloutBatch from per-sequence response token lists (cut after the first EOS).

    prompt_ids / prompt_mask are (S, P): one row per sequence, already repeated n times per prompt.
    """
    S, P = prompt_ids.shape
    cut = []
    finished = []
    for r in responses:
        r = list(r)
        if eos_token_id is not None and eos_token_id in r:
            r = r[: r.index(eos_token_id) + 1]
            finished.append(True)
        else:
            finished.append(False)
        cut.append(r)
    R = max(1, max((len(r) for r in cut), default=1))
    device = prompt_ids.device
    resp = torch.full((S, R), pad_token_id, dtype=torch.long)
    rmask = torch.zeros((S, R), dtype=torch.float32)
    for i, r in enumerate(cut):
        if r:
            resp[i, : len(r)] = torch.tensor(r, dtype=torch.long)
            rmask[i, : len(r)] = 1.0
    resp, rmask = resp.to(device), rmask.to(device)
    texts = tokenizer.batch_decode([r[:-1] if f else r for r, f in zip(cut, finished)], skip_special_tokens=True)
    return RolloutBatch(
        input_ids=torch.cat([prompt_ids, resp], dim=1),  # (S, P + R)
        attention_mask=torch.cat([prompt_mask.long(), rmask.long()], dim=1),  # (S, P + R)
        response_mask=rmask,
        response_lengths=torch.tensor([len(r) for r in cut], dtype=torch.long, device=device),
        finished=torch.tensor(finished, dtype=torch.bool, device=device),
        texts=texts,
        prompt_width=P,
        group_size=group_size,
    )


class HFRollout:
    """Sampling with `model.generate` on the training model itself (no second copy of the weights).

    cached: the `hf-cached` decode loop (`_decode`) instead of `model.generate`.
    add_special_tokens: encode prompts with the tokenizer's special tokens (plain prompts of a model
        that wants BOS); False for chat-templated prompts, which already carry them.
    fsdp_root: under FSDP2, the sharded module whose parameters are gathered around generation.
    """

    def __init__(self, model, tokenizer, config: RolloutConfig, cached: bool = False, *,
                 add_special_tokens: bool = False, fsdp_root=None):
        self.cached = cached
        self.fsdp_root = fsdp_root
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.eos_token_id = tokenizer.eos_token_id
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.add_special_tokens = add_special_tokens
        if self.pad_token_id is None:
            raise ValueError("the tokenizer has neither a pad token nor an EOS token")

    def sync_weights(self, model) -> None:
        """Nothing to do: HF rollouts sample from the training model's own weights."""

    @torch.no_grad()
    def generate(self, prompts: Sequence[str], n: Optional[int] = None, greedy: bool = False,
                 max_new_tokens: Optional[int] = None) -> RolloutBatch:
        cfg = self.config
        n = 1 if greedy else (n or cfg.n)
        max_new = max_new_tokens or cfg.max_new_tokens
        device = next(self.model.parameters()).device
        step = cfg.batch_size or len(prompts)
        was_training = self.model.training
        self.model.eval()
        with D.unsharded(self.fsdp_root):
            return self._generate(prompts, n, greedy, max_new, device, step, was_training)

    def _generate(self, prompts, n, greedy, max_new, device, step, was_training) -> RolloutBatch:
        cfg = self.config
        ids_all, mask_all, resp_all = [], [], []
        try:
            for start in range(0, len(prompts), step):
                chunk = prompts[start : start + step]
                ids, mask = encode_prompts(self.tokenizer, chunk, device, self.add_special_tokens)  # (b, P)
                kwargs = dict(max_new_tokens=max_new, pad_token_id=self.pad_token_id, eos_token_id=self.eos_token_id,
                              num_return_sequences=n)
                if greedy:
                    kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
                else:
                    kwargs.update(do_sample=True, temperature=cfg.temperature, top_p=cfg.top_p, top_k=0)
                P = ids.shape[1]
                if self.cached:
                    resp_all.extend(self._decode(ids, mask, n, max_new, greedy))
                else:
                    out = self.model.generate(input_ids=ids, attention_mask=mask, **kwargs)  # (b * n, P + R')
                    resp_all.extend(out[:, P:].tolist())
                ids_all.append(ids.repeat_interleave(n, dim=0))  # (b * n, P)
                mask_all.append(mask.repeat_interleave(n, dim=0))
        finally:
            self.model.train(was_training)
        # Chunks may differ in prompt width: left-pad them all to the widest.
        P = max(t.shape[1] for t in ids_all)
        ids = torch.cat([_left_pad(t, P, self.pad_token_id) for t in ids_all])  # (S, P)
        mask = torch.cat([_left_pad(t, P, 0) for t in mask_all])
        return assemble_batch(ids, mask, resp_all, self.eos_token_id, self.pad_token_id, self.tokenizer, n)

    def _decode(self, ids: torch.Tensor, mask: torch.Tensor, n: int, max_new: int, greedy: bool) -> List[List[int]]:
        """Prefill each prompt once, share its KV cache among its n rows, sample until EOS / max_new,
        dropping finished rows from the batch. Returns the b * n response token lists (EOS included)."""
        from transformers import DynamicCache

        cfg = self.config
        model = self.model
        cache = DynamicCache(config=model.config)
        kw = cache_kwarg(model, cache)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)  # (b, P): left padding does not shift positions
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1, **kw)
        logits = out.logits[:, -1].float().repeat_interleave(n, dim=0)  # (b * n, V)
        if n > 1:
            cache.batch_repeat_interleave(n)
        mask = mask.repeat_interleave(n, dim=0)  # (S, P)
        cur = pos[:, -1:].repeat_interleave(n, dim=0)  # (S, 1)
        S = mask.shape[0]
        alive = torch.arange(S, device=ids.device)
        tokens = torch.full((S, max_new), -1, dtype=torch.long, device=ids.device)
        for t in range(max_new):
            nxt = self._sample(logits, greedy, cfg.temperature, cfg.top_p)  # (s,)
            tokens[alive, t] = nxt
            keep = nxt != self.eos_token_id if self.eos_token_id is not None else torch.ones_like(nxt, dtype=torch.bool)
            if t == max_new - 1 or not bool(keep.any()):
                break
            if not bool(keep.all()):
                k = keep.nonzero().squeeze(1)
                cache.batch_select_indices(k)
                alive, nxt, mask, cur = alive[k], nxt[k], mask[k], cur[k]
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)  # (s, P + t + 1)
            cur = cur + 1
            out = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=cur, use_cache=True, **kw)
            logits = out.logits[:, -1].float()
        return [[x for x in row if x >= 0] for row in tokens.tolist()]

    @staticmethod
    def _sample(logits: torch.Tensor, greedy: bool, temperature: float, top_p: float) -> torch.Tensor:
        if greedy:
            return logits.argmax(-1)
        logits = logits / temperature
        if top_p < 1.0:
            sorted_logits, order = logits.sort(dim=-1, descending=True)
            cum = sorted_logits.softmax(-1).cumsum(-1)
            drop = cum - sorted_logits.softmax(-1) > top_p  # keep the smallest prefix with mass >= top_p
            sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
            logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
        return torch.multinomial(logits.softmax(-1), 1).squeeze(1)


def cache_kwarg(model, cache) -> dict:
    """{"cache": c} on transformers versions that renamed it, {"past_key_values": c} before."""
    import inspect

    params = inspect.signature(model.forward).parameters
    return {"cache": cache} if "cache" in params else {"past_key_values": cache}


def cache_tensors(cache) -> List[tuple]:
    """[(keys, values)] per layer of a DynamicCache (transformers 5 `layers`, 4.x key/value lists)."""
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache))


def _left_pad(t: torch.Tensor, width: int, value: int) -> torch.Tensor:
    if t.shape[1] == width:
        return t
    pad = torch.full((t.shape[0], width - t.shape[1]), value, dtype=t.dtype, device=t.device)
    return torch.cat([pad, t], dim=1)


class VLLMRollout:
    """Sampling with a vLLM engine colocated on the trainer's GPU.

    The engine loads the policy from `model_path` once; `sync_weights(model)` pushes the trainer's
    current weights after each update (full tensors: under FSDP2 the shards are gathered first), and
    clears the prefix cache, whose KV entries belong to the old weights.
    """

    def __init__(self, model_path: str, tokenizer, config: RolloutConfig, seed: int = 0, dtype: str = "auto",
                 max_model_len: Optional[int] = None, *, add_special_tokens: bool = False):
        try:
            # In-process engine, so that the trainer can reach the model runner to load weights.
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
            import vllm  # noqa: F401
        except ImportError:
            raise RuntimeError(
                "--rollout vllm needs the vllm package (GPU only): pip install vllm. "
                "Use --rollout hf (the default) on CPU or without vllm."
            ) from None
        from vllm import LLM

        self.tokenizer = tokenizer
        self.config = config
        self.eos_token_id = tokenizer.eos_token_id
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.add_special_tokens = add_special_tokens
        kwargs = dict(model=model_path, gpu_memory_utilization=config.vllm_gpu_memory_utilization, seed=seed,
                      dtype=dtype, enable_prefix_caching=True)
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        self.llm = LLM(**kwargs)

    def _engine_model(self):
        engine = self.llm.llm_engine
        for path in (
            ("model_executor", "driver_worker", "worker", "model_runner", "model"),  # vLLM V1, in-process
            ("model_executor", "driver_worker", "model_runner", "model"),  # vLLM V0
        ):
            obj = engine
            try:
                for attr in path:
                    obj = getattr(obj, attr)
                return obj
            except AttributeError:
                continue
        return None

    def sync_weights(self, model) -> None:
        items = D.full_state_dict_items(model)
        target = self._engine_model()
        if target is not None:
            target.load_weights(items)
        else:  # newer engines: run the load in the worker
            self.llm.collective_rpc(lambda worker: worker.model_runner.model.load_weights(items))
        if hasattr(self.llm, "reset_prefix_cache"):
            self.llm.reset_prefix_cache()

    @torch.no_grad()
    def generate(self, prompts: Sequence[str], n: Optional[int] = None, greedy: bool = False,
                 max_new_tokens: Optional[int] = None) -> RolloutBatch:
        from vllm import SamplingParams

        cfg = self.config
        n = 1 if greedy else (n or cfg.n)
        ids, mask = encode_prompts(self.tokenizer, prompts, "cpu", self.add_special_tokens)  # (b, P)
        token_lists = [row[m.bool()].tolist() for row, m in zip(ids, mask)]
        params = SamplingParams(
            n=n,
            temperature=0.0 if greedy else cfg.temperature,
            top_p=1.0 if greedy else cfg.top_p,
            top_k=-1,
            max_tokens=max_new_tokens or cfg.max_new_tokens,
            stop_token_ids=[self.eos_token_id] if self.eos_token_id is not None else None,
        )
        outs = self.llm.generate([{"prompt_token_ids": t} for t in token_lists], params, use_tqdm=False)
        responses = []
        for o in outs:
            for c in o.outputs:
                toks = list(c.token_ids)
                if c.finish_reason == "stop" and self.eos_token_id is not None and (not toks or toks[-1] != self.eos_token_id):
                    toks.append(self.eos_token_id)  # stopped on EOS without returning it
                responses.append(toks)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        ids_rep = ids.repeat_interleave(n, dim=0).to(device)  # (b * n, P)
        mask_rep = mask.repeat_interleave(n, dim=0).to(device)
        return assemble_batch(ids_rep, mask_rep, responses, self.eos_token_id, self.pad_token_id, self.tokenizer, n)


def make_rollout(config: RolloutConfig, model, tokenizer, *, model_path: Optional[str] = None, seed: int = 0,
                 dtype: str = "auto", max_model_len: Optional[int] = None, add_special_tokens: bool = False,
                 fsdp_root=None):
    """The rollout engine of `config.backend`, from its factory in ROLLOUT_BACKENDS.

    model_path / seed / dtype / max_model_len: for engines that load the policy themselves (vllm).
    add_special_tokens: encode prompts with the tokenizer's special tokens (plain prompts of a model
        that wants BOS; False for chat-templated prompts). fsdp_root: under FSDP2, the sharded module
        to gather around generation (backends that sample from the training model)."""
    factory = ROLLOUT_BACKENDS.get(config.backend, "RolloutConfig.backend")
    return factory(config, model, tokenizer, model_path=model_path, seed=seed, dtype=dtype,
                   max_model_len=max_model_len, add_special_tokens=add_special_tokens, fsdp_root=fsdp_root)


@ROLLOUT_BACKENDS.register("hf")
def _hf_rollout(config, model, tokenizer, *, add_special_tokens=False, fsdp_root=None, **_):
    return HFRollout(model, tokenizer, config, add_special_tokens=add_special_tokens, fsdp_root=fsdp_root)


@ROLLOUT_BACKENDS.register("hf-cached")
def _hf_cached_rollout(config, model, tokenizer, *, add_special_tokens=False, fsdp_root=None, **_):
    return HFRollout(model, tokenizer, config, cached=True, add_special_tokens=add_special_tokens, fsdp_root=fsdp_root)


@ROLLOUT_BACKENDS.register("vllm")
def _vllm_rollout(config, model, tokenizer, *, model_path=None, seed=0, dtype="auto", max_model_len=None,
                  add_special_tokens=False, **_):
    if model_path is None:
        raise ValueError("--rollout vllm needs the model as a local path or hub id (--model)")
    return VLLMRollout(model_path, tokenizer, config, seed=seed, dtype=dtype, max_model_len=max_model_len,
                       add_special_tokens=add_special_tokens)
