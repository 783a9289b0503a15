"""RLEV training: policy-gradient RL where a correct answer is worth what its question is worth.

How this differs from textbook GRPO / PPO:

- Value-scaled rewards. r(x, y) = s(x) * correct(y) with s(x) = 1 + min(alpha * v(x), 1) and
  v(x) = score / total, the question's share of its exam (`--reward`: rlev, or the paper's controls
  correctness | uniform | shuffled | multiplicative).
- GRPO keeps s(x). Plain GRPO standardizes rewards within a group, and since s(x) is constant in a
  group it divides the value out again. Here A = s(x) (c - mean c) / (std c + eps) on correctness c
  (`compute_advantages(..., scale=s)`), so high-value prompts still get larger updates.
- Fused loss on hidden states. The policy's lm_head never produces full [tokens, vocab] logits in
  training: the model returns final hidden states and `policy_loss` (chunked PyTorch on CPU, Triton
  on GPU) computes log-probs, the clipped objective, KL and entropy from h and W_lm_head. It also
  returns p(EOS) and d loss / d z_EOS at every response token, which the trainer logs by value
  bucket: the paper's mechanism (Eq. 13) is that s(x) scales the gradient on the EOS logit.
- Old log-probs are recomputed by the training model (never taken from the sampler). With one PPO
  epoch and one mini-batch the update is on-policy and the recompute is skipped: the ratio is 1.
- Packed micro-batches, no padding. The training forward lays each micro-batch's sequences end to end
  in one row (positions restarting per sequence, each prompt once for all its completions) and runs
  attention per document through variable-length kernels (flash-attn's on CUDA when installed,
  FlexAttention otherwise, SDPA per sequence on CPU); the fused loss takes the [tokens, H] hidden
  states as they are. Micro-batches are filled up to --max-tokens-per-micro-batch tokens (at least
  --grad-accum of them, the same number on every process); the loss divides by the mini-batch's
  global counts, so the split does not change it. A model whose attention cannot take a packed row
  (checked at startup) trains on padded micro-batches, and the run says so; --packing off forces them.

One step (`rlev_fast.trainer.step.rl_step`): sample n completions for each of `prompts_per_step`
prompts -> verify the answers -> rewards -> advantages -> (PPO epochs x mini-batches x gradient
accumulation) updates -> metrics row; below, the loop around it: setup, evaluation before and
after, checkpoints every `--save-every` steps, Ctrl-C.

Launch:

    python -m rlev_fast.train                                # CPU default: embedded exam, tiny policy,
                                                             # before/after table on the held-out split
    python -m rlev_fast.train --model Qwen/Qwen2.5-0.5B --data train.jsonl --eval-data test.jsonl \\
        --rollout vllm --prompts-per-step 128 --n 8 --max-new-tokens 1024 --lr 5e-7 --steps 500
    torchrun --nproc_per_node 8 -m rlev_fast.train --model ... --dist ddp     # or --dist fsdp2
                                 # (under torchrun write --num-completions, not --n)
    python -m rlev_fast.train --out runs/x --resume          # continue from the latest checkpoint

Outputs in --out (default runs/<timestamp>; printed at the start and at the end): config.json
(resolved), metrics.jsonl (one row per step), eval_before.json / eval_after.json, table.txt,
checkpoints/step_XXXXXX (atomic), final/ (save_pretrained), PNG plots (training_curves.png: reward,
loss, KL, entropy, clip fraction, gradient norm, tokens/s, time per step; hacc_acc.png,
length_by_value.png, eos_profile.png; rlev_fast/plots.py), and TensorBoard events when tensorboard
is installed (the run says so when it is not).

What the run checks before it loads the model, so that a mistake costs seconds, not a traceback
after startup: --model names a model folder or a hub id (policy.check_model_source), --out is
writable, --n suits the estimator, and a resumed run's config.json and metrics.jsonl are readable.
Ctrl-C during startup exits with one line (status 130).

The pieces live in rlev_fast/trainer/: config (the dataclasses; the CLI is generated from them),
trunk (the model forward the loss trains), update (one RL update), step (one RL step), evaluation,
metrics_log, state (what a checkpoint holds); checkpoint.py saves, loads and resumes.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import signal
import sys
import time
from typing import Any, Dict, Optional, Sequence

if __name__ == "__main__":  # python -m rlev_fast.train: Ctrl-C while the imports below run is one line
    def _interrupted_while_importing(signum, frame):
        print("\n[rlev_fast] interrupted during startup; nothing written", file=sys.stderr, flush=True)
        raise SystemExit(130)

    signal.signal(signal.SIGINT, _interrupted_while_importing)

import torch

from . import checkpoint as ckpt
from . import distributed as D
from .data import DataError, format_prompt, needs_special_tokens
from .micro_batches import check_token_budget
from .trainer.cli import build_parser, parse_args
from .trainer.config import (RESUME_KEYS, AlgoConfig, DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig,
                             config_from_dict)
from .trainer.data import DataStream, load_data
from .trainer.evaluation import evaluate, format_table
from .trainer.metrics_log import MetricsLog, Progress, read_metrics_rows, write_json
from .trainer.runtime import (Runtime, StartupInterrupt, StopFlag, TrainingError, catch_startup_interrupt,
                              make_scheduler, setup_runtime)
from .trainer.state import TrainState, save_final_model
from .trainer.step import Policy, TrainSet, rl_step
from .trainer.trunk import PolicyTrunk

__all__ = ["AlgoConfig", "DataConfig", "ModelConfig", "OptimConfig", "RunConfig", "TrainConfig", "build_parser",
           "config_from_dict", "main", "parse_args", "train"]

DTYPES = {"auto": torch.float32, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_config(cfg: TrainConfig, out_dir: str) -> TrainConfig:
    """The config this run executes (the caller's is not changed): the output folder filled in."""
    return dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, out=out_dir))


