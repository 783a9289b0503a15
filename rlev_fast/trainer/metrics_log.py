"""The run's metrics on disk: metrics.jsonl (one row per step) and TensorBoard scalars."""
from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, Optional


def write_json(path: str, obj: Any) -> None:
    """Atomic: a reader (or a resumed run) never sees half a file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


class MetricsLog:
    """metrics.jsonl (one row per step) + TensorBoard scalars when tensorboard is installed.

    resume_step: the step of the checkpoint a resumed run starts from; rows past it were written
    by the killed run and are redone, so they are dropped. None: a new run (an old file goes)."""

    def __init__(self, out_dir: str, enabled: bool, tensorboard: bool, resume_step: Optional[int]):
        self.path = os.path.join(out_dir, "metrics.jsonl")
        self.enabled = enabled
        self.tb = None
        if not enabled:
            return
        if resume_step is not None and os.path.exists(self.path):
            with open(self.path) as f:
                keep = [line for line in f if line.strip() and json.loads(line).get("step", 0) <= resume_step]
            with open(self.path, "w") as f:
                f.writelines(keep)
        elif resume_step is None and os.path.exists(self.path):
            os.remove(self.path)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(os.path.join(out_dir, "tensorboard"))
            except ImportError:
                self.tb = None

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
