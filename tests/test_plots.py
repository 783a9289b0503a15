"""The PNG plots of a run folder, from a synthetic metrics.jsonl (no training): which figures, what
their panels, titles and legends say, and a metrics.jsonl with a torn last line or a bad line."""
import json
import math
import os

import pytest

pytest.importorskip("matplotlib")

from rlev_fast import plots  # noqa: E402
from rlev_fast.metrics import EOS_PROFILE_BINS  # noqa: E402


def _row(step, kl=None):
    prof = [min(1.0, 0.05 * j * (1 + step / 10)) for j in range(EOS_PROFILE_BINS)]
    return {"step": step, "data_position": 4 * step, "lr": 1e-4, "reward": 0.5 + 0.01 * step,
            "acc": 0.4 + 0.01 * step, "h_acc": 0.45 + 0.01 * step, "len_top": 10 + step, "len_bottom": 12 + step / 2,
            "loss": -0.1 * math.sin(step), "kl": kl, "entropy": 0.1 - 0.001 * step, "clip_frac": 0.01 * (step % 3),
            "grad_norm": 1.0 / step, "tokens_per_s": 1000 + 10 * step, "time_step_s": 1.5, "time_rollout_s": 0.9,
            "time_verify_s": 0.01, "time_train_s": 0.5, "eos_profile_top": prof, "eos_profile_bottom": prof[::-1]}


def _run_dir(tmp_path, n=20, kl=None, evals=True):
    rows = [_row(s, kl if kl is None else kl * s) for s in range(1, n + 1)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if evals:
        for name, v in (("eval_before.json", 0.5), ("eval_after.json", 0.7)):
            (tmp_path / name).write_text(json.dumps({"n": 125, "acc": v, "h_acc": v + 0.02}))
    return str(tmp_path)


@pytest.fixture
def figures(monkeypatch):
    """What each written figure shows: {file name: {"suptitle", "axes": [{title, xlabel, legend, texts}]}}."""
    seen = {}
    real = plots._save

    def capture(plt, fig, run_dir, name):
        sup = fig._suptitle.get_text() if fig._suptitle is not None else ""
        axes = []
        for ax in fig.axes:
            leg = ax.get_legend()
            axes.append({"title": ax.get_title(), "xlabel": ax.get_xlabel(),
                         "legend": [t.get_text() for t in leg.get_texts()] if leg else [],
                         "legend_title": leg.get_title().get_text() if leg else "",
                         "texts": [t.get_text() for t in ax.texts], "lines": len(ax.lines)})
        seen[name] = {"suptitle": sup, "axes": axes}
        return real(plt, fig, run_dir, name)

    monkeypatch.setattr(plots, "_save", capture)
    return seen


def test_every_figure_is_written(tmp_path, figures):
    paths = plots.plot_run(_run_dir(tmp_path))
    assert [os.path.basename(p) for p in paths] == ["training_curves.png", "hacc_acc.png", "length_by_value.png",
                                                    "eos_profile.png"]
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        assert os.path.getsize(p) > 10_000


def test_training_curves_have_a_panel_per_signal_and_say_how_they_are_smoothed(tmp_path, figures):
    plots.plot_run(_run_dir(tmp_path, kl=0.001))
    fig = figures["training_curves.png"]
    titles = [a["title"] for a in fig["axes"]]
    assert titles == ["reward (batch mean)", "policy loss", "KL to the reference", "entropy", "clip fraction",
                      "gradient norm (before clipping)", "generated tokens / s", "time per step"]
    assert fig["suptitle"] == "Training curves from metrics.jsonl (thin: each step; thick: trailing mean of 5 steps)"
    assert all(a["lines"] >= 2 for a in fig["axes"])  # each step + its trailing mean, in every panel
    assert fig["axes"][0]["legend"] == ["each step", "trailing mean of 5 steps"]
    assert fig["axes"][7]["legend"] == ["total, each step", "total, trailing mean of 5 steps", "rollout", "update"]


def test_missing_kl_and_all_zero_clip_fraction_are_explained(tmp_path, figures):
    d = _run_dir(tmp_path)
    rows = [dict(json.loads(line), clip_frac=0.0) for line in open(os.path.join(d, "metrics.jsonl"))]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    plots.plot_run(d, smooth=1)
    axes = {a["title"]: a for a in figures["training_curves.png"]["axes"]}
    assert axes["KL to the reference"]["texts"] == ["not logged: --kl-coef 0 (no reference model)"]
    assert axes["clip fraction"]["texts"][0].startswith("0 at every step: with --ppo-epochs 1")
    assert "each step, unsmoothed" in figures["training_curves.png"]["suptitle"]


def test_before_after_markers_are_in_the_legend_and_titles_state_the_smoothing(tmp_path, figures):
    plots.plot_run(_run_dir(tmp_path), smooth=7)
    [ax] = figures["hacc_acc.png"]["axes"]
    assert ax["legend"] == ["H-Acc (train batch)", "Acc (train batch)",
                            "held-out before RL, greedy (125 questions)", "held-out after RL, greedy (125 questions)"]
    assert "marker colour" in ax["legend_title"]
    assert "trailing mean of 7 steps" in ax["title"] and "held-out" in ax["title"]
    [ax] = figures["length_by_value.png"]["axes"]
    assert ax["title"] == "Response length by value bucket (trailing mean of 7 steps)"
    [ax] = figures["eos_profile.png"]["axes"]
    assert "mean over the first and last 4 steps" in ax["title"]
    assert ax["legend"] == ["top-20% value, steps 1-4", "bottom-20% value, steps 1-4", "top-20% value, steps 17-20",
                            "bottom-20% value, steps 17-20"]


def test_without_evaluations_there_are_no_marker_entries(tmp_path, figures):
    plots.plot_run(_run_dir(tmp_path, evals=False))
    [ax] = figures["hacc_acc.png"]["axes"]
    assert ax["legend"] == ["H-Acc (train batch)", "Acc (train batch)"] and "held-out" not in ax["title"]


def test_a_torn_last_line_is_dropped_and_a_bad_line_elsewhere_named(tmp_path, capsys):
    d = _run_dir(tmp_path, n=3)
    with open(os.path.join(d, "metrics.jsonl"), "a") as f:
        f.write('{"step": 4, "rew')
    assert [r["step"] for r in plots.read_metrics(d)] == [1, 2, 3]
    assert "metrics.jsonl line 4: dropped a torn last line" in capsys.readouterr().err
    assert len(plots.plot_run(d)) == 4
    lines = open(os.path.join(d, "metrics.jsonl")).read().splitlines()
    lines[1] = "not json"
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"metrics.jsonl line 2: not a metrics row \(Expecting value\)"):
        plots.read_metrics(d)


def test_a_one_step_run_is_plotted(tmp_path, figures):
    assert len(plots.plot_run(_run_dir(tmp_path, n=1))) == 4
    [ax] = figures["eos_profile.png"]["axes"]
    assert "mean over step 1 " in ax["title"] and ax["legend"] == ["top-20% value, step 1", "bottom-20% value, step 1"]
