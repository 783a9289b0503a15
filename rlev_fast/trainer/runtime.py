"""Where a run executes: device, processes, threads, seeds and precision; the learning-rate
schedule; the Ctrl-C / SIGTERM handling that lets a run stop after a step with a checkpoint (and
Ctrl-C during startup, which has nothing to save)."""
from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import sys
from dataclasses import dataclass
from typing import Callable, Tuple

import torch

from .. import distributed as D
from .config import OptimConfig, TrainConfig


class TrainingError(RuntimeError):
    """A run that cannot go on (non-finite loss, bad resume); the message says why and what is intact."""


class StartupInterrupt(KeyboardInterrupt):
    """Ctrl-C before the RL loop began (imports, model loading, data): nothing to save."""


def _raise_startup_interrupt(signum, frame):
    raise StartupInterrupt


def catch_startup_interrupt() -> None:
    """Until `StopFlag.install`, Ctrl-C raises StartupInterrupt, which `main` turns into one line and
    exit status 130 (no traceback). Main thread only (signal handlers cannot be set elsewhere)."""
    try:
        signal.signal(signal.SIGINT, _raise_startup_interrupt)
    except ValueError:
        pass


@dataclass
class Runtime:
    info: D.DistInfo
    device: torch.device
    use_bf16: bool
    threads: int
    threads_why: str = ""  # how the CPU thread count was chosen (for the startup line)

    @property
    def autocast(self) -> Callable[[], contextlib.AbstractContextManager]:
        """A context-manager factory: bf16 autocast on CUDA when enabled, else a no-op."""
        if self.use_bf16:
            return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext

    def threads_note(self) -> str:
        """How many CPU threads torch uses and why (the trainer prints it at startup)."""
        n = self.threads
        return f"{n} CPU thread{'s' if n != 1 else ''} ({self.threads_why})"


def setup_runtime(cfg: TrainConfig) -> Runtime:
    """Process group, device, CPU threads, seeds (per rank) and bf16 autocast of a run."""
    M, A, R = cfg.model, cfg.algo, cfg.run
    device_type = "cuda" if (M.device == "cuda" or (M.device == "auto" and torch.cuda.is_available())) else "cpu"
    info = D.init_distributed(R.dist, device_type)
    device = torch.device(device_type, info.local_rank) if device_type == "cuda" else torch.device("cpu")
    if A.prompts_per_step % info.world_size:
        raise ValueError(f"--prompts-per-step {A.prompts_per_step} must be divisible by the {info.world_size} processes")
    if (A.prompts_per_step // info.world_size * cfg.rollout.n) % (A.mini_batches * A.grad_accum):
        raise ValueError("each process's sequences must split evenly into mini-batches x micro-batches")
    if device_type == "cpu":
        threads, why = choose_threads(R.threads, info.world_size)
        torch.set_num_threads(threads)
    else:
        threads, why = torch.get_num_threads(), "torch's default; the model runs on the GPU"
    random.seed(R.seed + info.rank)
    torch.manual_seed(R.seed + info.rank)
    use_bf16 = device_type == "cuda" and (M.bf16 == "on" or (M.bf16 == "auto" and torch.cuda.is_bf16_supported()))
    return Runtime(info=info, device=device, use_bf16=use_bf16, threads=threads, threads_why=why)


def choose_threads(requested: int, world_size: int) -> Tuple[int, str]:
    """(torch's CPU thread count, why). Auto (0): the cores divided among the local processes, and 1
    when the machine is already busy (1-minute load average >= cores): OpenMP threads spin-wait on
    oversubscribed cores: on the 2-core CI machine under a load of ~7 one forward of the tiny policy
    took 3.07 s with 2 threads and 0.37 s with 1 (benchmarks/RESULTS.md, "CPU threads"). Chosen once,
    at the start of the run."""
    if requested:
        return requested, f"--threads {requested}"
    cores = os.cpu_count() or 1
    procs = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", world_size)))
    n = max(1, cores // procs)
    per = f"{cores} core{'s' if cores != 1 else ''}" + (f" / {procs} processes" if procs > 1 else "")
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        return n, f"{per}; --threads N to choose"
    if load >= cores:
        return 1, f"load average {load:.1f} on {cores} cores: the machine is busy; --threads N to choose"
    return n, f"{per}, load average {load:.1f}; --threads N to choose"


def set_threads(requested: int, world_size: int) -> int:
    """Sets torch's CPU thread count as `choose_threads` picks it; returns it."""
    n = choose_threads(requested, world_size)[0]
    torch.set_num_threads(n)
    return n


def make_scheduler(optimizer, cfg: OptimConfig, total_updates: int):
    """Linear warmup over cfg.warmup_steps updates, then constant or cosine down to min_lr_ratio."""
    def factor(u: int) -> float:
        if cfg.warmup_steps and u < cfg.warmup_steps:
            return (u + 1) / cfg.warmup_steps
        if cfg.schedule == "constant":
            return 1.0
        span = max(1, total_updates - cfg.warmup_steps)
        t = min(1.0, (u - cfg.warmup_steps) / span)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class StopFlag:
    """Ctrl-C (SIGINT) / SIGTERM: the first one asks the loop to stop after the current step and save
    a checkpoint; a second Ctrl-C interrupts at once."""

    def __init__(self):
        self.requested = False
        self._old = {}

    def install(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. called from a worker thread in tests)
                pass
        return self

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        print(f"\n[rlev_fast] {signal.Signals(signum).name}: finishing the current step, then saving a checkpoint "
              "(Ctrl-C again to abort at once)", file=sys.stderr, flush=True)

    def any_rank(self) -> bool:
        """Whether any process was asked to stop (a collective under torchrun: all ranks stop together)."""
        flag = torch.tensor([1.0 if self.requested else 0.0])
        return bool(D.all_reduce_sum(flag)[0] > 0)

    def restore(self):
        for sig, old in self._old.items():
            signal.signal(sig, old)
