"""Checkpoints: atomic save, latest lookup, load, and the RNG states that make a resumed run
continue exactly where it stopped.

Layout of a run folder:

    <out>/checkpoints/step_000010/   model.pt, optimizer.pt, trainer.pt (scheduler, step, data position,
                                     counters), rng_rank<r>.pt (one per rank), meta.json
    <out>/checkpoints/.tmp-step_000010-<pid>/   being written; never read

A checkpoint is written to a temporary folder, every file fsynced, then renamed into place: a
rename within one filesystem is atomic, so a crash (even SIGKILL) leaves either the complete new
checkpoint or none, never a half-written one. `latest_checkpoint` ignores temporary folders and
any folder without meta.json; `cleanup_temporaries` removes what a killed run left behind (at the
start of every run in the folder, new or resumed; not the folders of a live process: their name
carries the writer's pid). A checkpoint whose files do not load (a disk that lost its tail, a file
edited by hand) is skipped by `load_latest_state`: the run continues from the newest one that loads,
and the unreadable one is moved aside to checkpoints/unreadable-step_XXXXXX.

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
import sys
from typing import Any, Dict, List, Optional, Tuple

import torch

from . import distributed as D

CKPT_RE = re.compile(r"^step_(\d{6,})$")
# what a save in progress (or a killed one) leaves: the temporary folder, and the old copy of a step
# being re-saved; both carry the writer's pid
TEMP_RE = re.compile(r"^(?:\.tmp-step_\d{6,}-(\d+)|step_\d{6,}\.old-(\d+))$")
META = "meta.json"
UNREADABLE_PREFIX = "unreadable-"


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


def read_state(path: str, info: D.DistInfo) -> Tuple[Dict[str, Any], Optional[Any]]:
    """The files of a checkpoint written by `save_state`, read into memory (nothing applied yet):
    ({"model", "optimizer", "trainer"}, this rank's RNG state or None). A file that does not load is a
    CheckpointError naming it."""
    sd = {k: load_file(path, name) for k, name in STATE_FILES.items()}
    rng = load_file(path, _rng_file(info.rank)) if os.path.exists(os.path.join(path, _rng_file(info.rank))) else None
    return sd, rng


def _apply_state(path: str, state, info: D.DistInfo, sd: Dict[str, Any], rng: Optional[Any]) -> None:
    state.load_state_dict(sd)
    if rng is not None:
        set_rng_state(rng)
    elif info.is_main:
        print(f"[rlev_fast] warning: {path} has no {_rng_file(info.rank)} (saved with another world size); "
              "sampling RNG reseeded", file=sys.stderr)


def load_state(path: str, state, info: D.DistInfo) -> None:
    """Loads a checkpoint written by `save_state` into `state`, and this rank's RNG state (a
    checkpoint of another world size has none for some ranks: they are reseeded, with a warning).
    Every file is read before anything is applied: a bad file leaves `state` as it was."""
    _apply_state(path, state, info, *read_state(path, info))


def load_latest_state(out_dir: str, state, info: D.DistInfo) -> str:
    """Loads the newest checkpoint of `out_dir` whose files all load (on every rank) and returns its
    path. A newer one that does not load is skipped with a warning naming the bad file, and moved
    aside to checkpoints/unreadable-step_XXXXXX (so that `keep` cannot prune the good ones in its
    favour, and a later resume does not trip on it again). None loads: a CheckpointError naming each
    bad file, and nothing is moved. A collective."""
    paths = list_checkpoints(out_dir)[::-1]
    if not paths:
        raise CheckpointError(f"--resume: no complete checkpoint in {checkpoint_dir(out_dir)}")
    failures = []
    for i, path in enumerate(paths):
        try:
            loaded, err = read_state(path, info), None
        except CheckpointError as exc:
            loaded, err = None, str(exc)
        errs = [e for e in D.all_gather_objects(err) if e]
        if not errs:
            if failures and info.is_main:
                for bad_path, _ in failures:
                    aside = _move_aside(bad_path)
                    print(f"[rlev_fast] moved the unreadable {bad_path} to {aside} (rename it back to retry it; "
                          "delete it to free the space)", file=sys.stderr, flush=True)
            D.barrier()
            _apply_state(path, state, info, *loaded)
            return path
        failures.append((path, errs[0]))
        if info.is_main:
            nxt = f"trying the previous one, {paths[i + 1]}" if i + 1 < len(paths) else "no older checkpoint"
            print(f"[rlev_fast] warning: skipping checkpoint {path}: {errs[0]}; {nxt}", file=sys.stderr, flush=True)
        loaded = None
    raise CheckpointError(f"--resume: no checkpoint in {checkpoint_dir(out_dir)} loads: "
                          + "; ".join(err for _, err in failures))


def _move_aside(path: str) -> str:
    parent, name = os.path.split(path)
    aside = os.path.join(parent, UNREADABLE_PREFIX + name)
    if os.path.exists(aside):
        aside += f"-{os.getpid()}"
    os.rename(path, aside)
    return aside


def resume_checkpoint(out_dir: str, resume: bool, info: D.DistInfo) -> Optional[str]:
    """The checkpoint a run continues from: the latest complete one with `resume`, None for a new run.
    Either way it first removes what a killed save left behind (saying so). A new run in a folder
    that already holds checkpoints, or a resume without any, is a CheckpointError. `load_latest_state`
    falls back to an older checkpoint when this one's files do not load."""
    if info.is_main:
        removed, live = clean_temporaries(out_dir)
        if removed:
            print(f"[rlev_fast] removed {len(removed)} unfinished checkpoint folder(s) a killed run left in "
                  f"{checkpoint_dir(out_dir)}: {', '.join(removed)}", file=sys.stderr, flush=True)
        for name, pid in live:
            print(f"[rlev_fast] warning: {os.path.join(checkpoint_dir(out_dir), name)} is being written by process "
                  f"{pid}, which is running: is another run using this --out?", file=sys.stderr, flush=True)
    D.barrier()
    if not resume:
        if list_checkpoints(out_dir):
            raise CheckpointError(f"{out_dir} already holds checkpoints of a run: pass --resume to continue it, "
                                  "or another --out")
        return None
    path = latest_checkpoint(out_dir)
    if path is None:
        raise CheckpointError(f"--resume: no complete checkpoint in {checkpoint_dir(out_dir)}")
    return path


