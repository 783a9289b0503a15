"""The trainer end to end (python -m rlev_fast.train in-process): a tiny run and its outputs, every
estimator and reward control, the PPO knobs, bad input, a NaN loss, resume refusals, optional outputs."""
import importlib.util
import json
import math
import os

import pytest
import torch

import rlev_fast.train as T
from rlev_fast import checkpoint as ckpt
from rlev_fast.metrics import EOS_PROFILE_BINS
from rlev_fast.trainer import update as update_mod


def tiny_args(model_dir, out, *extra):
    return ["--model", model_dir, "--out", str(out), "--steps", "2", "--prompts-per-step", "4", "--n", "2",
            "--max-new-tokens", "8", "--eval-limit", "8", "--no-progress", "--lr", "1e-3", *extra]


# ----------------------------------------------------------------------------------------------
# End to end
# ----------------------------------------------------------------------------------------------
def test_tiny_run_writes_every_output(model_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert T.main(tiny_args(model_dir, out, "--save-every", "1")) == 0
    printed = capsys.readouterr().out
    assert "H-Acc (%)" in printed and "before" in printed and "after" in printed
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["algo"]["algo"] == "grpo" and cfg["resolved"]["device"] == "cpu" and cfg["run"]["out"] == str(out)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for key in ("reward", "acc", "h_acc", "len_mean", "len_top", "len_bottom", "clip_frac", "entropy",
                "eos_p_top", "eos_p_bottom", "eos_grad_top", "eos_profile_top", "tokens_per_s",
                "time_rollout_s", "time_verify_s", "time_train_s", "loss", "grad_norm", "lr"):
        assert key in rows[0], key
    assert len(rows[0]["eos_profile_top"]) == EOS_PROFILE_BINS
    for name in ("eval_before.json", "eval_after.json"):
        res = json.loads((out / name).read_text())
        assert res["n"] == 8 and 0 <= res["h_acc"] <= 1 and "top_acc" in res
    assert "H-Acc" in (out / "table.txt").read_text()
    assert [os.path.basename(p) for p in ckpt.list_checkpoints(str(out))] == ["step_000001", "step_000002"]
    from rlev_fast.policy import load_policy

    model, tok = load_policy(str(out / "final"))
    state = ckpt.load_file(ckpt.latest_checkpoint(str(out)), "model.pt")
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_run_says_what_it_does_and_where_its_outputs_are(model_dir, tmp_path, capsys):
    """Without a terminal (capsys: stderr is no TTY), as in a log file: the thread choice and why, the run
    folder at the start and the end, a plain progress line per step (not a redrawn bar), no transformers
    bars, one line listing the plots, and a note when TensorBoard is skipped."""
    out = tmp_path / "said"
    args = [a for a in tiny_args(model_dir, out) if a != "--no-progress"]
    assert T.main(args) == 0
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err and "Writing model shards" not in err and "Loading weights" not in err
    assert any(line.startswith("[rlev_fast] 1 CPU thread (") or line.startswith("[rlev_fast] 2 CPU threads (")
               for line in lines), err
    assert "--threads N to choose)" in err
    assert f"[rlev_fast] run folder: {out}" in lines
    assert [line.split("  ")[0] for line in lines if line.startswith("[rlev_fast] step ")] == \
        ["[rlev_fast] step 1/2", "[rlev_fast] step 2/2"]
    assert ("[rlev_fast] plots in " + str(out) + ": training_curves.png, hacc_acc.png, length_by_value.png, "
            "eos_profile.png") in lines
    done = [line for line in lines if line.startswith("[rlev_fast] done: 2 steps; run folder ")]
    assert done == [f"[rlev_fast] done: 2 steps; run folder {out}: checkpoints/, config.json, eval_after.json, "
                    "eval_before.json, final/, metrics.jsonl, table.txt" + (", tensorboard/" if (out / "tensorboard").exists() else "")]
    if importlib.util.find_spec("tensorboard") is None:
        assert err.count("TensorBoard events skipped: tensorboard is not installed (pip install tensorboard") == 1


def test_progress_is_a_bar_on_a_terminal_and_plain_lines_elsewhere():
    import io

    from rlev_fast.trainer.metrics_log import Progress

    row = {"reward": 0.5, "h_acc": 0.25, "loss": -0.1, "tokens_per_s": 900.0}
    log = io.StringIO()
    p = Progress(60, 0, stream=log)
    for step in range(1, 61):
        p.update(step, row)
    p.close()
    lines = log.getvalue().splitlines()
    assert [int(line.split()[2].split("/")[0]) for line in lines] == [1] + list(range(3, 61, 3))
    assert lines[0].startswith("[rlev_fast] step 1/60  reward 0.500  H-Acc 25.0%  loss -0.1  900 tok/s  ")
    assert "\r" not in log.getvalue()

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    p = Progress(3, 1, stream=term)  # a resumed run: the bar starts at its step
    p.update(2, row)
    p.close()
    assert "\r" in term.getvalue() and "2/3" in term.getvalue() and "[rlev_fast] step" not in term.getvalue()


def test_thread_choice_is_printed_with_its_reason(model_dir, tmp_path, capsys):
    assert T.main(tiny_args(model_dir, tmp_path / "t", "--threads", "1", "--no-eval", "--no-save-final",
                            "--no-plots", "--steps", "1")) == 0
    assert "[rlev_fast] 1 CPU thread (--threads 1)" in capsys.readouterr().err.splitlines()
    from rlev_fast.trainer.runtime import choose_threads

    n, why = choose_threads(0, 1)
    assert n >= 1 and why.endswith("--threads N to choose") and "core" in why


@pytest.mark.parametrize("algo, reward", [
    ("grpo", "rlev"), ("dr_grpo", "correctness"), ("rloo", "uniform"), ("reinforce_pp", "shuffled"),
    ("reinforce_pp_baseline", "multiplicative"),
])
def test_every_estimator_and_reward_control_runs(model_dir, tmp_path, algo, reward):
    out = tmp_path / algo
    args = tiny_args(model_dir, out, "--algo", algo, "--reward", reward, "--no-eval", "--no-save-final")
    assert T.main(args[:args.index("--steps") + 1] + ["1"] + args[args.index("--steps") + 2:]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["algo"]["algo"], cfg["algo"]["reward"]) == (algo, reward)


def test_ppo_epochs_minibatches_accumulation_kl_and_schedule(model_dir, tmp_path):
    out = tmp_path / "ppo"
    args = tiny_args(model_dir, out, "--ppo-epochs", "2", "--mini-batches", "2", "--grad-accum", "2",
                     "--kl-coef", "0.05", "--kl-estimator", "k2", "--entropy-coef", "0.01", "--dual-clip", "3",
                     "--clip-high", "0.28", "--schedule", "cosine", "--warmup-steps", "1", "--no-eval",
                     "--no-save-final")
    assert T.main(args) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["kl"] is not None and rows[-1]["kl"] >= 0
    assert rows[0]["lr"] < rows[-1]["lr"] or rows[0]["lr"] > 0  # warmup then cosine


@pytest.mark.skipif(not os.path.isfile(os.path.join(os.path.dirname(T.__file__), "assets", "tiny_policy",
                                                    "model.safetensors")), reason="warm-start assets not built")
def test_default_policy_and_data_smoke(tmp_path):
    out = tmp_path / "default"
    args = ["--out", str(out), "--steps", "1", "--prompts-per-step", "2", "--n", "2", "--max-new-tokens", "8",
            "--eval-limit", "4", "--no-progress", "--no-save-final"]
    assert T.main(args) == 0


# ----------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lines, match", [
    (['{"query": "Q: 1+1", "label": "2", "score": 1, "total": 10}', '{"query": "Q: 2+2", "label": '],
     "line 2"),
    (['{"query": "Q: 1+1", "label": "2", "score": 12, "total": 10}'], "score 12 > total 10"),
    (['{"query": "Q: 1+1", "score": 1, "total": 10}'], "missing field 'label'"),
    ([""], "no examples"),
])
def test_bad_data_names_file_and_line(model_dir, tmp_path, capsys, lines, match):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert T.main(tiny_args(model_dir, tmp_path / "out", "--data", str(path))) == 1
    err = capsys.readouterr().err
    assert match in err and "bad.jsonl" in err


