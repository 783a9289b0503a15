"""RL step throughput: rlev_fast's trainer step vs TRL's GRPOTrainer, same tiny model and batch.

    python benchmarks/bench_train.py [--steps 8] [--warmup 2] [--prompts 16] [--n 8] [--max-new-tokens 48]

rlev_fast runs with --rollout hf-cached (its own decode loop on the same HF model: one prefill
per prompt, finished rows leave the batch; --rollout hf measures model.generate instead) and the
shared-prompt training forward. Both run in this one process on the embedded exam with the shipped tiny policy (each its own copy),
the same prompts per step, completions per prompt, response cap, temperature 1, one optimizer update
per step, no reference model (beta / kl_coef 0), the same RLEV reward (s(x) * correct, the same
verifier) and the same torch thread count. rlev_fast's step is the trainer's own `rl_step` (with
its entropy report and EOS statistics, as in `python -m rlev_fast.train`). They are interleaved: TRL's trainer runs its loop, and
a callback at the end of each TRL step runs one rlev_fast step, so both see the same machine state.

Reported per provider: generated tokens/s and step time (median, p20, p80 over the measured steps),
split into rollout / verification / training. For TRL the split comes from timing its
`model.generate` calls and its reward function; "training" is the rest of its step. The last line
of stdout is one JSON object. Without TRL (pip install trl) only rlev_fast is measured, and the
JSON says why. Throughput is the metric, not FLOPs: both sides run the same model on the same
number of tokens (no FLOP convention applies).
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


def summary(rows):
    out = {}
    for key in ("tokens_per_s", "step_s", "rollout_s", "verify_s", "train_s", "gen_tokens"):
        vals = [r[key] for r in rows]
        out[key] = {"median": statistics.median(vals), "p20": pct(vals, 0.2), "p80": pct(vals, 0.8)}
    return out


class RlevStepper:
    """rlev_fast's RL step exactly as the trainer runs it: `rlev_fast.trainer.step.rl_step` on the
    trainer's TrainSet (chat/plain prompt formatting and s(x) included), with the trainer's configs."""

    def __init__(self, args, train_set):
        from rlev_fast.data import needs_special_tokens
        from rlev_fast.policy import load_default_policy
        from rlev_fast.rollout import RolloutConfig, make_rollout
        from rlev_fast.trainer import AlgoConfig, OptimConfig, Policy, TrainConfig, TrainSet
        from rlev_fast.trainer.data import DataStream
        from rlev_fast.trainer.runtime import make_scheduler
        from rlev_fast.trainer.trunk import PolicyTrunk

        model, tok = load_default_policy("cpu", torch.float32)
        model.train()
        self.cfg = TrainConfig(
            rollout=RolloutConfig(backend=args.rollout, n=args.n, max_new_tokens=args.max_new_tokens),
            algo=AlgoConfig(prompts_per_step=args.prompts),
            optim=OptimConfig(lr=args.lr),
        )
        trunk = PolicyTrunk(model)
        opt = torch.optim.AdamW(trunk.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0)
        self.policy = Policy(trunk=trunk, optimizer=opt, scheduler=make_scheduler(opt, self.cfg.optim, 1000),
                             rollout=make_rollout(self.cfg.rollout, model, tok,
                                                  add_special_tokens=needs_special_tokens(tok, train_set)))
        self.data = TrainSet.build(train_set, tok, "rlev", 10.0, seed=0)
        self.stream = DataStream(len(train_set), 0)
        self.steps = 0

    def step(self):
        from rlev_fast.distributed import DistInfo
        from rlev_fast.trainer.step import rl_step

        t0 = time.perf_counter()
        row = rl_step(self.policy, self.data, self.stream.take(self.cfg.algo.prompts_per_step), self.cfg, DistInfo(),
                      self.steps)
        self.steps += 1
        dt = time.perf_counter() - t0
        return {"step_s": dt, "rollout_s": row["time_rollout_s"], "verify_s": row["time_verify_s"],
                "train_s": row["time_train_s"], "gen_tokens": row["gen_tokens"], "tokens_per_s": row["gen_tokens"] / dt}


def run_trl(args, train_set, ours: RlevStepper, rows_trl, rows_ours):
    import datasets
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from rlev_fast.policy import load_default_policy
    from rlev_fast.rewards import value_scale
    from rlev_fast.verify import verify_batch

    model, tok = load_default_policy("cpu", torch.float32)
    ds = datasets.Dataset.from_list([{"prompt": e.prompt, "answer": e.answer, "value": e.value} for e in train_set])
    timers = {"gen": 0.0, "verify": 0.0, "tokens": 0}

    def rlev_reward(prompts, completions, completion_ids=None, answer=None, value=None, **kw):
        t0 = time.perf_counter()
        correct = verify_batch(list(completions), list(answer))
        s = value_scale(list(value))
        timers["verify"] += time.perf_counter() - t0
        if completion_ids is not None:
            timers["tokens"] += sum(len(c) for c in completion_ids)
        return [float(si) * float(c) for si, c in zip(s.tolist(), correct)]

    orig_generate = model.generate

    def timed_generate(*a, **k):
        t0 = time.perf_counter()
        try:
            return orig_generate(*a, **k)
        finally:
            timers["gen"] += time.perf_counter() - t0

    model.generate = timed_generate
    total = args.warmup + args.steps
    config = GRPOConfig(
        output_dir=os.path.join(args.tmp, "trl"), max_steps=total, per_device_train_batch_size=args.prompts * args.n,
        gradient_accumulation_steps=1, num_generations=args.n, max_completion_length=args.max_new_tokens,
        temperature=1.0, top_p=1.0, top_k=0, beta=0.0, num_iterations=1, learning_rate=args.lr, use_cpu=True,
        bf16=False, fp16=False, report_to=[], logging_steps=1, save_strategy="no", seed=0,
        dataloader_num_workers=0, disable_tqdm=True, loss_type="grpo", scale_rewards="group",
        gradient_checkpointing=False,  # TRL 1.x turns it on by default; off = its faster setting on CPU
    )

    class Interleave(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            self.t0 = time.perf_counter()
            timers.update(gen=0.0, verify=0.0, tokens=0)

        def on_step_end(self, a, state, control, **kw):
            dt = time.perf_counter() - self.t0
            rows_trl.append({"step_s": dt, "rollout_s": timers["gen"], "verify_s": timers["verify"],
                             "train_s": dt - timers["gen"] - timers["verify"], "gen_tokens": timers["tokens"],
                             "tokens_per_s": timers["tokens"] / dt})
            rows_ours.append(ours.step())  # interleaved: one rlev_fast step after each TRL step
            print(f"step {len(rows_ours)}/{total}: trl {rows_trl[-1]['tokens_per_s']:.0f} tok/s "
                  f"({dt:.2f} s), rlev_fast {rows_ours[-1]['tokens_per_s']:.0f} tok/s ({rows_ours[-1]['step_s']:.2f} s)",
                  file=sys.stderr, flush=True)

    trainer = GRPOTrainer(model=model, reward_funcs=rlev_reward, args=config, train_dataset=ds,
                          processing_class=tok, callbacks=[Interleave()])
    trainer.train()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=8, help="measured steps per provider")
    p.add_argument("--warmup", type=int, default=2, help="unmeasured steps first")
    p.add_argument("--prompts", type=int, default=16, help="prompts per step")
    p.add_argument("--n", type=int, default=8, help="completions per prompt")
    p.add_argument("--max-new-tokens", type=int, default=48, help="response cap")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--rollout", default="hf-cached", choices=["hf", "hf-cached"],
                   help="rlev_fast's sampler: model.generate, or its own loop with the shared prompt cache")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: rlev_fast.train's auto choice)")
    p.add_argument("--tmp", default="/tmp/rlev_bench_train")
    args = p.parse_args()

    from rlev_fast.data import default_dataset
    from rlev_fast.trainer.runtime import set_threads

    set_threads(args.threads, 1)
    torch.manual_seed(0)
    train_set, _ = default_dataset(0)
    hw = hardware()
    ours = RlevStepper(args, train_set)
    rows_trl, rows_ours = [], []
    trl_error = None
    try:
        import trl

        trl_version = trl.__version__
    except ImportError:
        trl_version, trl_error = None, "trl is not installed (pip install trl)"
    if trl_version is not None:
        run_trl(args, train_set, ours, rows_trl, rows_ours)
    else:
        for _ in range(args.warmup + args.steps):
            rows_ours.append(ours.step())
    rows_ours, rows_trl = rows_ours[args.warmup :], rows_trl[args.warmup :]

    res = {"bench": "train_step", "hardware": hw, "rlev_fast_rollout": args.rollout, "prompts": args.prompts, "n": args.n,
           "max_new_tokens": args.max_new_tokens, "steps": args.steps, "warmup": args.warmup,
           "rlev_fast": summary(rows_ours)}
    print(f"hardware: {hw['cpu']}, {hw['cores']} cores, torch {hw['torch']} with {hw['torch_threads']} threads, "
          f"load average at start {hw['load_avg_1m_at_start']}")
    print(f"batch: {args.prompts} prompts x {args.n} completions, up to {args.max_new_tokens} new tokens; "
          f"median [p20, p80] over {args.steps} interleaved steps after {args.warmup} warm-up steps")
    providers = [(f"rlev_fast ({args.rollout})", res["rlev_fast"])]
    if rows_trl:
        res["trl"] = summary(rows_trl)
        res["trl_version"] = trl_version
        providers.append((f"TRL {trl_version} GRPOTrainer", res["trl"]))
        res["speedup_tokens_per_s"] = res["rlev_fast"]["tokens_per_s"]["median"] / res["trl"]["tokens_per_s"]["median"]
        res["speedup_step_time"] = res["trl"]["step_s"]["median"] / res["rlev_fast"]["step_s"]["median"]
    else:
        res["trl_error"] = trl_error
    print(f"{'provider':<28} {'gen tok/s':>22} {'step s':>20} {'rollout s':>10} {'verify s':>9} {'train s':>9}")
    for name, s in providers:
        f = lambda k, nd=2: f"{s[k]['median']:.{nd}f} [{s[k]['p20']:.{nd}f}, {s[k]['p80']:.{nd}f}]"
        print(f"{name:<28} {f('tokens_per_s', 0):>22} {f('step_s'):>20} {s['rollout_s']['median']:>10.2f} "
              f"{s['verify_s']['median']:>9.4f} {s['train_s']['median']:>9.2f}")
    if "speedup_tokens_per_s" in res:
        print(f"speedup (generated tokens/s, medians): {res['speedup_tokens_per_s']:.2f}x")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
