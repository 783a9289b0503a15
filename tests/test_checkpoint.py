"""Checkpoints: atomic save, latest lookup, RNG round trip; a run killed with SIGKILL resumes to the
same final step with no corrupt checkpoint and no repeated or skipped data; Ctrl-C saves and exits."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from rlev_fast import checkpoint as ckpt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_save_latest_load_and_keep(tmp_path):
    out = str(tmp_path)
    assert ckpt.latest_checkpoint(out) is None
    for step in (1, 2, 3):
        ckpt.save_checkpoint(out, step, {"model.pt": {"w": torch.full((3,), float(step))}}, {"note": step}, keep=2)
    names = [os.path.basename(p) for p in ckpt.list_checkpoints(out)]
    assert names == ["step_000002", "step_000003"]
    last = ckpt.latest_checkpoint(out)
    assert ckpt.read_meta(last)["step"] == 3 and ckpt.read_meta(last)["note"] == 3
    assert torch.equal(ckpt.load_file(last, "model.pt")["w"], torch.full((3,), 3.0))
    with pytest.raises(ckpt.CheckpointError, match="no optimizer.pt"):
        ckpt.load_file(last, "optimizer.pt")


def _dead_pid():
    """The pid of a process that has ended (so that no live process owns a folder named with it)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_partial_checkpoints_are_ignored_and_cleaned(tmp_path):
    out = str(tmp_path)
    ckpt.save_checkpoint(out, 4, {"model.pt": {"w": torch.ones(2)}})
    root = ckpt.checkpoint_dir(out)
    # a save killed mid-write: a temporary folder, and a final-named folder without meta.json
    tmp = f".tmp-step_000005-{_dead_pid()}"
    os.makedirs(os.path.join(root, tmp))
    torch.save({"w": torch.zeros(2)}, os.path.join(root, tmp, "model.pt"))
    os.makedirs(os.path.join(root, "step_000006"))
    assert os.path.basename(ckpt.latest_checkpoint(out)) == "step_000004"
    assert ckpt.cleanup_temporaries(out) == [tmp]
    # a truncated file is reported, not unpickled into garbage
    with open(os.path.join(root, "step_000004", "model.pt"), "wb") as f:
        f.write(b"\x80\x02trunc")
    with pytest.raises(ckpt.CheckpointError, match="cannot read"):
        ckpt.load_file(os.path.join(root, "step_000004"), "model.pt")


def test_cleanup_keeps_the_folders_of_a_live_writer(tmp_path):
    """The pid in a temporary folder's name is its writer's: a live one (not this process) is writing
    it now; a dead one, or this process at startup (a reused pid), left it behind."""
    out = str(tmp_path)
    root = ckpt.checkpoint_dir(out)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = [f".tmp-step_000003-{_dead_pid()}", f".tmp-step_000003-{os.getpid()}",
                 f".tmp-step_000003-{sleeper.pid}", f"step_000002.old-{_dead_pid()}", f"step_000002.old-{sleeper.pid}",
                 ".tmp-notes", "step_000002"]
        for n in names:
            os.makedirs(os.path.join(root, n))
        removed, live = ckpt.clean_temporaries(out)
        assert sorted(removed) == sorted(names[:2] + [names[3]])
        assert sorted(live) == sorted([(names[2], sleeper.pid), (names[4], sleeper.pid)])
        assert sorted(os.listdir(root)) == sorted(names[2:3] + names[4:])
    finally:
        sleeper.kill()
        sleeper.wait()
    assert sorted(ckpt.cleanup_temporaries(out)) == sorted([names[2], names[4]])


def test_unreadable_config_json_is_a_checkpoint_error_naming_it(tmp_path):
    keys = (("run", "seed"),)
    new = {"run": {"seed": 0}}
    ckpt.check_resume_config(str(tmp_path), new, keys)  # none: nothing to check
    for text, reason in (("{garbage", "Expecting property name"), ("[1, 2]", "a JSON list, not an object"),
                         (b"\xff\xfe", "codec can't decode")):
        path = tmp_path / "config.json"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(ckpt.CheckpointError, match=f"cannot read {path} .*{reason}.*run.seed.*delete it"):
            ckpt.check_resume_config(str(tmp_path), new, keys)
    (tmp_path / "config.json").write_text('{"run": {"seed": 3}}')
    with pytest.raises(ckpt.CheckpointError, match="run.seed was 3"):
        ckpt.check_resume_config(str(tmp_path), new, keys)


