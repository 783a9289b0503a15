"""What a user sees when something is wrong: a damaged run folder (truncated checkpoint, torn metrics
line, garbage config.json, leftovers of a killed save), an unwritable --out, Ctrl-C during startup,
a mistyped --model, and --n 1 with an estimator that needs a group. Each is one clear line (or a
fallback that says what it did), never a traceback, and never a long wait."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import rlev_fast.train as T
from rlev_fast import checkpoint as ckpt

from test_train import tiny_args  # tests/ has no packages: pytest puts this folder on sys.path

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def quick_args(model_dir, out, steps=2, *extra):
    """tiny_args without evaluation, final model or plots, `steps` long, a checkpoint every step."""
    args = tiny_args(model_dir, out, "--no-eval", "--no-save-final", "--no-plots", "--no-tensorboard",
                     "--save-every", "1", "--keep-checkpoints", "0", *extra)
    args[args.index("--steps") + 1] = str(steps)
    return args


def rows_of(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]


def error_lines(err):
    return [line for line in err.splitlines() if line.startswith("error:")]


def _no_model_load(monkeypatch):
    """Fails the test if the run gets as far as loading the model."""
    def refuse(*a, **k):
        raise AssertionError("the model was loaded: the check must come first")

    monkeypatch.setattr(T, "build_policy", refuse)


# ----------------------------------------------------------------------------------------------
# The run folder
# ----------------------------------------------------------------------------------------------
def test_resume_falls_back_past_a_truncated_checkpoint(model_dir, tmp_path, capsys):
    out = tmp_path / "trunc"
    assert T.main(quick_args(model_dir, out, 4)) == 0
    bad = out / "checkpoints" / "step_000004" / "model.pt"
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])  # a disk that lost the file's tail
    capsys.readouterr()
    assert T.main(quick_args(model_dir, out, 5, "--resume")) == 0
    err = capsys.readouterr().err
    assert f"skipping checkpoint {out}/checkpoints/step_000004: cannot read {bad} (" in err
    assert f"trying the previous one, {out}/checkpoints/step_000003" in err
    assert f"resumed from {out}/checkpoints/step_000003 (step 3" in err
    assert f"moved the unreadable {out}/checkpoints/step_000004 to {out}/checkpoints/unreadable-step_000004" in err
    assert "Traceback" not in err
    # the row of step 4 (past the checkpoint used) was dropped and redone: one row per step, no prompt twice
    rows = rows_of(out)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["data_position"] for r in rows] == [4 * s for s in range(1, 6)]
    names = [os.path.basename(p) for p in ckpt.list_checkpoints(str(out))]
    assert names == ["step_000001", "step_000002", "step_000003", "step_000004", "step_000005"]
    for p in ckpt.list_checkpoints(str(out)):
        ckpt.load_file(p, "model.pt")
    assert (out / "checkpoints" / "unreadable-step_000004" / "model.pt").exists()


def test_resume_with_no_readable_checkpoint_names_each_bad_file(model_dir, tmp_path, capsys):
    out = tmp_path / "allbad"
    assert T.main(quick_args(model_dir, out, 2, "--keep-checkpoints", "1")) == 0
    (out / "checkpoints" / "step_000002" / "optimizer.pt").write_bytes(b"\x80\x02trunc")
    capsys.readouterr()
    assert T.main(quick_args(model_dir, out, 3, "--resume")) == 1
    err = capsys.readouterr().err
    [line] = error_lines(err)
    assert line.startswith(f"error: --resume: no checkpoint in {out}/checkpoints loads: cannot read "
                           f"{out}/checkpoints/step_000002/optimizer.pt (")
    assert "Traceback" not in err
    assert (out / "checkpoints" / "step_000002").is_dir()  # nothing moved when there is nothing to fall back to


def test_torn_last_metrics_line_is_dropped_on_resume(model_dir, tmp_path, capsys):
    out = tmp_path / "torn"
    assert T.main(quick_args(model_dir, out, 2)) == 0
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "data_position": 12, "rew')  # killed mid-write: no closing brace, no newline
    capsys.readouterr()
    assert T.main(quick_args(model_dir, out, 3, "--resume")) == 0
    err = capsys.readouterr().err
    assert f"warning: {out}/metrics.jsonl line 3: dropped a torn last line (a run killed while writing it)" in err
    assert [r["step"] for r in rows_of(out)] == [1, 2, 3]


def test_corrupt_metrics_line_elsewhere_is_an_error_naming_file_and_line(model_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "corrupt"
    assert T.main(quick_args(model_dir, out, 2)) == 0
    lines = (out / "metrics.jsonl").read_text().splitlines()
    (out / "metrics.jsonl").write_text("\n".join([lines[0][:20], lines[1]]) + "\n")
    capsys.readouterr()
    _no_model_load(monkeypatch)
    assert T.main(quick_args(model_dir, out, 3, "--resume")) == 1
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith(f"error: {out}/metrics.jsonl line 1: not a metrics row (")
    assert line.endswith("repair or delete that line")


def test_garbage_config_json_blocks_resume_naming_the_file(model_dir, tmp_path, capsys, monkeypatch):
    """config.json records the settings a resume must keep (seed, data, n, ...); the checkpoints do
    not, so an unreadable one is an error (with the way out), not a silent unchecked resume."""
    out = tmp_path / "cfg"
    assert T.main(quick_args(model_dir, out, 2)) == 0
    (out / "config.json").write_text("{garbage")
    capsys.readouterr()
    with monkeypatch.context() as m:
        _no_model_load(m)
        assert T.main(quick_args(model_dir, out, 3, "--resume")) == 1
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith(f"error: --resume: cannot read {out}/config.json (Expecting property name")
    assert "run.seed" in line and "restore it, or delete it to resume without that check" in line
    (out / "config.json").unlink()  # the way out the message offers
    assert T.main(quick_args(model_dir, out, 3, "--resume")) == 0
    assert json.loads((out / "config.json").read_text())["run"]["steps"] == 3


def _make_unwritable(path):
    """chmod 555; as root (who writes anyway) the immutable attribute. Returns an undo function."""
    os.chmod(path, 0o555)
    probe = os.path.join(path, "probe")
    try:
        open(probe, "w").close()
    except OSError:
        return lambda: os.chmod(path, 0o755)
    os.remove(probe)
    r = subprocess.run(["chattr", "+i", str(path)], capture_output=True) if shutil.which("chattr") else None
    if r is None or r.returncode != 0:
        os.chmod(path, 0o755)
        pytest.skip("cannot make a folder unwritable here (root, and no chattr +i)")

    def undo():
        subprocess.run(["chattr", "-i", str(path)], check=True)
        os.chmod(path, 0o755)

    return undo


def test_read_only_out_folder_fails_at_startup_with_one_line(model_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "ro"
    out.mkdir()
    undo = _make_unwritable(str(out))
    try:
        _no_model_load(monkeypatch)
        assert T.main(quick_args(model_dir, out, 2)) == 1
    finally:
        undo()
    err = capsys.readouterr().err
    [line] = error_lines(err)
    assert line.startswith(f"error: --out {out}: cannot write there (") and "pick another --out" in line
    assert "Traceback" not in err and os.listdir(out) == []


def test_out_that_is_a_file_fails_at_startup(model_dir, tmp_path, capsys, monkeypatch):
    (tmp_path / "f").write_text("x")
    _no_model_load(monkeypatch)
    assert T.main(quick_args(model_dir, tmp_path / "f", 2)) == 1
    assert error_lines(capsys.readouterr().err) == [f"error: --out {tmp_path / 'f'} is a file, not a folder"]
    assert T.main(quick_args(model_dir, tmp_path / "f" / "sub", 2)) == 1
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith(f"error: --out {tmp_path / 'f' / 'sub'}: cannot write there (")


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_leftover_temporary_checkpoints_are_cleaned_by_a_new_run_not_a_live_ones(model_dir, tmp_path, capsys):
    """A kill during the first save leaves .tmp-step_* and no checkpoint: the next run (new, not
    --resume) removes it; a folder a live process is writing stays (with a warning)."""
    out = tmp_path / "tmp"
    root = out / "checkpoints"
    dead, mine = root / f".tmp-step_000001-{_dead_pid()}", root / f".tmp-step_000002-{os.getpid()}"
    for d in (dead, mine):
        d.mkdir(parents=True)
        (d / "model.pt").write_bytes(b"partial")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        live = root / f".tmp-step_000001-{sleeper.pid}"
        live.mkdir()
        assert T.main(quick_args(model_dir, out, 1)) == 0
        err = capsys.readouterr().err
        assert not dead.exists() and not mine.exists() and live.is_dir()
        assert f"removed 2 unfinished checkpoint folder(s) a killed run left in {root}: {dead.name}, {mine.name}" in err
        assert f"warning: {live} is being written by process {sleeper.pid}, which is running" in err
    finally:
        sleeper.kill()
        sleeper.wait()
    assert T.main(quick_args(model_dir, out, 2, "--resume")) == 0  # its writer is gone: now it goes
    assert not live.exists()
    assert f"{live.name}" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# Ctrl-C during startup
# ----------------------------------------------------------------------------------------------
def test_ctrl_c_during_startup_is_one_line_and_status_130(model_dir, tmp_path, capsys, monkeypatch):
    real = T.load_data

    def interrupted(*a, **k):
        os.kill(os.getpid(), signal.SIGINT)  # a real SIGINT, delivered while the run is starting
        time.sleep(1)
        return real(*a, **k)

    monkeypatch.setattr(T, "load_data", interrupted)
    before = signal.getsignal(signal.SIGINT)
    out = tmp_path / "int"
    assert T.main(quick_args(model_dir, out, 2)) == 130
    err = capsys.readouterr().err
    assert "[rlev_fast] interrupted during startup, before the first RL step: no checkpoint written" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert ckpt.list_checkpoints(str(out)) == []
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is back


def test_ctrl_c_during_startup_of_the_command(model_dir, tmp_path):
    """python -m rlev_fast.train, SIGINT while it reads a resumed run's metrics.jsonl (a FIFO here,
    so that the read blocks and the signal lands in startup for sure)."""
    out = tmp_path / "fifo"
    assert T.main(quick_args(model_dir, out, 1)) == 0
    os.remove(out / "metrics.jsonl")
    os.mkfifo(out / "metrics.jsonl")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "rlev_fast.train", *quick_args(model_dir, out, 2, "--resume")],
                            cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    line = ""
    t0 = time.time()
    while "run folder:" not in line and time.time() - t0 < 120:
        line = proc.stderr.readline()
        assert line or proc.poll() is None, "the run ended before its startup line"
    time.sleep(1.0)  # now blocked opening the FIFO
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err
    assert "interrupted during startup" in err and "Traceback" not in err


# ----------------------------------------------------------------------------------------------
# The command line
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tiny_polcy", "runs/finall"])
def test_mistyped_model_name_offline_is_one_line_at_once(model_dir, tmp_path, capsys, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    args = quick_args(model_dir, tmp_path / "out", 2)
    args[args.index("--model") + 1] = name
    t0 = time.time()
    assert T.main(args) == 1
    assert time.time() - t0 < 20
    err = capsys.readouterr().err
    assert error_lines(err) == [f"error: --model {name}: no such model folder, and not in the hub cache "
                                "(HF_HUB_OFFLINE is set: the hub is not asked)"]
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_mistyped_model_name_online_fails_fast_with_the_hub_reason(model_dir, tmp_path, capsys, monkeypatch):
    """No network (the test never asks one): the hub is asked once, with a short timeout, and its
    error is the reason in one line (not transformers' ~50 s of retries and an 80-line traceback)."""
    import huggingface_hub

    asked = []

    def no_network(repo_id, timeout=None, **kw):
        asked.append((repo_id, timeout))
        raise ConnectionError("[Errno -2] Name or service not known")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "is_offline_mode", lambda: False)
    monkeypatch.setattr(huggingface_hub, "model_info", no_network)
    args = quick_args(model_dir, tmp_path / "out", 2)
    args[args.index("--model") + 1] = "tiny_polcy"
    assert T.main(args) == 1
    assert asked == [("tiny_polcy", 10.0)]
    assert error_lines(capsys.readouterr().err) == [
        "error: --model tiny_polcy: no such model folder, and it could not be fetched from the hub: no connection "
        "(ConnectionError: [Errno -2] Name or service not known); HF_HUB_OFFLINE=1 uses the hub cache only"]


