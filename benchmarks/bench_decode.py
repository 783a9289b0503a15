"""Decode speed of `--rollout hf-cached` against `--rollout hf` (model.generate), per generated token.

    python benchmarks/bench_decode.py [--repeats 80] [--warmup 2] [--threads 1,2] [--prompts 16] [--n 8]
                                      [--max-new-tokens 48]

Providers, on the shipped tiny policy and the embedded exam's first --prompts train prompts
(`rlev_fast.data.format_prompt`), each sampling --n completions per prompt, up to --max-new-tokens
new tokens, temperature 1, top-p 1:

    hf-cached   `--rollout hf-cached`: one prefill per prompt shared by its n rows, finished rows
                dropped, the HF model's forward once per generated token
    generate    `--rollout hf`: plain `model.generate`

The figure is wall time of one `rollout.generate(prompts)` call (prefill, decode, batch assembly)
divided by the tokens it generated (EOS included), in microseconds. The providers are interleaved:
each repeat runs every provider once at every thread count, in rotating order, after the same
`torch.manual_seed`, so all see the same machine state. Reported: median [p20, p80] per provider
and thread count, and the ratio hf-cached / generate of per-token time (the medians' ratio, and
the median [p20, p80] of the per-repeat ratios). The last line of stdout is one JSON object.
(This script also measured the Llama-only fast decode step that `rollout.py` once had, before it
was removed: benchmarks/RESULTS.md, "Decode".)
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
from _common import hardware, load_average, percentile as pct  # noqa: E402  (benchmarks/ is sys.path[0])

def stats(xs):
    return {"median": statistics.median(xs), "p20": pct(xs, 0.2), "p80": pct(xs, 0.8)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=80, help="measured repeats (each: every provider, every thread count)")
    p.add_argument("--warmup", type=int, default=2, help="unmeasured repeats first")
    p.add_argument("--threads", default="1,2", help="torch thread counts, comma-separated")
    p.add_argument("--prompts", type=int, default=16, help="prompts per rollout")
    p.add_argument("--n", type=int, default=8, help="completions per prompt")
    p.add_argument("--max-new-tokens", type=int, default=48, help="response cap")
    args = p.parse_args()

    from rlev_fast.data import default_dataset, format_prompt
    from rlev_fast.policy import load_default_policy, num_parameters
    from rlev_fast.rollout import RolloutConfig, make_rollout

    providers = ("hf-cached", "generate")

    threads = [int(t) for t in args.threads.split(",")]
    hw = hardware(packages=("transformers",))
    model, tok = load_default_policy("cpu", torch.float32)
    train_set, _ = default_dataset(0)
    prompts = [format_prompt(ex, tok) for ex in train_set[: args.prompts]]
    mk = lambda backend: make_rollout(RolloutConfig(backend=backend, n=args.n, max_new_tokens=args.max_new_tokens,
                                                    temperature=1.0, top_p=1.0), model, tok)
    cached, generate = mk("hf-cached"), mk("hf")
    rollouts = {"hf-cached": cached, "generate": generate}

    def once(name, seed):
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        b = rollouts[name].generate(prompts)
        return time.perf_counter() - t0, int(b.response_lengths.sum())

    us = {t: {name: [] for name in providers} for t in threads}
    rollout_s = {t: {name: [] for name in providers} for t in threads}
    tokens = {t: {name: [] for name in providers} for t in threads}
    t_start = time.perf_counter()
    for r in range(args.warmup + args.repeats):
        for t in threads:
            torch.set_num_threads(t)
            k = r % len(providers)
            for name in providers[k:] + providers[:k]:  # rotating order
                dt, ntok = once(name, seed=r)
                if r >= args.warmup:
                    us[t][name].append(dt / ntok * 1e6)
                    rollout_s[t][name].append(dt)
                    tokens[t][name].append(ntok)
        if r + 1 == args.warmup or (r + 1 - args.warmup) % 10 == 0:
            print(f"repeat {r + 1}/{args.warmup + args.repeats} ({time.perf_counter() - t_start:.0f} s)",
                  file=sys.stderr, flush=True)
    hw["load_avg_1m_at_end"] = load_average()

    res = {"bench": "decode", "hardware": hw,
           "policy_parameters": num_parameters(model), "prompts": args.prompts, "n": args.n,
           "max_new_tokens": args.max_new_tokens, "temperature": 1.0, "repeats": args.repeats, "warmup": args.warmup,
           "wall_s": time.perf_counter() - t_start, "us_per_token": {}, "rollout_s": {}, "gen_tokens": {}, "ratios": {}}
    pairs = [("hf-cached", "generate")]
    for t in threads:
        key = str(t)
        res["us_per_token"][key] = {name: stats(us[t][name]) for name in providers}
        res["rollout_s"][key] = {name: stats(rollout_s[t][name]) for name in providers}
        res["gen_tokens"][key] = {name: stats(tokens[t][name]) for name in providers}
        med = res["us_per_token"][key]
        res["ratios"][key] = {f"{a}/{b}": {"of_medians": med[a]["median"] / med[b]["median"],
                                          "paired": stats([x / y for x, y in zip(us[t][a], us[t][b])])}
                              for a, b in pairs}

    print(f"hardware: {hw['cpu']}, {hw['cores']} cores, torch {hw['torch']}, transformers {hw.get('transformers')}, "
          f"load average {hw['load_avg_1m_at_start']:.2f} at start, {hw.get('load_avg_1m_at_end', float('nan')):.2f} at end")
    print(f"shipped tiny policy ({res['policy_parameters']:,} parameters), {args.prompts} prompts x {args.n} completions, "
          f"up to {args.max_new_tokens} new tokens, temperature 1; median [p20, p80] over {args.repeats} interleaved "
          f"repeats after {args.warmup} warm-up repeats")
    print(f"{'provider':<10} {'threads':>7}  {'us per generated token':<24} {'s per rollout':<22} {'tokens':>6}")
    for t in threads:
        for name in providers:
            s, rs = res["us_per_token"][str(t)][name], res["rollout_s"][str(t)][name]
            print(f"{name:<10} {t:>7}  {s['median']:>6.1f} [{s['p20']:.1f}, {s['p80']:.1f}]".ljust(45)
                  + f"{rs['median']:.3f} [{rs['p20']:.3f}, {rs['p80']:.3f}]".ljust(23)
                  + f"{res['gen_tokens'][str(t)][name]['median']:>6.0f}")
    for t in threads:
        for pair, q in res["ratios"][str(t)].items():
            print(f"{pair} per-token time, {t} thread{'s' if t > 1 else ''}: {q['of_medians']:.3f} (medians); "
                  f"per repeat {q['paired']['median']:.3f} [{q['paired']['p20']:.3f}, {q['paired']['p80']:.3f}]")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