def test_resave_same_step_replaces_atomically(tmp_path):
    out = str(tmp_path)
    ckpt.save_checkpoint(out, 2, {"a.pt": 1})
    ckpt.save_checkpoint(out, 2, {"a.pt": 2})
    assert ckpt.load_file(ckpt.latest_checkpoint(out), "a.pt") == 2
    assert sorted(os.listdir(ckpt.checkpoint_dir(out))) == ["step_000002"]


def test_rng_state_round_trip():
    state = ckpt.get_rng_state()
    a = (random.random(), torch.rand(3))
    ckpt.set_rng_state(state)
    b = (random.random(), torch.rand(3))
    assert a[0] == b[0] and torch.equal(a[1], b[1])


# ----------------------------------------------------------------------------------------------
# End to end: SIGKILL and resume, Ctrl-C
# ----------------------------------------------------------------------------------------------
def _cmd(model_dir, out, steps, *extra):
    return [sys.executable, "-m", "rlev_fast.train", "--model", model_dir, "--out", out, "--steps", str(steps),
            "--prompts-per-step", "4", "--n", "2", "--max-new-tokens", "8", "--no-eval", "--no-progress",
            "--no-save-final", "--no-plots", "--no-tensorboard", "--lr", "1e-3", "--save-every", "1", *extra]


def _env():
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _wait_for_step(proc, out, step, timeout=180):
    t0 = time.time()
    target = os.path.join(ckpt.checkpoint_dir(out), ckpt.step_name(step))
    while time.time() - t0 < timeout:
        if os.path.isdir(target) and ckpt.is_complete(target):
            return
        if proc.poll() is not None:
            raise AssertionError(f"run ended (rc {proc.returncode}) before step {step}: {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"no checkpoint for step {step} within {timeout}s")


def test_sigkill_then_resume_reaches_the_same_final_state(model_dir, tmp_path):
    steps = 5
    killed, ref = str(tmp_path / "killed"), str(tmp_path / "ref")
    proc = subprocess.Popen(_cmd(model_dir, killed, steps, "--keep-checkpoints", "0"), cwd=ROOT, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_step(proc, killed, 2)
    proc.send_signal(signal.SIGKILL)  # typically mid-step 3 (or mid-save): no chance to clean up
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    done = subprocess.run(_cmd(model_dir, killed, steps, "--keep-checkpoints", "0", "--resume"), cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed from" in done.stderr

    # every checkpoint is complete and loadable; nothing temporary is left
    paths = ckpt.list_checkpoints(killed)
    assert os.path.basename(paths[-1]) == ckpt.step_name(steps)
    assert not [n for n in os.listdir(ckpt.checkpoint_dir(killed)) if n.startswith(".tmp-")]
    for p in paths:
        for name in ("model.pt", "optimizer.pt", "trainer.pt", "rng_rank0.pt"):
            ckpt.load_file(p, name)
    # one metrics row per step, data positions contiguous: no prompt repeated or skipped
    rows = [json.loads(line) for line in open(os.path.join(killed, "metrics.jsonl"))]
    assert [r["step"] for r in rows] == list(range(1, steps + 1))
    assert [r["data_position"] for r in rows] == [4 * s for s in range(1, steps + 1)]

    # and the resumed run ends where an uninterrupted run ends (same RNG, data order, optimizer state)
    full = subprocess.run(_cmd(model_dir, ref, steps), cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=300)
    assert full.returncode == 0, full.stderr[-3000:]
    ref_rows = [json.loads(line) for line in open(os.path.join(ref, "metrics.jsonl"))]
    assert [r["reward"] for r in rows] == [r["reward"] for r in ref_rows]
    a = ckpt.load_file(ckpt.latest_checkpoint(killed), "model.pt")
    b = ckpt.load_file(ckpt.latest_checkpoint(ref), "model.pt")
    for k in b:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(model_dir, tmp_path):
    out = str(tmp_path / "int")
    proc = subprocess.Popen(_cmd(model_dir, out, 50), cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for_step(proc, out, 1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    assert "--resume" in err
    last = ckpt.latest_checkpoint(out)
    step = ckpt.read_meta(last)["step"]
    assert 1 <= step < 50
    rows = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    assert rows[-1]["step"] == step  # the checkpoint holds the last finished step