def check_resume_config(out_dir: str, new: Dict[str, Any], keys) -> None:
    """A resumed run must draw the same data in the same order: the (section, field) `keys` of the
    new config dict must equal those in the run's config.json. An unreadable config.json is an error
    naming it: the checkpoints do not record these settings, so without it nothing can be checked."""
    path = os.path.join(out_dir, "config.json")
    if not os.path.exists(path):
        return
    try:
        with open(path) as f:
            old = json.load(f)
        if not isinstance(old, dict):
            raise ValueError(f"a JSON {type(old).__name__}, not an object")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(
            f"--resume: cannot read {path} ({exc}); it records the settings a resumed run must keep "
            f"({', '.join(f'{sec}.{key}' for sec, key in keys)}): restore it, or delete it to resume without "
            "that check") from None
    for sec, key in keys:
        old_sec = old.get(sec) if isinstance(old.get(sec), dict) else {}
        if old_sec.get(key) != new[sec][key]:
            raise CheckpointError(f"--resume: {sec}.{key} was {old_sec.get(key)!r} in {path} but is "
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


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    except OSError:
        return False
    return True


def clean_temporaries(out_dir: str) -> Tuple[List[str], List[Tuple[str, int]]]:
    """Removes the temporary folders a killed save left behind. A folder whose writer (the pid in its
    name) is alive and is not this process is being written now: it stays. Returns (removed names,
    [(kept name, its live pid)]). A pid reused by an unrelated process keeps a stale folder until
    that process ends."""
    root = checkpoint_dir(out_dir)
    removed, live = [], []
    if os.path.isdir(root):
        for name in sorted(os.listdir(root)):
            m = TEMP_RE.match(name)
            if not m:
                continue
            pid = int(m.group(1) or m.group(2))
            if pid != os.getpid() and _pid_alive(pid):
                live.append((name, pid))
                continue
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
            removed.append(name)
    return removed, live


def cleanup_temporaries(out_dir: str) -> List[str]:
    """Removes the temporary folders a killed save left behind (not those of a live process); returns
    what it removed."""
    return clean_temporaries(out_dir)[0]


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
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if len(reason) > 160:  # torch's zip reader appends a paragraph of advice
            reason = reason.split(". ")[0]
        raise CheckpointError(f"cannot read {full} ({reason})") from exc