def test_missing_data_file(model_dir, tmp_path, capsys):
    assert T.main(tiny_args(model_dir, tmp_path / "out", "--data", str(tmp_path / "nope.jsonl"))) == 2
    assert "no such file" in capsys.readouterr().err


def test_real_run_flags_with_jsonl_data(model_dir, tmp_path):
    """--data in the RLEV format with a held-out --eval-data in the {prompt, answer, value} format."""
    rows = [{"query": f"Q ({s} of 20 points): {a}+{a} = ?", "label": str(2 * a), "score": s, "total": 20,
             "exam_id": f"e{a % 3}"} for a, s in zip(range(10, 22), [1, 2, 5, 8] * 3)]
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    ev = [{"prompt": "Q (4 of 20 points): 30+30 = ?", "answer": "60", "value": 0.2},
          {"prompt": "Q (1 of 20 points): 31+31 = ?", "answer": "62", "value": 0.05}]
    (tmp_path / "eval.jsonl").write_text("\n".join(json.dumps(r) for r in ev) + "\n")
    out = tmp_path / "real"
    args = tiny_args(model_dir, out, "--data", str(tmp_path / "train.jsonl"), "--eval-data",
                     str(tmp_path / "eval.jsonl"), "--no-save-final")
    assert T.main(args) == 0
    assert json.loads((out / "eval_after.json").read_text())["n"] == 2


