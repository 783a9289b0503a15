"""The run's metrics on disk and on screen: metrics.jsonl (one row per step), TensorBoard scalars, and
the loop's progress (a tqdm bar on a terminal, a plain line every few steps in a log file)."""
from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any, Dict, List, Optional, Tuple


def write_json(path: str, obj: Any) -> None:
    """Atomic: a reader (or a resumed run) never sees half a file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def read_metrics_lines(path: str, warn: bool = True) -> List[Tuple[str, Dict[str, Any]]]:
    """(line, row) for every row of a metrics.jsonl. Its last line may be torn (a run killed while
    writing it): that line is dropped, with a warning on stderr when `warn`. A line elsewhere that is
    not a JSON object is a ValueError naming the file and the line: the file was damaged otherwise,
    and dropping rows from the middle would go unnoticed."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    numbered = [(i + 1, line) for i, line in enumerate(lines) if line.strip()]
    out = []
    for k, (lineno, line) in enumerate(numbered):
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError(f"a JSON {type(row).__name__}, not an object")
        except ValueError as exc:
            if k == len(numbered) - 1:
                if warn:
                    print(f"[rlev_fast] warning: {path} line {lineno}: dropped a torn last line (a run killed while "
                          f"writing it): {line[:60]!r}", file=sys.stderr, flush=True)
                break
            raise ValueError(f"{path} line {lineno}: not a metrics row ({getattr(exc, 'msg', exc)}): {line[:60]!r}; "
                             "repair or delete that line") from None
        out.append((line, row))
    return out


def read_metrics_rows(path: str, warn: bool = True) -> List[Dict[str, Any]]:
    """The rows of a metrics.jsonl ([] when there is none); see `read_metrics_lines`."""
    if not os.path.exists(path):
        return []
    return [row for _, row in read_metrics_lines(path, warn)]


class MetricsLog:
    """metrics.jsonl (one row per step) + TensorBoard scalars when tensorboard is installed (when it
    is not, it says so once).

    resume_step: the step of the checkpoint a resumed run starts from; rows past it were written
    by the killed run and are redone, so they are dropped (and a torn last line with them). None: a
    new run (an old file goes)."""

    def __init__(self, out_dir: str, enabled: bool, tensorboard: bool, resume_step: Optional[int]):
        self.path = os.path.join(out_dir, "metrics.jsonl")
        self.enabled = enabled
        self.tb = None
        if not enabled:
            return
        if resume_step is not None and os.path.exists(self.path):
            keep = [line + "\n" for line, row in read_metrics_lines(self.path) if row.get("step", 0) <= resume_step]
            tmp = self.path + ".tmp"
            with open(tmp, "w") as f:
                f.writelines(keep)
            os.replace(tmp, self.path)
        elif resume_step is None and os.path.exists(self.path):
            os.remove(self.path)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(os.path.join(out_dir, "tensorboard"))
            except ImportError:
                self.tb = None
                print("[rlev_fast] TensorBoard events skipped: tensorboard is not installed (pip install tensorboard; "
                      "--no-tensorboard turns this note off)", file=sys.stderr, flush=True)

    def write(self, row: Dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.tb is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step" and math.isfinite(v):
                    self.tb.add_scalar(f"train/{k}", v, row["step"])

    def close(self):
        if self.tb is not None:
            self.tb.close()


def _num(x: Any, spec: str, scale: float = 1.0) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return format(scale * x, spec)


def _duration(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class Progress:
    """The RL loop's progress on stderr. On a terminal: tqdm's bar. Without one (stderr redirected to a
    log file, where a bar redrawn with carriage returns is one huge line): a plain line for the first
    step of the run, then every `every` steps (default: about 20 lines per run) and the last step."""

    def __init__(self, total: int, initial: int, stream=None, every: Optional[int] = None):
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.initial = total, initial
        self.every = every or max(1, -(-(total - initial) // 20))  # ceil: at most ~20 lines
        self.t0 = time.time()
        self.bar = None
        isatty = getattr(self.stream, "isatty", None)
        if callable(isatty) and isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc="RL", dynamic_ncols=True, file=self.stream)

    def update(self, step: int, row: Dict[str, Any]) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(step=step, reward=_num(row.get("reward"), ".3f"),
                                 h_acc=_num(row.get("h_acc"), ".1f", 100), tok_s=_num(row.get("tokens_per_s"), ".0f"))
            return
        done = step - self.initial
        if done == 1 or step == self.total or step % self.every == 0:
            per_step = (time.time() - self.t0) / max(done, 1)
            print(f"[rlev_fast] step {step}/{self.total}  reward {_num(row.get('reward'), '.3f')}  "
                  f"H-Acc {_num(row.get('h_acc'), '.1f', 100)}%  loss {_num(row.get('loss'), '.4g')}  "
                  f"{_num(row.get('tokens_per_s'), '.0f')} tok/s  {per_step:.2f} s/step  "
                  f"left ~{_duration(per_step * (self.total - step))}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
