"""Packed (padding-free) against padded training micro-batches: forward + backward tokens/s.

    python benchmarks/bench_packing.py [--threads 1] [--repeats 9] [--seqs 16] [--device cpu|cuda]

Part 1, the trunk: a micro-batch of `--seqs` sequences (prompts of 16-64 tokens, left-padded as
rollouts are; responses of two length spreads: uniform in [16, 512], and long-tailed: lognormal with
median 64 and sigma 1, cut to [16, 1024]) through a randomly initialized Llama (hidden 256, 4 layers,
8 heads of 32, SwiGLU 768, vocabulary 1024: the tiny policy's architecture, larger), then the fused
policy loss (chunked on CPU) and the backward pass. Providers, interleaved repeat by repeat:

    packed        the trainer's packed row (rlev_fast/packing.py), varlen attention per_sequence on
                  CPU; on CUDA each varlen backend that runs (flex, nested, per_sequence, flash_attn)
    padded        the padded trunk, every row padded to the longest sequence (one forward)
    padded-4b     the padded trunk cut into 4 length buckets (the trainer's padded default)

tokens/s counts the batch's real tokens (prompt + response, the same for every provider); the padding
fraction is the share of padded positions in the padded forward. The speedup is packed / padded
(medians). No FLOP convention: every provider computes the same function on the same real tokens.

Part 2 (CPU, --trainer): the trainer's whole update (`rl_update`, one optimizer step) on the default
run's shapes (the shipped tiny policy, 16 embedded-exam prompts x 8 completions, responses uniform in
[4, 48] tokens): padded with the shared prompt and 4 length buckets (the trainer before packing),
packed without and with the shared prompt (the default now). It decides what became of the shared
prompt and the length buckets.

The last stdout line is one JSON object; "speedup" is the uniform spread's packed / padded ratio.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from _common import hardware, load_average, percentile as pct  # noqa: E402  (benchmarks/ is sys.path[0])

VOCAB = 1024


def spread_lengths(kind: str, n: int, g: torch.Generator):
    if kind == "uniform":
        return torch.randint(16, 513, (n,), generator=g).tolist()
    x = torch.exp(math.log(64) + torch.randn(n, generator=g))  # lognormal, median 64, sigma 1
    return x.clamp(16, 1024).round().long().tolist()


def make_batch(kind: str, seqs: int, seed: int, device):
    """A RolloutBatch of `seqs` sequences (one completion per prompt), random token ids."""
    from rlev_fast.rollout import RolloutBatch

    g = torch.Generator().manual_seed(seed)
    plens = torch.randint(16, 65, (seqs,), generator=g).tolist()
    rlens = spread_lengths(kind, seqs, g)
    P, R = max(plens), max(rlens)
    ids = torch.zeros(seqs, P + R, dtype=torch.long)
    am = torch.zeros(seqs, P + R, dtype=torch.long)
    rm = torch.zeros(seqs, R)
    for i, (p, r) in enumerate(zip(plens, rlens)):
        ids[i, P - p : P + r] = torch.randint(3, VOCAB, (p + r,), generator=g)
        am[i, P - p : P + r] = 1
        rm[i, :r] = 1
    batch = RolloutBatch(ids.to(device), am.to(device), rm.to(device), torch.tensor(rlens, device=device),
                         torch.ones(seqs, dtype=torch.bool), [""] * seqs, P, 1)
    real = sum(p + r - 1 for p, r in zip(plens, rlens))  # forward positions the loss needs
    padded = seqs * (P + R - 1)
    return batch, {"real_tokens": sum(plens) + sum(rlens), "padding_fraction": 1 - real / padded,
                   "response_mean": statistics.mean(rlens), "response_max": R, "ideal_speedup": padded / real}


def build_model(device, dtype):
    from rlev_fast.policy import build_tiny_model

    model = build_tiny_model(VOCAB, hidden_size=256, num_layers=4, num_heads=8, intermediate_size=768,
                             max_position_embeddings=2048, seed=0)
    return model.to(device=device, dtype=dtype).train()


def train_step(trunk, batch, buckets: int, autocast):
    """Forward, fused loss and backward of the whole micro-batch; returns seconds."""
    from rlev_fast.loss import PolicyLossConfig, policy_loss
    from rlev_fast.trainer.trunk import forward_pieces

    cfg = PolicyLossConfig()
    num_tokens = float(batch.response_mask.sum())
    if batch.input_ids.is_cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    trunk.zero_grad(set_to_none=True)
    with autocast():
        pieces, W = forward_pieces(trunk, batch, list(range(batch.num_sequences)), False, buckets)
    loss = 0.0
    for pc in pieces:
        adv = torch.ones(pc.num_rows, device=pc.hidden.device)
        loss = loss + policy_loss(pc.hidden, W.to(pc.hidden.dtype), pc.targets, adv, pc.mask, seq_ids=pc.seq_ids,
                                  num_tokens=num_tokens, config=cfg).loss
    loss.backward()
    if batch.input_ids.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def summarize(times, tokens):
    tps = [tokens / t for t in times]
    return {"tokens_per_s": {"median": statistics.median(tps), "p20": pct(tps, 0.2), "p80": pct(tps, 0.8)},
            "step_s": {"median": statistics.median(times), "p20": pct(times, 0.2), "p80": pct(times, 0.8)}}


def trunk_providers(model, device, autocast):
    """(name -> (trunk, length buckets), name -> why it cannot run); packed variants per varlen backend
    that runs here."""
    from rlev_fast import varlen_attention as VA
    from rlev_fast.trainer.trunk import PolicyTrunk

    out, failed = {}, {}
    backends = ["per_sequence"] if device.type == "cpu" else ["flex", "nested", "per_sequence"]
    if device.type == "cuda" and VA.flash_attn_available():
        backends.insert(0, "flash_attn")
    for name in backends:
        label = "packed" if device.type == "cpu" else f"packed-{name}"
        try:
            out[label] = (PolicyTrunk(model, "on", name, autocast), 1)
        except VA.PackingUnsupported as exc:
            failed[label] = str(exc)
    padded = PolicyTrunk(model, "off")
    out["padded"] = (padded, 1)
    out["padded-4b"] = (padded, 4)
    return out, failed


def bench_spreads(args, device):
    dtype = torch.float32
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else contextlib.nullcontext
    model = build_model(device, dtype)
    providers, unavailable = trunk_providers(model, device, autocast)
    results = {}
    for kind in ("uniform", "long_tail"):
        batch, info = make_batch(kind, args.seqs, 1 if kind == "uniform" else 2, device)
        times = {name: [] for name in providers}
        failed = dict(unavailable)
        for rep in range(args.warmup + args.repeats):
            for name, (trunk, nb) in providers.items():  # interleaved: one step of each per repeat
                if name in failed:
                    continue
                try:
                    dt = train_step(trunk, batch, nb, autocast)
                except Exception as exc:  # a GPU backend that does not run here: reported, not fatal
                    failed[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                    continue
                if rep >= args.warmup:
                    times[name].append(dt)
            print(f"[{kind}] repeat {rep + 1}/{args.warmup + args.repeats}: " +
                  ", ".join(f"{n} {t[-1]:.3f} s" for n, t in times.items() if t), file=sys.stderr, flush=True)
        res = dict(info)
        res["providers"] = {n: summarize(t, info["real_tokens"]) for n, t in times.items() if t}
        res["failed"] = failed
        packed = [n for n in res["providers"] if n.startswith("packed")]
        best = max(packed, key=lambda n: res["providers"][n]["tokens_per_s"]["median"]) if packed else None
        if best and "padded" in res["providers"]:
            res["best_packed"] = best
            res["speedup"] = (res["providers"][best]["tokens_per_s"]["median"] /
                              res["providers"]["padded"]["tokens_per_s"]["median"])
            res["speedup_vs_buckets"] = (res["providers"][best]["tokens_per_s"]["median"] /
                                         res["providers"]["padded-4b"]["tokens_per_s"]["median"])
        results[kind] = res
    return results


def bench_trainer(args):
    """rl_update on the default run's shapes: padded + shared prompt + 4 buckets vs packed with / without."""
    from rlev_fast.data import default_dataset, format_prompt
    from rlev_fast.distributed import DistInfo
    from rlev_fast.policy import load_default_policy
    from rlev_fast.rollout import RolloutConfig, assemble_batch, encode_prompts
    from rlev_fast.trainer import AlgoConfig, TrainConfig, rl_update
    from rlev_fast.trainer.runtime import make_scheduler
    from rlev_fast.trainer.trunk import PolicyTrunk

    model, tok = load_default_policy("cpu", torch.float32)
    model.train()
    train_set, _ = default_dataset(0)
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(train_set), generator=g)[:16].tolist()
    ids, mask = encode_prompts(tok, [format_prompt(train_set[i], tok) for i in idx], "cpu")
    ids, mask = ids.repeat_interleave(8, 0), mask.repeat_interleave(8, 0)
    resp = [torch.randint(5, len(tok), (int(torch.randint(4, 49, (1,), generator=g)),), generator=g).tolist()
            for _ in range(128)]
    batch = assemble_batch(ids, mask, resp, None, tok.pad_token_id, tok, 8)
    adv = torch.randn(128, generator=g)
    variants = {"padded, shared prompt, 4 buckets (before)": ("off", True),
                "packed, prompts repeated": ("on", False),
                "packed, shared prompt (default)": ("on", True)}
    trunks = {name: PolicyTrunk(model, mode) for name, (mode, _) in variants.items()}
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: every repeat trains the same weights
    times = {name: [] for name in variants}
    real = int(mask.sum()) + int(batch.response_lengths.sum())
    for rep in range(args.warmup + args.repeats):
        for name, (_, share) in variants.items():
            cfg = TrainConfig(rollout=RolloutConfig(n=8), algo=AlgoConfig(share_prompt=share, loss_backend="chunked"))
            t0 = time.perf_counter()
            rl_update(trunks[name], batch, adv, opt, make_scheduler(opt, cfg.optim, 10), cfg, DistInfo())
            if rep >= args.warmup:
                times[name].append(time.perf_counter() - t0)
        print(f"[trainer] repeat {rep + 1}/{args.warmup + args.repeats}: " +
              ", ".join(f"{n.split(',')[0]}{'+share' if v[1] else ''} {times[n][-1]:.3f} s" for n, v in variants.items()
                        if times[n]), file=sys.stderr, flush=True)
    return {"real_tokens": real, "variants": {n: summarize(t, real) for n, t in times.items()}}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (set once, for every provider)")
    p.add_argument("--repeats", type=int, default=9, help="measured steps per provider and spread")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--seqs", type=int, default=16, help="sequences per micro-batch")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--spreads", action=argparse.BooleanOptionalAction, default=True,
                   help="part 1: the trunk on the two response-length spreads")
    p.add_argument("--trainer", action=argparse.BooleanOptionalAction, default=True,
                   help="part 2: rl_update on the default run's shapes (CPU only)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: the GPU case of this benchmark needs one; nothing measured")
        print(json.dumps({"bench": "packing", "device": "cuda", "skipped": "no CUDA device"}))
        return
    hw = hardware(device)
    res = {"bench": "packing", "hardware": hw, "device": args.device, "seqs": args.seqs, "repeats": args.repeats,
           "dtype": "bf16 autocast" if device.type == "cuda" else "float32",
           "spreads": bench_spreads(args, device) if args.spreads else {}}
    if args.trainer and device.type == "cpu":
        res["trainer"] = bench_trainer(args)
    res["load_avg_1m_at_end"] = load_average()
    print(f"hardware: {hw['cpu']}{', ' + hw['gpu'] if 'gpu' in hw else ''}, torch {hw['torch']} with "
          f"{hw['torch_threads']} threads; load average {hw['load_avg_1m_at_start']} at start, "
          f"{res['load_avg_1m_at_end']} at end")
    print(f"forward + fused loss + backward of {args.seqs} sequences, {res['dtype']}; tokens/s of real tokens, "
          f"median [p20, p80] over {args.repeats} interleaved repeats")
    for kind, r in res["spreads"].items():
        print(f"\n{kind}: responses mean {r['response_mean']:.0f} max {r['response_max']}, {r['real_tokens']} real tokens, "
              f"padding {100 * r['padding_fraction']:.1f}% of the padded forward (ideal speedup {r['ideal_speedup']:.2f}x)")
        for name, s in r["providers"].items():
            t = s["tokens_per_s"]
            print(f"  {name:<22} {t['median']:>9.0f} [{t['p20']:.0f}, {t['p80']:.0f}] tokens/s   "
                  f"{s['step_s']['median']:.3f} s")
        for name, why in r["failed"].items():
            print(f"  {name:<22} did not run: {why}")
        if "speedup" in r:
            print(f"  speedup {r['best_packed']} / padded: {r['speedup']:.2f}x; / padded-4b: {r['speedup_vs_buckets']:.2f}x")
    if "trainer" in res:
        print(f"\nrl_update on the default run's shapes (128 sequences, {res['trainer']['real_tokens']} real tokens):")
        for name, s in res["trainer"]["variants"].items():
            t = s["step_s"]
            print(f"  {name:<44} {t['median']:.3f} s [{t['p20']:.3f}, {t['p80']:.3f}]")
    res["speedup"] = res["spreads"].get("uniform", {}).get("speedup")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