def test_path_like_model_names_are_only_looked_up_on_disk(model_dir, tmp_path, capsys, monkeypatch):
    import huggingface_hub

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(huggingface_hub, "model_info", lambda *a, **k: pytest.fail("asked the hub"))
    for name in ("./typo", "~/no_such_model_folder", str(tmp_path / "nope"), "a/b/c"):
        args = quick_args(model_dir, tmp_path / "out", 2)
        args[args.index("--model") + 1] = name
        assert T.main(args) == 1
        assert error_lines(capsys.readouterr().err) == [f"error: --model {name}: no such model folder"]


def test_a_checkpoint_or_run_folder_as_model_says_what_to_pass(model_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert T.main(quick_args(model_dir, "runs/x", 2)) == 0
    capsys.readouterr()
    for name, expected in [
        ("runs/x/checkpoints/step_000002",
         "error: --model runs/x/checkpoints/step_000002 is a training checkpoint (rlev_fast's model.pt, not "
         "save_pretrained files); use runs/x/final, or continue the run with --out runs/x --resume"),
        ("runs/x", "error: --model runs/x is a training run folder, not a model folder; its trained model is "
                   "runs/x/final (not there: the run has not finished, or ran with --no-save-final)"),
        ("runs/x/metrics.jsonl", "error: --model runs/x/metrics.jsonl is a file; it must be a model folder "
                                 "(save_pretrained) or a hub id"),
        ("runs", "error: --model runs: the folder holds no config.json, so it is not a save_pretrained model folder"),
    ]:
        args = quick_args(model_dir, tmp_path / "out", 2)
        args[args.index("--model") + 1] = name
        assert T.main(args) == 1
        err = capsys.readouterr().err
        assert error_lines(err) == [expected] and "Traceback" not in err


@pytest.mark.parametrize("algo", ["grpo", "dr_grpo", "rloo", "reinforce_pp_baseline"])
def test_n_1_with_a_group_baseline_is_refused(model_dir, tmp_path, capsys, algo):
    args = quick_args(model_dir, tmp_path / "n1", 1, "--algo", algo)
    args[args.index("--n") + 1] = "1"
    assert T.main(args) == 2
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith(f"error: --algo {algo} needs --n 2 or more") and "a group of one has no baseline" in line
    assert not (tmp_path / "n1").exists()


def test_n_1_with_reinforce_pp_trains(model_dir, tmp_path):
    out = tmp_path / "rpp"
    args = quick_args(model_dir, out, 2, "--algo", "reinforce_pp")
    args[args.index("--n") + 1] = "1"
    assert T.main(args) == 0
    assert [r["step"] for r in rows_of(out)] == [1, 2]


@pytest.mark.parametrize("argv0, code, one_line", [(["-m"], 130, True), (["script.py"], 1, False)])
def test_ctrl_c_while_the_package_imports(argv0, code, one_line):
    """Ctrl-C in the first seconds of `python -m rlev_fast.train`, while the package imports torch:
    one line and exit 130 for the command; a library user's import keeps the KeyboardInterrupt."""
    prog = (
        "import sys\n"
        f"sys.argv = {argv0!r}\n"
        "class Interrupt:\n"  # Ctrl-C arriving while rlev_fast.advantages (and torch) import
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'rlev_fast.advantages':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "try:\n"
        "    import rlev_fast\n"
        "except KeyboardInterrupt:\n"
        "    sys.exit(1)\n"
    )
    out = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=120)
    assert out.returncode == code, out.stderr
    assert ("interrupted during startup; nothing written" in out.stderr) is one_line
    assert "Traceback" not in out.stderr
