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

This module owns saving, loading and resuming: `save_checkpoint` is the one writer (one process or
all ranks of a torchrun job), `save_state` / `load_state` write and read a trainer's state (any
object with state_dict() / load_state_dict() returning {"model", "optimizer", "trainer"}), and
`resume_checkpoint` decides where a run continues from.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
from typing import Any, Dict, List, Optional

import torch

from . import distributed as D

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
                    keep: int = 0, rank_files: Optional[Dict[str, Any]] = None,
                    info: Optional[D.DistInfo] = None) -> Optional[str]:
    """Writes checkpoints/step_XXXXXX atomically and returns its path (None on other ranks).

    files: {file name: object} written by the main process; rank_files: written by every process
    (names that differ per rank, e.g. its RNG state). Under torchrun every rank calls this (it
    synchronizes them); info None means one process. Keeps the `keep` newest checkpoints (0: all)."""
    is_main = info is None or info.is_main
    tmp = D.broadcast_object(tmp_dir_for(out_dir, step) if is_main else None)
    if is_main:
        os.makedirs(checkpoint_dir(out_dir), exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
    D.barrier()
    final = None
    try:
        write_checkpoint_files(tmp, rank_files or {})
        if is_main:
            write_checkpoint_files(tmp, files)
        D.barrier()
        if is_main:
            final = commit_checkpoint(out_dir, step, tmp, meta or {}, keep=keep)
    except BaseException:
        if is_main:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    D.barrier()
    return final


# ----------------------------------------------------------------------------------------------
# A trainer's state
# ----------------------------------------------------------------------------------------------
STATE_FILES = {"model": "model.pt", "optimizer": "optimizer.pt", "trainer": "trainer.pt"}


def _rng_file(rank: int) -> str:
    return f"rng_rank{rank}.pt"


def save_state(out_dir: str, step: int, state, info: D.DistInfo, keep: int = 0) -> Optional[str]:
    """Checkpoint `state` (state_dict() -> {"model", "optimizer", "trainer"}) and every rank's RNG
    state at `step`. A collective: every rank calls it."""
    sd = state.state_dict()  # collective under FSDP2
    trainer = sd["trainer"]
    meta = {k: trainer[k] for k in ("data_position", "world_size") if k in trainer}
    return save_checkpoint(out_dir, step, {STATE_FILES[k]: v for k, v in sd.items()}, meta, keep=keep,
                           rank_files={_rng_file(info.rank): get_rng_state()}, info=info)


def load_state(path: str, state, info: D.DistInfo) -> None:
    """Loads a checkpoint written by `save_state` into `state`, and this rank's RNG state (a
    checkpoint of another world size has none for some ranks: they are reseeded, with a warning)."""
    state.load_state_dict({k: load_file(path, name) for k, name in STATE_FILES.items()})
    rng = os.path.join(path, _rng_file(info.rank))
    if os.path.exists(rng):
        set_rng_state(load_file(path, _rng_file(info.rank)))
    elif info.is_main:
        import sys

        print(f"[rlev_fast] warning: {path} has no {_rng_file(info.rank)} (saved with another world size); "
              "sampling RNG reseeded", file=sys.stderr)


def resume_checkpoint(out_dir: str, resume: bool, info: D.DistInfo) -> Optional[str]:
    """The checkpoint a run continues from: the latest complete one with `resume` (after removing what
    a killed save left behind), None for a new run. A new run in a folder that already holds
    checkpoints, or a resume without any, is a CheckpointError."""
    if not resume:
        if list_checkpoints(out_dir):
            raise CheckpointError(f"{out_dir} already holds checkpoints of a run: pass --resume to continue it, "
                                  "or another --out")
        return None
    if info.is_main:
        cleanup_temporaries(out_dir)
    D.barrier()
    path = latest_checkpoint(out_dir)
    if path is None:
        raise CheckpointError(f"--resume: no complete checkpoint in {checkpoint_dir(out_dir)}")
    return path


def check_resume_config(out_dir: str, new: Dict[str, Any], keys) -> None:
    """A resumed run must draw the same data in the same order: the (section, field) `keys` of the
    new config dict must equal those in the run's config.json."""
    path = os.path.join(out_dir, "config.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        old = json.load(f)
    for sec, key in keys:
        if old.get(sec, {}).get(key) != new[sec][key]:
            raise CheckpointError(f"--resume: {sec}.{key} was {old.get(sec, {}).get(key)!r} in {path} but is "
                                  f"{new[sec][key]!r} now; pass the same value to continue the run")


def is_complete(path: str) -> bool:
    try:
        meta = read_meta(path)
    except (OSError, ValueError):
        return False
    return all(os.path.isfile(os.path.join(path, name)) for name in meta.get("files", []))


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
    """meta.json of a checkpoint: its step, the files it holds, what the writer added."""
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