def _log(msg: str, info: D.DistInfo) -> None:
    """A status line on stderr, from the main process only."""
    if info.is_main:
        print(f"[rlev_fast] {msg}", file=sys.stderr, flush=True)


def on_main(fn, info: D.DistInfo) -> Any:
    """Runs fn() on the main process; an error there is raised on every process (so that no process
    waits at a barrier for one that failed). Returns fn's value on the main process."""
    err, value = None, None
    if info.is_main:
        try:
            value = fn()
        except (OSError, ValueError, TrainingError, ckpt.CheckpointError) as exc:
            err = exc
    err = D.broadcast_object(err)
    if err is not None:
        raise err
    return value


def check_out_dir(out_dir: str) -> None:
    """--out exists (created here) and takes files: a TrainingError with one line otherwise, raised
    before the model is loaded, not as a PermissionError traceback after training started."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise TrainingError(f"--out {out_dir} is a file, not a folder")
    try:
        os.makedirs(out_dir, exist_ok=True)
        for folder in (out_dir, ckpt.checkpoint_dir(out_dir)):
            if os.path.isdir(folder):
                probe = os.path.join(folder, f".write-test-{os.getpid()}")
                with open(probe, "w") as f:
                    f.write("ok")
                os.remove(probe)
    except OSError as exc:
        where = exc.filename if isinstance(exc.filename, str) else out_dir
        raise TrainingError(f"--out {out_dir}: cannot write there ({exc.strerror or exc}: {where}); pick another "
                            "--out or make the folder writable") from None


def _read_eval_before(path: str) -> Optional[Dict[str, Any]]:
    """A resumed run's eval_before.json; unreadable: a warning, and the table has no before column
    (the model it measured is gone: it cannot be evaluated again)."""
    try:
        with open(path) as f:
            res = json.load(f)
        if isinstance(res, dict) and "n" in res:
            return res
        reason = "not an evaluation result"
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = str(exc)
    print(f"[rlev_fast] warning: cannot read {path} ({reason}); the before column of the table is left out",
          file=sys.stderr, flush=True)
    return None


def build_policy(cfg: TrainConfig, rt: Runtime, train_examples, test_examples):
    """The policy model, its trunk (wrapped for DDP / FSDP2), a frozen reference for the KL penalty,
    the optimizer, the schedule and the rollout engine."""
    from .policy import ASSET_DIR, load_default_policy, load_policy
    from .rollout import RolloutBackendUnavailable, make_rollout

    M, O, R, A = cfg.model, cfg.optim, cfg.run, cfg.algo
    dtype = DTYPES[M.dtype]
    model, tokenizer = load_policy(M.name, rt.device, dtype) if M.name else load_default_policy(rt.device, dtype)
    if M.gradient_checkpointing:
        # transformers 5 renamed it (the old name warns that it goes away in v6)
        enable = getattr(model, "activation_checkpointing_enable", None) or getattr(model, "gradient_checkpointing_enable", None)
        if enable is None:
            raise TrainingError(f"--gradient-checkpointing: {type(model).__name__} does not support it")
        enable()
    model.train()
    # Packed micro-batches where the model's attention takes them (a probe), padded otherwise: said once.
    trunk = PolicyTrunk(model, A.packing, A.varlen_attention, rt.autocast)
    _log(trunk.packing_note, rt.info)
    ref_trunk = PolicyTrunk(copy.deepcopy(model).eval().requires_grad_(False), "on" if trunk.packed else "off",
                            A.varlen_attention, rt.autocast) if cfg.loss.kl_coef > 0 else None
    trunk = D.wrap_model(trunk, rt.info, rt.device)
    optimizer = torch.optim.AdamW([p for p in trunk.parameters() if p.requires_grad], lr=O.lr,
                                  betas=(O.beta1, O.beta2), weight_decay=O.weight_decay)
    scheduler = make_scheduler(optimizer, O, R.steps * A.ppo_epochs * A.mini_batches)
    if rt.info.mode == "fsdp2":
        # FSDP2 initializes lazily at the root's first forward; generate() calls the inner model (and so
        # the layers) directly, which would make each layer a root of its own. One tiny forward first.
        with torch.no_grad():
            ids = torch.ones(1, 2, dtype=torch.long, device=rt.device)
            trunk(ids, torch.ones_like(ids), 1)
    # dtype: the trainer's compute dtype (bf16 autocast, else the parameters'); vllm's --vllm-dtype
    # auto follows it (vLLM's own auto would make a float32 policy bfloat16).
    try:
        rollout = make_rollout(cfg.rollout, model, tokenizer, model_path=M.name or ASSET_DIR, seed=R.seed,
                               dtype="bfloat16" if rt.use_bf16 else ("float32" if M.dtype == "auto" else M.dtype),
                               add_special_tokens=needs_special_tokens(tokenizer, [*train_examples, *test_examples]),
                               fsdp_root=trunk if rt.info.mode == "fsdp2" else None)
    except RolloutBackendUnavailable as exc:  # one line (what to install), not a traceback
        raise TrainingError(str(exc)) from None
    policy = Policy(trunk=trunk, optimizer=optimizer, scheduler=scheduler, rollout=rollout, ref_trunk=ref_trunk,
                    autocast=rt.autocast)
    return policy, tokenizer


def train(cfg: TrainConfig) -> Dict[str, Any]:
    """One run, top-down. Returns {"out", "steps_done", "before", "after", "table", ...}."""
    rt = setup_runtime(cfg)
    info = rt.info
    if rt.device.type == "cpu":
        _log(rt.threads_note(), info)

    # -- checks before anything is written or loaded: the model's source, the output folder ----------
    if cfg.model.name:
        from .policy import check_model_source

        check_model_source(cfg.model.name)
    out_dir = D.broadcast_object(cfg.run.out or os.path.join("runs", time.strftime("%Y%m%d-%H%M%S")))
    on_main(lambda: check_out_dir(out_dir), info)
    D.barrier()
    _log(f"run folder: {out_dir}" + (" (resuming)" if cfg.run.resume else ""), info)

    # -- resume point (the newest intact checkpoint is found when the state is loaded), resolved config
    resume_path = ckpt.resume_checkpoint(out_dir, cfg.run.resume, info)
    if resume_path is not None:
        on_main(lambda: ckpt.check_resume_config(out_dir, cfg.to_dict(), RESUME_KEYS), info)
        on_main(lambda: read_metrics_rows(os.path.join(out_dir, "metrics.jsonl"), warn=False), info)
    cfg = resolve_config(cfg, out_dir)
    R, A = cfg.run, cfg.algo
    if info.is_main:
        resolved = cfg.to_dict()
        resolved["resolved"] = {"device": str(rt.device), "world_size": info.world_size, "dist": info.mode,
                                "bf16_autocast": rt.use_bf16, "torch": torch.__version__, "cpu_threads": rt.threads}
        write_json(os.path.join(out_dir, "config.json"), resolved)

    # -- data, model, optimizer, rollout engine ------------------------------------------------------
    train_examples, test_set = load_data(cfg.data)
    policy, tokenizer = build_policy(cfg, rt, train_examples, test_set)
    data = TrainSet.build(train_examples, tokenizer, A.reward, A.alpha, R.seed)
    special = needs_special_tokens(tokenizer, [*train_examples, *test_set])
    check_token_budget(A.max_tokens_per_micro_batch, [len(ids) for ids in tokenizer(
        data.prompts, add_special_tokens=special)["input_ids"]], cfg.rollout.max_new_tokens)
    test_prompts = [format_prompt(ex, tokenizer) for ex in test_set]
    state = TrainState(policy.trunk, policy.optimizer, policy.scheduler, DataStream(len(data.examples), R.seed), info)
    local_prompts = A.prompts_per_step // info.world_size
    eval_max_new = R.eval_max_new_tokens or cfg.rollout.max_new_tokens

    def run_eval() -> Dict[str, Any]:
        t0 = time.time()
        res = evaluate(policy.rollout, test_set, test_prompts, R.eval_batch_size, eval_max_new, info)
        res["time_s"] = time.time() - t0
        return res

    # -- resume --------------------------------------------------------------------------------------
    if resume_path is not None:
        resume_path = ckpt.load_latest_state(out_dir, state, info)  # newest first, skipping unreadable ones
        policy.rollout.sync_weights(policy.trunk)
        if info.is_main:
            print(f"[rlev_fast] resumed from {resume_path} (step {state.step}, {state.stream.position} prompts "
                  "consumed)", file=sys.stderr, flush=True)
    log = MetricsLog(out_dir, info.is_main, R.tensorboard, state.step if resume_path else None)

    stop = StopFlag().install()
    result: Dict[str, Any] = {"out": out_dir, "steps_done": state.step}
    try:
        # -- evaluation before RL (kept across resumes) ----------------------------------------------
        before = None
        before_path = os.path.join(out_dir, "eval_before.json")
        if R.eval:
            if resume_path is not None and os.path.exists(before_path):
                before = _read_eval_before(before_path) if info.is_main else None
            else:
                before = run_eval()
                if info.is_main:
                    write_json(before_path, before)
        result["before"] = before

        # -- the RL loop -----------------------------------------------------------------------------
        # a tqdm bar on a terminal, a plain line every few steps in a log file
        progress = Progress(R.steps, state.step) if info.is_main and R.progress else None
        last_saved = state.step if resume_path else None
        while state.step < R.steps and not stop.any_rank():
            # this step's prompts: the global batch, this rank's slice of it
            g_idx = state.stream.take(A.prompts_per_step)
            idx = g_idx[info.rank * local_prompts : (info.rank + 1) * local_prompts]
            try:
                row = rl_step(policy, data, idx, cfg, info, state.step)
            except TrainingError as exc:
                raise TrainingError(f"{exc}; the run stops here. Last checkpoint (intact): "
                                    f"{ckpt.latest_checkpoint(out_dir) or 'none written yet'}") from None
            state.step += 1
            log.write({"step": state.step, "data_position": state.stream.position,
                       "lr": policy.scheduler.get_last_lr()[0], **row})
            if progress is not None:
                progress.update(state.step, row)
            result["steps_done"] = state.step
            if R.save_every and state.step % R.save_every == 0 and state.step < R.steps:
                ckpt.save_state(out_dir, state.step, state, info, keep=R.keep_checkpoints)
                last_saved = state.step
        if progress is not None:
            progress.close()

        # -- end (or Ctrl-C): checkpoint, evaluation, final model ---------------------------------------
        if last_saved != state.step:
            ckpt.save_state(out_dir, state.step, state, info, keep=R.keep_checkpoints)
        if stop.any_rank() and state.step < R.steps:
            result["interrupted"] = True
            if info.is_main:
                print(f"[rlev_fast] stopped at step {state.step}; checkpoint saved in {ckpt.checkpoint_dir(out_dir)}. "
                      f"Continue with --out {out_dir} --resume", file=sys.stderr, flush=True)
            return result
        after = run_eval() if R.eval else None
        if after is not None and info.is_main:
            write_json(os.path.join(out_dir, "eval_after.json"), after)
        result["after"] = after
        if R.save_final_model:
            save_final_model(out_dir, policy.trunk, tokenizer, info)
        if info.is_main:
            if R.eval:
                table = format_table(before, after, before["n"] if before else after["n"])
                with open(os.path.join(out_dir, "table.txt"), "w") as f:
                    f.write(table + "\n")
                print(table, flush=True)
                result["table"] = table
            if R.plots:
                from .plots import plot_run

                try:
                    result["plots"] = plot_run(out_dir)
                except Exception as exc:  # everything is saved: a failed figure must not fail the run
                    result["plots"] = []
                    _log(f"warning: plots failed ({type(exc).__name__}: {exc}); retry with python -m rlev_fast.plots "
                         f"{out_dir}", info)
                if result["plots"]:
                    _log(f"plots in {out_dir}: " + ", ".join(os.path.basename(p) for p in result["plots"]), info)
            outputs = [n + ("/" if os.path.isdir(os.path.join(out_dir, n)) else "") for n in sorted(os.listdir(out_dir))
                       if not n.startswith(".") and not n.endswith(".png")]
            _log(f"done: {state.step} step{'s' if state.step != 1 else ''}; run folder {out_dir}: {', '.join(outputs)}",
                 info)
        return result
    finally:
        stop.restore()
        log.close()


def main(argv: Optional[Sequence[str]] = None) -> int:
    old_handler = signal.getsignal(signal.SIGINT)
    catch_startup_interrupt()  # until the RL loop's StopFlag takes over: Ctrl-C is one line, status 130
    try:
        try:
            cfg = parse_args(argv)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            result = train(cfg)
        except StartupInterrupt:
            print("\n[rlev_fast] interrupted during startup, before the first RL step: no checkpoint written",
                  file=sys.stderr, flush=True)
            return 130
        except (DataError, FileNotFoundError, TrainingError, ckpt.CheckpointError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 1
        except KeyboardInterrupt:
            print("\n[rlev_fast] aborted (second Ctrl-C); no checkpoint written for this step", file=sys.stderr)
            return 130
        finally:
            D.cleanup()
        return 130 if result.get("interrupted") else 0
    except StartupInterrupt:  # while parsing the command line
        print("\n[rlev_fast] interrupted during startup; nothing written", file=sys.stderr, flush=True)
        return 130
    finally:
        try:
            signal.signal(signal.SIGINT, old_handler if old_handler is not None else signal.default_int_handler)
        except (ValueError, TypeError):  # not the main thread
            pass


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the imports are done
    sys.exit(main())
