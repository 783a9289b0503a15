"""Benchmark of the fused policy loss: speed and peak memory of each provider, interleaved in one run.

Providers
  reference  policy_loss(backend="reference"): eager, materializes the fp32 [N, V] logits (the baseline)
  compile    torch.compile of the reference path (reported as "did not compile" when it fails)
  chunked    policy_loss(backend="chunked"): PyTorch, chunked over tokens
  triton     policy_loss(backend="triton"): the fused kernels (CUDA only; skipped when not importable)
  liger      Liger-Kernel's LigerFusedLinearGRPOLoss, when installed. Mapping of our config:
             clip_low/clip_high -> epsilon_low/epsilon_high; kl_coef=0 -> beta=0, use_ref_model=False;
             loss_agg="token-mean" -> loss_type="bnpo" (sum(mask * loss) / sum(mask)); temperature ->
             temperature; per-sequence advantages [B] on [B, T, H] input; old_logprobs ->
             old_per_token_logps; chunk_size=1 sequence (= T tokens) per chunk; compiled=True on CUDA,
             False on CPU. Differences: Liger does not clamp the log-ratio at +-20 (inactive here).
All providers solve the same problem: hidden [B, T, H] (N = B T tokens), per-sequence advantages,
old log-probs near the current ones, token-mean PPO with clip 0.2 / 0.28, no KL, no entropy.

Modes
  GPU (default when CUDA is present): bf16, (H, V) in (896,151936) (3584,152064) (4096,151936)
      (4096,128256), N in 4096 16384 32768 and ragged 12345; forward, backward and full step
      (median, p20, p80); peak memory above inputs = torch.cuda.max_memory_allocated() - the bytes
      allocated before the step (inputs); effective TFLOP/s = 6 N H V / step time, and as a fraction of
      the bf16 matmul rate measured in the same run (torch.matmul of the same [N, H] x [H, V]).
  CPU (default without CUDA): fp32, N=8192, H=512, V=32000, 7 interleaved repeats.
      Peak memory on CPU: each provider runs one warm-up step and then one measured step in a
      fresh subprocess with MALLOC_MMAP_THRESHOLD_=65536 (every tensor above 64 KiB is its own mmap,
      returned to the OS on free, so resident memory tracks live tensors); before the measured step
      the kernel's peak-RSS counter is reset (`echo 5 > /proc/self/clear_refs`), and the result is
      VmHWM - VmRSS(before the step). tracemalloc does not see torch's allocations, so it is not used.

The log-prob primitive (--op logprobs): per-token log-probs and entropies of the targets from the same
hidden states and weight, then backward of sum(a logp + b H) with fixed random a, b (both outputs'
gradients). Providers:
  logprobs-reference  rlev_fast.fused_logprobs(backend="reference"): fp32 logits materialized
  logprobs-chunked    fused_logprobs(backend="chunked")
  logprobs-triton     fused_logprobs(backend="triton") (CUDA only)
  trl-chunked         TRL's _ChunkedLogProbFunction (trl/trainer/utils.py; TRL's own vocabulary tile
                      _CHUNKED_LOGPROB_CHUNK_SIZE, outputs log_probs and entropy), CPU and GPU
  verl-lce            verl's linear_cross_entropy (verl/utils/kernel; Triton, GPU only)

FLOP convention: 6 * N * H * V per full step (2 forward + 4 backward matmul FLOPs per MAC of the lm_head).
Forward of the fused providers (chunked, triton, liger) already includes their gradient work, so
compare full steps. Stdout ends with one JSON line holding every result.

    python benchmarks/bench_loss.py                       # CPU or GPU mode, by what is present
    python benchmarks/bench_loss.py --quick               # GPU: 2 shapes x 2 N, 3 repeats
    python benchmarks/bench_loss.py --shapes 4096x151936 --n 16384 --providers chunked,triton
    python benchmarks/bench_loss.py --op logprobs          # the log-prob primitive against TRL (and verl on GPU)
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from rlev_fast.logprobs import fused_logprobs  # noqa: E402
from rlev_fast.loss import PolicyLossConfig, policy_loss  # noqa: E402
from _common import hardware, percentile as pct  # noqa: E402  (benchmarks/ is sys.path[0])

GPU_SHAPES = [(896, 151936), (3584, 152064), (4096, 151936), (4096, 128256)]
GPU_NS = [4096, 12345, 16384, 32768]
LOSS_PROVIDERS = ("reference", "compile", "chunked", "triton", "liger")
LOGPROB_PROVIDERS = ("logprobs-reference", "logprobs-chunked", "logprobs-triton", "trl-chunked", "verl-lce")
ALL_PROVIDERS = LOSS_PROVIDERS + LOGPROB_PROVIDERS


# ----------------------------------------------------------------------------------------------
# Inputs and providers
# ----------------------------------------------------------------------------------------------
def split_bt(N: int, max_t: int = 1024):
    """N = B * T with the largest T <= max_t dividing N (ragged N gives odd B, T; e.g. 12345 = 15 x 823)."""
    for T in range(min(max_t, N), 0, -1):
        if N % T == 0:
            return N // T, T
    return N, 1


def make_inputs(N, H, V, dtype, device, seed=0):
    g = torch.Generator(device="cpu").manual_seed(seed)
    B, T = split_bt(N)
    h = (torch.randn(B, T, H, generator=g) * 1.0).to(dtype)
    W = (torch.randn(V, H, generator=g) * (2.0 / math.sqrt(H))).to(dtype)
    tgt = torch.randint(0, V, (B, T), generator=g)
    mask = torch.ones(B, T)
    mask[:, T - T // 8:] = 0.0  # some padding at the end of each sequence
    adv = torch.randn(B, generator=g)
    # old log-probs near typical log-probs of this logit spread (about -log V); ratios around 1
    old = torch.full((B, T), -math.log(V)) + 0.3 * torch.randn(B, T, generator=g)
    d = dict(hidden=h, weight=W, targets=tgt, mask=mask, advantages=adv, old=old)
    return {k: v.to(device) for k, v in d.items()}


def bench_config(chunk_size: int) -> PolicyLossConfig:
    return PolicyLossConfig(clip_low=0.2, clip_high=0.28, chunk_size=chunk_size)


def make_logprob_provider(name: str, inp: dict, device: torch.device, chunk_size: int):
    """(fn(h, W) -> sum(a logp + b H), note) or (None, reason): the log-prob primitive of each provider."""
    tgt = inp["targets"].reshape(-1)
    g = torch.Generator(device="cpu").manual_seed(1)
    a, b = torch.randn(tgt.numel(), generator=g).to(device), torch.randn(tgt.numel(), generator=g).to(device)

    def flat(h):
        return h.reshape(-1, h.shape[-1])

    if name.startswith("logprobs-"):
        backend = name.split("-", 1)[1]
        if backend == "triton" and device.type != "cuda":
            return None, "CUDA only"

        def fn(h, W):
            o = fused_logprobs(flat(h), W, tgt, return_entropy=True, backend=backend, chunk_size=chunk_size)
            return (a * o.logprobs).sum() + (b * o.entropy).sum()

        return fn, ""
    if name == "trl-chunked":
        try:
            from trl.trainer.utils import _CHUNKED_LOGPROB_CHUNK_SIZE, _ChunkedLogProbFunction
        except Exception as e:
            return None, f"not installed ({type(e).__name__})"

        def fn(h, W):
            lp, ent, *_ = _ChunkedLogProbFunction.apply(flat(h), W, None, tgt, 1.0, _CHUNKED_LOGPROB_CHUNK_SIZE, None,
                                                        1.0, ("log_probs", "entropy"))
            return (a * lp).sum() + (b * ent).sum()

        return fn, ""
    if name == "verl-lce":
        if device.type != "cuda":
            return None, "CUDA only (Triton kernels)"
        try:
            from verl.utils.kernel.linear_cross_entropy import linear_cross_entropy
        except Exception as e:
            return None, f"not installed ({type(e).__name__})"

        def fn(h, W):
            lp, ent = linear_cross_entropy(flat(h), W, tgt, 1.0, "none")
            return (a * lp).sum() + (b * ent).sum()

        return fn, ""
    raise ValueError(name)


def make_provider(name: str, inp: dict, cfg: PolicyLossConfig, device: torch.device):
    """Returns (fn(h, W) -> loss tensor, note) or (None, reason)."""
    if name in LOGPROB_PROVIDERS:
        return make_logprob_provider(name, inp, device, cfg.chunk_size)
    tgt, adv, mask, old = inp["targets"], inp["advantages"], inp["mask"], inp["old"]
    if name in ("reference", "chunked", "triton"):
        if name == "triton":
            if device.type != "cuda":
                return None, "CUDA only"
            try:
                import rlev_fast.kernels.fused_policy_loss  # noqa: F401
            except Exception as e:  # not written yet / triton missing
                return None, f"unavailable ({type(e).__name__}: {e})"[:120]

        def fn(h, W, _b=name):
            return policy_loss(h, W, tgt, adv, mask, old, config=cfg, backend=_b).loss

        return fn, ""
    if name == "compile":
        def eager(h, W):
            return policy_loss(h, W, tgt, adv, mask, old, config=cfg, backend="reference").loss

        try:
            compiled = torch.compile(eager)
        except Exception as e:
            return None, f"did not compile ({type(e).__name__})"
        return compiled, ""
    if name == "liger":
        try:
            from liger_kernel.chunked_loss import LigerFusedLinearGRPOLoss
        except Exception as e:
            return None, f"not installed ({type(e).__name__})"
        mod = LigerFusedLinearGRPOLoss(
            beta=0.0, use_ref_model=False, compiled=device.type == "cuda", chunk_size=1,
            epsilon_low=cfg.clip_low, epsilon_high=cfg.clip_high, loss_type="bnpo", temperature=cfg.temperature)

        def fn(h, W):
            return mod(h, W, tgt, mask, adv, old_per_token_logps=old)[0]

        return fn, ""
    raise ValueError(name)


# ----------------------------------------------------------------------------------------------
# Timing and memory
# ----------------------------------------------------------------------------------------------
def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed_step(fn, inp, device):
    """One full step: returns (fwd_s, bwd_s)."""
    h = inp["hidden"].detach().requires_grad_(True)
    W = inp["weight"].detach().requires_grad_(True)
    sync(device)
    t0 = time.perf_counter()
    loss = fn(h, W)
    sync(device)
    t1 = time.perf_counter()
    loss.backward()
    sync(device)
    t2 = time.perf_counter()
    if not torch.isfinite(loss).item():
        raise RuntimeError("non-finite loss")
    del loss, h, W
    return t1 - t0, t2 - t1


def cuda_peak_step(fn, inp, device):
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    timed_step(fn, inp, device)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated(device) - base


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def cpu_mem_child(args):
    """Subprocess body: warm-up step, reset the peak-RSS counter, measured step, print JSON."""
    torch.set_num_threads(args.threads or torch.get_num_threads())
    device = torch.device("cpu")
    N, H, V = args.n_list[0], args.shape_list[0][0], args.shape_list[0][1]
    inp = make_inputs(N, H, V, torch.float32, device)
    fn, note = make_provider(args.mem_child, inp, bench_config(args.chunk_size), device)
    if fn is None:
        print(json.dumps({"error": note}))
        return
    timed_step(fn, inp, device)  # warm-up: thread pools, BLAS workspaces, lazy imports
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    base = _status_kib("VmRSS")
    timed_step(fn, inp, device)
    peak = _status_kib("VmHWM")
    print(json.dumps({"peak_above_inputs_bytes": (peak - base) * 1024}))


def cpu_peak_subprocess(provider, args):
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="65536")
    cmd = [sys.executable, os.path.abspath(__file__), "--_mem-child", provider, "--device", "cpu", "--op", args.op,
           "--n", str(args.n_list[0]), "--shapes", "%dx%d" % args.shape_list[0], "--chunk-size", str(args.chunk_size)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        last = [ln for ln in r.stdout.strip().splitlines() if ln.startswith("{")]
        res = json.loads(last[-1]) if last else {"error": (r.stderr or "no output")[-300:]}
    except Exception as e:
        res = {"error": f"{type(e).__name__}: {e}"}
    return res.get("peak_above_inputs_bytes"), res.get("error")


def matmul_rate(N, H, V, dtype, device, reps=5):
    a = torch.randn(N, H, device=device).to(dtype)
    b = torch.randn(H, V, device=device).to(dtype)
    torch.matmul(a, b)
    ts = []
    for _ in range(reps):
        sync(device)
        t0 = time.perf_counter()
        c = torch.matmul(a, b)
        sync(device)
        ts.append(time.perf_counter() - t0)
        del c
    return 2.0 * N * H * V / statistics.median(ts) / 1e12


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------
def run(args):
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = device.type == "cuda"
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32, "fp16": torch.float16}[args.dtype]
    hw = hardware(device, packages=("triton", "liger-kernel", "trl", "verl"))
    print(f"# bench_loss: {'GPU' if gpu else 'CPU'} mode, op {args.op}, dtype {args.dtype}")
    print(f"# hardware: {json.dumps(hw)}")
    print("# FLOP convention: 6 * N * H * V per full step; TFLOP/s = that / median step time")
    if not gpu:
        print("# CPU peak memory: fresh subprocess per provider, MALLOC_MMAP_THRESHOLD_=65536, "
              "VmHWM (reset via /proc/self/clear_refs) - VmRSS before the step")
    results = []
    first = True
    for (H, V) in args.shape_list:
        for N in args.n_list:
            inp = make_inputs(N, H, V, dtype, device)
            cfg = bench_config(args.chunk_size)
            mm = matmul_rate(N, H, V, dtype, device) if (gpu or args.matmul_rate) else None
            provs: Dict[str, Callable] = {}
            rows: Dict[str, dict] = {}
            for p in args.provider_list:
                if p == "compile" and args.quick and not first:
                    rows[p] = {"status": "skipped (--quick: first config only)"}
                    continue
                fn, note = make_provider(p, inp, cfg, device)
                if fn is None:
                    rows[p] = {"status": note}
                    continue
                try:  # warm-up (compiles, autotunes) and the memory measurement on GPU
                    timed_step(fn, inp, device)
                    rows[p] = {"status": "ok"}
                    if gpu:
                        rows[p]["peak_mem_bytes"] = cuda_peak_step(fn, inp, device)
                    provs[p] = fn
                except torch.cuda.OutOfMemoryError if gpu else MemoryError:
                    rows[p] = {"status": "OOM"}
                except Exception as e:
                    msg = f"{type(e).__name__}: {e}".splitlines()[0][:150]
                    rows[p] = {"status": ("did not compile: " if p == "compile" else "failed: ") + msg}
                if gpu:
                    torch.cuda.empty_cache()
            first = False
            fwd = {p: [] for p in provs}
            bwd = {p: [] for p in provs}
            names = list(provs)
            for r in range(args.repeats):  # interleaved, rotating the order every repeat
                order = names[r % len(names):] + names[: r % len(names)] if names else []
                for p in order:
                    try:
                        f, b = timed_step(provs[p], inp, device)
                        fwd[p].append(f)
                        bwd[p].append(b)
                    except Exception as e:
                        rows[p]["status"] = f"failed: {type(e).__name__}"
            if not gpu and not args.no_memory:
                for p in names:
                    mem, err = cpu_peak_subprocess(p, args)
                    if mem is not None:
                        rows[p]["peak_mem_bytes"] = mem
                    else:
                        rows[p]["mem_error"] = err
            flops = 6.0 * N * H * V
            for p, row in rows.items():
                rec = {"provider": p, "N": N, "H": H, "V": V, "dtype": args.dtype, "device": device.type, **row}
                if fwd.get(p):
                    steps = [a + b for a, b in zip(fwd[p], bwd[p])]
                    for key, xs in (("fwd", fwd[p]), ("bwd", bwd[p]), ("step", steps)):
                        rec[f"{key}_ms"] = {"median": statistics.median(xs) * 1e3, "p20": pct(xs, 0.2) * 1e3,
                                            "p80": pct(xs, 0.8) * 1e3}
                    rec["tflops"] = flops / statistics.median(steps) / 1e12
                    if mm:
                        rec["matmul_tflops"] = mm
                        rec["frac_of_matmul"] = rec["tflops"] / mm
                results.append(rec)
            del inp, provs
            if args.out_md:  # partial results survive a timeout of the whole run
                with open(args.out_md, "w") as f:
                    f.write(f"hardware: {json.dumps(hw)}\n\n(partial)\n{table(results)}\n")
            gc.collect()
            if gpu:
                torch.cuda.empty_cache()
    return hw, results


def table(results) -> str:
    lines = ["| provider | N | H | V | dtype | fwd ms (p20-p80) | bwd ms | step ms (p20-p80) | peak MiB above inputs "
             "| TFLOP/s (6NHV) | frac of matmul | status |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        def ms(k):
            m = r.get(k)
            return f"{m['median']:.1f} ({m['p20']:.1f}-{m['p80']:.1f})" if m else "-"
        mem = f"{r['peak_mem_bytes'] / 2**20:.0f}" if r.get("peak_mem_bytes") is not None else "-"
        lines.append(
            f"| {r['provider']} | {r['N']} | {r['H']} | {r['V']} | {r['dtype']} | {ms('fwd_ms')} | "
            f"{r['bwd_ms']['median']:.1f} | {ms('step_ms')} | {mem} | "
            f"{r['tflops']:.3f} | {r.get('frac_of_matmul', float('nan')):.2f} | {r['status']} |"
            if r.get("step_ms") else
            f"| {r['provider']} | {r['N']} | {r['H']} | {r['V']} | {r['dtype']} | - | - | - | {mem} | - | - | "
            f"{r['status']} |")
    return "\n".join(lines)


def cpu_targets(results) -> Optional[dict]:
    by = {r["provider"]: r for r in results}
    if "chunked" not in by:  # --op logprobs: no targets, the table says it all
        return None
    c, ref = by.get("chunked"), by.get("reference")
    if not (c and ref and c.get("step_ms") and ref.get("step_ms")):
        return None
    out = {"time_ratio": c["step_ms"]["median"] / ref["step_ms"]["median"]}
    out["time_ok"] = out["time_ratio"] <= 1.1
    if c.get("peak_mem_bytes") and ref.get("peak_mem_bytes"):
        out["mem_ratio"] = c["peak_mem_bytes"] / ref["peak_mem_bytes"]
        out["mem_ok"] = out["mem_ratio"] <= 1 / 8
    return out


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    ap.add_argument("--dtype", default=None, choices=["bf16", "fp32", "fp16"],
                    help="default bf16 on GPU, fp32 on CPU")
    ap.add_argument("--shapes", default=None, help="comma list of HxV, e.g. 4096x151936,896x151936")
    ap.add_argument("--n", default=None, help="comma list of token counts N, e.g. 4096,12345")
    ap.add_argument("--op", default="loss", choices=["loss", "logprobs"],
                    help="loss: the fused policy loss; logprobs: the per-token log-prob primitive")
    ap.add_argument("--providers", default=None, help=f"comma list out of {','.join(ALL_PROVIDERS)} "
                    "(default, --op loss: all loss providers on GPU, reference,chunked,liger on CPU; --op logprobs: "
                    "all log-prob providers on GPU, logprobs-reference,logprobs-chunked,trl-chunked on CPU)")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats per provider (default 7, --quick 3)")
    ap.add_argument("--quick", action="store_true", help="GPU: 2 shapes x N in (4096, 12345), 3 repeats, "
                    "compile only on the first config; CPU: 3 repeats")
    ap.add_argument("--chunk-size", type=int, default=PolicyLossConfig().chunk_size, help="chunked backend chunk")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--no-memory", action="store_true", help="CPU: skip the subprocess memory measurement")
    ap.add_argument("--matmul-rate", action="store_true", help="CPU: also measure the matmul rate")
    ap.add_argument("--out-md", default=None, help="also write the Markdown table here")
    ap.add_argument("--out-json", default=None, help="also write the JSON results here")
    ap.add_argument("--_mem-child", dest="mem_child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    gpu = args.device.startswith("cuda")
    if gpu and not torch.cuda.is_available():
        ap.error("--device cuda but CUDA is not available")
    args.dtype = args.dtype or ("bf16" if gpu else "fp32")
    if args.shapes:
        args.shape_list = [tuple(int(x) for x in s.lower().split("x")) for s in args.shapes.split(",")]
    elif gpu:
        args.shape_list = [GPU_SHAPES[0], GPU_SHAPES[2]] if args.quick else GPU_SHAPES
    else:
        args.shape_list = [(512, 32000)]
    if args.n:
        args.n_list = [int(x) for x in args.n.split(",")]
    elif gpu:
        args.n_list = [4096, 12345] if args.quick else GPU_NS
    else:
        args.n_list = [8192]
    if args.providers:
        args.provider_list = args.providers.split(",")
    elif args.op == "logprobs":
        args.provider_list = list(LOGPROB_PROVIDERS) if gpu else ["logprobs-reference", "logprobs-chunked", "trl-chunked"]
    else:
        args.provider_list = list(LOSS_PROVIDERS) if gpu else ["reference", "chunked", "liger"]
    for p in args.provider_list:
        if p not in ALL_PROVIDERS:
            ap.error(f"unknown provider {p!r}")
    args.repeats = args.repeats or (3 if args.quick else 7)
    return args


def main(argv=None):
    args = parse(argv)
    if args.mem_child:
        cpu_mem_child(args)
        return
    hw, results = run(args)
    md = table(results)
    print()
    print(md)
    targets = None
    if args.device == "cpu":
        targets = cpu_targets(results)
        if targets:
            line = f"CPU targets: chunked/reference time {targets['time_ratio']:.2f} (target <= 1.1: " \
                   f"{'met' if targets['time_ok'] else 'NOT met'})"
            if "mem_ratio" in targets:
                line += f"; peak memory {targets['mem_ratio']:.3f} (target <= 0.125: " \
                        f"{'met' if targets['mem_ok'] else 'NOT met'})"
            print(line)
    blob = {"bench": "policy_loss" if args.op == "loss" else "logprobs", "hardware": hw, "flop_convention": "6*N*H*V per full step",
            "results": results, "cpu_targets": targets}
    if args.out_md:
        with open(args.out_md, "w") as f:
            f.write(f"hardware: {json.dumps(hw)}\n\n{md}\n")
    if args.out_json:
        with open(args.out_json, "w") as f:
            json.dump(blob, f)
    print(json.dumps(blob))


if __name__ == "__main__":
    main()
