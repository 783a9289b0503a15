"""Rollouts: n completions per prompt, as token ids the trainer can score and train on.

Two backends return the same `RolloutBatch`:

    hf    `model.generate` (batched, temperature / top-p sampling, n completions per prompt, stops at
          EOS). The CPU default; also right for small models on one GPU.
    hf-cached  the same HF model and KV cache, with a decode loop of our own: each prompt is
          prefilled once and its cache shared by its n completions (generate prefills it n times),
          and finished sequences leave the batch (generate keeps computing them). Same sampling
          distribution. Measured on the tiny policy, 16 prompts x 8, 1 CPU thread: 0.27-0.33 s per
          rollout vs 0.56-0.60 s for generate. For Llama-architecture models the decode steps run
          the model's layers directly on a preallocated KV cache (`_decode_fast`, same ops as the
          HF forward; greedy output identical to generate): 73 vs 93 us per generated token with the
          HF forward per step (tiny policy, 16 x 8, 2 threads).
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
import sys
from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch

from . import distributed as D
from .config_checks import check_int, check_number

ROLLOUT_BACKENDS = ("hf", "hf-cached", "vllm")


@dataclass
class RolloutConfig:
    """How completions are sampled.

    backend: "hf" (model.generate), "hf-cached" (own decode loop, shared prompt cache) or "vllm"
        (GPU engine, weights pushed after each update).
    n: completions per prompt (the GRPO group size).
    max_new_tokens: response length cap in tokens.
    temperature / top_p: sampling; the loss uses the same temperature so that its log-probs are
        those of the distribution the tokens were drawn from. top_k is always off.
    batch_size: prompts per generate call (0: all of them at once).
    vllm_gpu_memory_utilization: fraction of GPU memory vLLM may take (the trainer needs the rest).
    """

    backend: str = "hf"
    n: int = 8
    max_new_tokens: int = 48
    temperature: float = 1.0
    top_p: float = 1.0
    batch_size: int = 0
    vllm_gpu_memory_utilization: float = 0.3

    def __post_init__(self):
        if self.backend not in ROLLOUT_BACKENDS:
            raise ValueError(f"RolloutConfig.backend must be one of {ROLLOUT_BACKENDS}, got {self.backend!r}")
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
    """Sampling with `model.generate` on the training model itself (no second copy of the weights)."""

    def __init__(self, model, tokenizer, config: RolloutConfig, cached: bool = False):
        self.cached = cached
        self.fsdp_root = None  # set by the trainer under FSDP2: the sharded module to gather around generation
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.eos_token_id = tokenizer.eos_token_id
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.add_special_tokens = False
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
        if _fast_decoder_ok(model, cache):
            with torch.inference_mode():
                self._decode_fast(cache, logits, mask, cur, tokens, max_new, greedy)
            return [[x for x in row if x >= 0] for row in tokens.tolist()]
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

    def _decode_fast(self, cache, logits, mask, cur, tokens, max_new: int, greedy: bool) -> None:
        """The decode steps of `_decode` for Llama-architecture models, without the HF forward's
        per-call overhead: the same ops as LlamaDecoderLayer (RMSNorm and the SiLU MLP inlined, the
        model's rotary embedding and apply_rotary_pos_emb, SDPA with the padding mask), on a
        preallocated KV cache (no concatenation per token). Finished rows are dropped from the batch once a quarter of it has
        finished (until then they are computed and their tokens discarded: rows are independent, so
        the live rows' distributions are unchanged). Writes the sampled tokens into `tokens` (-1 after
        EOS)."""
        import torch.nn.functional as F

        cfg = self.config
        model = self.model
        inner = model.model
        mod = sys.modules[type(inner.layers[0].self_attn).__module__]
        rope = mod.apply_rotary_pos_emb
        eos = self.eos_token_id
        S, P = mask.shape
        dev = mask.device
        T = P + max_new
        Ks, Vs = [], []
        for k, v in cache_tensors(cache):  # (b * n, heads, P, d) after batch_repeat_interleave
            K = k.new_empty(k.shape[0], k.shape[1], T, k.shape[3])
            V = v.new_empty(v.shape[0], v.shape[1], T, v.shape[3])
            K[:, :, :P] = k
            V[:, :, :P] = v
            Ks.append(K)
            Vs.append(V)
        amask = torch.zeros((S, 1, 1, T), dtype=torch.bool, device=dev)
        amask[:, 0, 0, :P] = mask.bool()
        alive = torch.arange(S, device=dev)  # batch row -> sequence
        done = torch.zeros(S, dtype=torch.bool, device=dev)  # finished before this step
        attns = [layer.self_attn for layer in inner.layers]

        def norm(mod, x):  # LlamaRMSNorm.forward, inlined (module calls cost more than these ops)
            if type(mod).__name__ != "LlamaRMSNorm" or x.dtype != torch.float32:
                return mod(x)
            return mod.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + mod.variance_epsilon))

        def mlp(mod, x):  # LlamaMLP.forward, inlined
            if type(mod).__name__ != "LlamaMLP" or type(mod.act_fn).__name__ != "SiLUActivation":
                return mod(x)
            g = F.silu(F.linear(x, mod.gate_proj.weight, mod.gate_proj.bias))
            return F.linear(g * F.linear(x, mod.up_proj.weight, mod.up_proj.bias), mod.down_proj.weight, mod.down_proj.bias)

        groups = [getattr(a, "num_key_value_groups", 1) for a in attns]
        for t in range(max_new):
            nxt = self._sample(logits, greedy, cfg.temperature, cfg.top_p)  # (s,)
            tokens[alive, t] = nxt.masked_fill(done, -1)
            if eos is not None:
                done = done | (nxt == eos)
            ndone = int(done.sum())
            s = done.shape[0]
            if t == max_new - 1 or ndone == s:
                break
            if ndone and ndone * 4 >= s:
                k = (~done).nonzero().squeeze(1)
                Ks = [_select_rows(K, k, P + t) for K in Ks]
                Vs = [_select_rows(V, k, P + t) for V in Vs]
                amask, alive, nxt, cur, done = amask[k], alive[k], nxt[k], cur[k], done[k]
            L = P + t  # cache slot of the token being fed
            amask[:, :, :, L] = True
            cur = cur + 1
            h = inner.embed_tokens(nxt[:, None])  # (s, 1, H)
            cos, sin = inner.rotary_emb(h, cur)
            m = amask[:, :, :, : L + 1]
            for i, layer in enumerate(inner.layers):
                a = attns[i]
                x = norm(layer.input_layernorm, h)
                shp = (h.shape[0], 1, -1, a.head_dim)
                q = F.linear(x, a.q_proj.weight, a.q_proj.bias).view(shp).transpose(1, 2)
                kk = F.linear(x, a.k_proj.weight, a.k_proj.bias).view(shp).transpose(1, 2)
                vv = F.linear(x, a.v_proj.weight, a.v_proj.bias).view(shp).transpose(1, 2)
                q, kk = rope(q, kk, cos, sin)
                Ks[i][:, :, L : L + 1] = kk
                Vs[i][:, :, L : L + 1] = vv
                kc, vc = Ks[i][:, :, : L + 1], Vs[i][:, :, : L + 1]
                if groups[i] > 1:
                    kc = kc.repeat_interleave(groups[i], dim=1)
                    vc = vc.repeat_interleave(groups[i], dim=1)
                o = F.scaled_dot_product_attention(q, kc, vc, attn_mask=m, scale=a.scaling)  # (s, heads, 1, d)
                h = h + F.linear(o.transpose(1, 2).reshape(h.shape[0], 1, -1), a.o_proj.weight, a.o_proj.bias)
                h = h + mlp(layer.mlp, norm(layer.post_attention_layernorm, h))
            h = norm(inner.norm, h)
            logits = F.linear(h[:, -1], model.lm_head.weight).float()

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


def _select_rows(buf: torch.Tensor, rows: torch.Tensor, filled: int) -> torch.Tensor:
    """Rows `rows` of a (S, heads, T, d) cache buffer, copying only its first `filled` slots."""
    out = buf.new_empty(rows.shape[0], *buf.shape[1:])
    torch.index_select(buf[:, :, :filled], 0, rows, out=out[:, :, :filled])
    return out


def _fast_decoder_ok(model, cache) -> bool:
    """Whether `_decode_fast` reproduces this model's forward: a plain Llama (no sliding window,
    SDPA attention, no lm_head bias) with a filled DynamicCache. RLEV_FAST_HF_DECODE=1
    forces the HF-forward decode loop instead."""
    if type(model).__name__ != "LlamaForCausalLM" or os.environ.get("RLEV_FAST_HF_DECODE") == "1":
        return False
    c = model.config
    inner = getattr(model, "model", None)
    if inner is None or not hasattr(inner, "rotary_emb") or not hasattr(inner, "embed_tokens"):
        return False
    if getattr(c, "_attn_implementation", None) != "sdpa":
        return False
    head = getattr(model, "lm_head", None)
    if getattr(c, "sliding_window", None) or head is None or getattr(head, "bias", None) is not None:
        return False
    layers = getattr(cache, "layers", None)
    if not layers or len(layers) != len(inner.layers) or type(layers[0]).__name__ != "DynamicLayer":
        return False
    a = inner.layers[0].self_attn
    return all(hasattr(a, x) for x in ("q_proj", "k_proj", "v_proj", "o_proj", "scaling", "head_dim"))


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
                 max_model_len: Optional[int] = None):
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
        self.add_special_tokens = False
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


def make_rollout(config: RolloutConfig, model, tokenizer, model_path: Optional[str] = None, seed: int = 0,
                 dtype: str = "auto", max_model_len: Optional[int] = None):
    if config.backend in ("hf", "hf-cached"):
        return HFRollout(model, tokenizer, config, cached=config.backend == "hf-cached")
    if model_path is None:
        raise ValueError("--rollout vllm needs the model as a local path or hub id (--model)")
    return VLLMRollout(model_path, tokenizer, config, seed=seed, dtype=dtype, max_model_len=max_model_len)