def test_nan_loss_stops_with_the_last_checkpoint_intact(model_dir, tmp_path, capsys, monkeypatch):
    real = update_mod.policy_loss
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        out = real(*args, **kwargs)
        if torch.is_grad_enabled():
            calls["n"] += 1
            if calls["n"] == 3:  # the third training step
                out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(update_mod, "policy_loss", flaky)
    out = tmp_path / "nan"
    # one length bucket: one training policy_loss call per step, so call 3 is step 3
    args = tiny_args(model_dir, out, "--save-every", "1", "--no-eval", "--keep-checkpoints", "0", "--length-buckets", "1")
    args[args.index("--steps") + 1] = "5"
    assert T.main(args) == 1
    err = capsys.readouterr().err
    assert "loss is nan at step 3" in err and "step_000002" in err
    last = ckpt.latest_checkpoint(str(out))
    assert os.path.basename(last) == "step_000002"
    for name in ("model.pt", "optimizer.pt", "trainer.pt"):
        ckpt.load_file(last, name)


@pytest.mark.parametrize("packing", ["auto", "off"])
def test_gradient_checkpointing_trains_packed_or_padded(model_dir, tmp_path, capsys, packing):
    """Checkpointed layers recompute in the backward pass: the packed row (prompts shared inside
    attention) and the padded fallback (which cannot take the shared prompt cache there and runs
    without it) both train, with finite losses; the run says which it uses."""
    out = tmp_path / "gc"
    args = tiny_args(model_dir, out, "--gradient-checkpointing", "--no-eval", "--no-save-final", "--packing", packing)
    assert T.main(args) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"]["gradient_checkpointing"] is True and cfg["algo"]["share_prompt"] is True
    err = capsys.readouterr().err
    assert ("packed micro-batches" if packing == "auto" else "padded micro-batches (--packing off)") in err
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(math.isfinite(r["loss"]) for r in rows)


def test_a_token_budget_below_the_longest_sequence_stops_the_run_at_startup(model_dir, tmp_path, capsys):
    """--max-tokens-per-micro-batch below the longest prompt plus --max-new-tokens: one line naming
    both, before any evaluation or step (nothing but config.json written)."""
    out = tmp_path / "budget"
    assert T.main(tiny_args(model_dir, out, "--max-tokens-per-micro-batch", "12")) == 1
    err = capsys.readouterr().err
    assert "error: --max-tokens-per-micro-batch 12 is less than the" in err and "--max-new-tokens 8" in err
    assert "Traceback" not in err
    assert sorted(os.listdir(out)) == ["config.json"]


def test_resume_with_other_seed_is_refused(model_dir, tmp_path, capsys):
    out = tmp_path / "r"
    assert T.main(tiny_args(model_dir, out, "--no-eval", "--no-save-final")) == 0
    assert T.main(tiny_args(model_dir, out, "--no-eval", "--resume", "--seed", "7")) == 1
    assert "run.seed was 0" in capsys.readouterr().err
    assert T.main(tiny_args(model_dir, out, "--no-eval")) == 1  # a fresh run would mix with its checkpoints
    assert "pass --resume" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# Optional outputs
# ----------------------------------------------------------------------------------------------
@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="matplotlib is not installed")
def test_plots(model_dir, tmp_path):
    from rlev_fast.plots import plot_run

    out = tmp_path / "p"
    assert T.main(tiny_args(model_dir, out, "--no-save-final", "--no-plots")) == 0
    paths = plot_run(str(out))
    # training_curves.png joined the three figures (tests/test_plots.py checks what each one shows)
    assert sorted(os.path.basename(p) for p in paths) == ["eos_profile.png", "hacc_acc.png", "length_by_value.png",
                                                          "training_curves.png"]
    assert all(os.path.getsize(p) > 1000 for p in paths)


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="tensorboard is not installed")
def test_tensorboard_events(model_dir, tmp_path):
    out = tmp_path / "tb"
    assert T.main(tiny_args(model_dir, out, "--no-save-final", "--no-eval")) == 0
    assert any(n.startswith("events.") for n in os.listdir(out / "tensorboard"))
