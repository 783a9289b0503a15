"""Checkpoints: atomic save, latest lookup, load, and the RNG states that make a resumed run
continue exactly where it stopped.

Layout of a run folder:

    <out>/checkpoints/step_000010/   model.pt, optimizer.pt, trainer.pt (scheduler, step, data position,
                                     counters), rng_rank<r>.pt (one per rank), meta.json
    <out>/checkpoints/.tmp-step_000010-<pid>/   being written; never read

A checkpoint is written to a temporary folder, every file fsynced, then renamed into place: a
rename within one filesystem is atomic, so a crash (even SIGKILL) leaves either the complete new
checkpoint or none, never a half-written one. `latest_checkpoint` ignores temporary folders and
any folder without meta.json; `cleanup_temporaries` removes what a killed run left behind.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
from typing import Any, Dict, List, Optional

import torch

CKPT_RE = re.compile(r"^step_(\d{6,})$")
META = "meta.json"


class CheckpointError(RuntimeError):
    pass


def checkpoint_dir(out_dir: str) -> str:
    return os.path.join(out_dir, "checkpoints")


def step_name(step: int) -> str:
    return f"step_{step:06d}"


# ----------------------------------------------------------------------------------------------
# RNG states
# ----------------------------------------------------------------------------------------------
def get_rng_state() -> Dict[str, Any]:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    try:
        import numpy as np

        state["numpy"] = np.random.get_state()
    except ImportError:
        pass
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "numpy" in state:
        try:
            import numpy as np

            np.random.set_state(state["numpy"])
        except ImportError:
            pass
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------------------------
# Save / load
# ----------------------------------------------------------------------------------------------
def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _save_file(obj: Any, path: str) -> None:
    with open(path, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())


def tmp_dir_for(out_dir: str, step: int) -> str:
    return os.path.join(checkpoint_dir(out_dir), f".tmp-{step_name(step)}-{os.getpid()}")


def write_checkpoint_files(tmp: str, files: Dict[str, Any]) -> None:
    """Writes {file name: object} into the temporary folder `tmp` (which must exist)."""
    for name, obj in files.items():
        _save_file(obj, os.path.join(tmp, name))


def commit_checkpoint(out_dir: str, step: int, tmp: str, meta: Dict[str, Any], keep: int = 0) -> str:
    """Writes meta.json last, then renames `tmp` to its final name (atomic). Keeps the `keep` newest
    checkpoints (0: all). Returns the final path."""
    meta = dict(meta, step=step, files=sorted(os.listdir(tmp)) + [META])
    with open(os.path.join(tmp, META), "w") as f:
        json.dump(meta, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    _fsync_dir(tmp)
    final = os.path.join(checkpoint_dir(out_dir), step_name(step))
    if os.path.exists(final):  # re-saving a step (e.g. Ctrl-C right after a periodic save): swap atomically
        old = final + f".old-{os.getpid()}"
        os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, final)
    _fsync_dir(checkpoint_dir(out_dir))
    if keep > 0:
        for path in list_checkpoints(out_dir)[:-keep]:
            shutil.rmtree(path, ignore_errors=True)
    return final


def save_checkpoint(out_dir: str, step: int, files: Dict[str, Any], meta: Optional[Dict[str, Any]] = None,
                    keep: int = 0) -> str:
    """Single-process save: {file name: object} written atomically as checkpoints/step_XXXXXX."""
    os.makedirs(checkpoint_dir(out_dir), exist_ok=True)
    tmp = tmp_dir_for(out_dir, step)
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        write_checkpoint_files(tmp, files)
        return commit_checkpoint(out_dir, step, tmp, meta or {}, keep=keep)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def is_complete(path: str) -> bool:
    meta = os.path.join(path, META)
    if not os.path.isfile(meta):
        return False
    try:
        with open(meta) as f:
            info = json.load(f)
    except (OSError, ValueError):
        return False
    return all(os.path.isfile(os.path.join(path, name)) for name in info.get("files", []))


def list_checkpoints(out_dir: str) -> List[str]:
    """Complete checkpoints of a run, oldest first."""
    root = checkpoint_dir(out_dir)
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        m = CKPT_RE.match(name)
        path = os.path.join(root, name)
        if m and os.path.isdir(path) and is_complete(path):
            found.append((int(m.group(1)), path))
    return [p for _, p in sorted(found)]


def latest_checkpoint(out_dir: str) -> Optional[str]:
    ckpts = list_checkpoints(out_dir)
    return ckpts[-1] if ckpts else None


def cleanup_temporaries(out_dir: str) -> List[str]:
    """Removes the temporary folders a killed save left behind; returns what it removed."""
    root = checkpoint_dir(out_dir)
    removed = []
    if os.path.isdir(root):
        for name in os.listdir(root):
            if name.startswith(".tmp-") or ".old-" in name:
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)
                removed.append(name)
    return removed


def read_meta(path: str) -> Dict[str, Any]:
    with open(os.path.join(path, META)) as f:
        return json.load(f)


def load_file(path: str, name: str) -> Any:
    full = os.path.join(path, name)
    if not os.path.isfile(full):
        raise CheckpointError(f"checkpoint {path} has no {name}")
    try:
        return torch.load(full, map_location="cpu", weights_only=False)
    except Exception as exc:  # a truncated or foreign file
        raise CheckpointError(f"cannot read {full}: {exc}") from exc
