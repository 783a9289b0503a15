"""PNG plots of a run folder (matplotlib is a dependency; without it `plot_run` returns [] and says so).

    training_curves.png   one small panel per training signal of metrics.jsonl: reward, loss, KL,
                          entropy, clip fraction, gradient norm, tokens/s, time per step (thin: each
                          step; thick: the trailing mean of `smooth` steps)
    hacc_acc.png          training-batch H-Acc and Acc over steps (trailing mean), and the held-out
                          greedy evaluation before (circles) and after (squares) RL
    length_by_value.png   mean response length of the top- and bottom-20%-value prompts over steps
    eos_profile.png       p(EOS) along the response (tenths of its length) for the top- and
                          bottom-value prompts, early vs late in training (the paper's Figure 2)

Every figure's title says how it is smoothed.

    python -m rlev_fast.plots runs/<run>
"""
from __future__ import annotations

import json
import math
import os
import sys
from typing import Dict, List, Optional

# (key in metrics.jsonl, panel title, y label, note when the run logged no value)
CURVES = (
    ("reward", "reward (batch mean)", "r = s(x) x correct", None),
    ("loss", "policy loss", "loss", None),
    ("kl", "KL to the reference", "KL", "not logged: --kl-coef 0 (no reference model)"),
    ("entropy", "entropy", "nats / token", None),
    ("clip_frac", "clip fraction", "fraction of tokens", None),
    ("grad_norm", "gradient norm (before clipping)", "L2 norm", None),
    ("tokens_per_s", "generated tokens / s", "tokens / s", None),
    ("time_step_s", "time per step", "s", None),
)
TIME_PARTS = (("time_rollout_s", "rollout"), ("time_train_s", "update"))


def read_metrics(run_dir: str) -> List[Dict]:
    """The rows of <run_dir>/metrics.jsonl ([] when absent). A torn last line (a run killed, or still
    running, mid-write) is dropped with a warning; a bad line elsewhere is a ValueError naming it."""
    from .trainer.metrics_log import read_metrics_rows

    return read_metrics_rows(os.path.join(run_dir, "metrics.jsonl"))


def _read_json(path: str) -> Optional[Dict]:
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            res = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"[rlev_fast] warning: cannot read {path} ({exc}); left out of the plots", file=sys.stderr)
        return None
    return res if isinstance(res, dict) else None


def _save(plt, fig, run_dir: str, name: str) -> str:
    """Lays out, writes and closes one figure; returns its path."""
    fig.tight_layout()
    path = os.path.join(run_dir, name)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _smooth(xs: List[Optional[float]], k: int) -> List[float]:
    """The trailing mean of the last k values (missing and non-finite ones skipped)."""
    out = []
    for i in range(len(xs)):
        win = [x for x in xs[max(0, i - k + 1) : i + 1] if _finite(x)]
        out.append(sum(win) / len(win) if win else float("nan"))
    return out


def _nan(xs: List[Optional[float]]) -> List[float]:
    return [x if _finite(x) else float("nan") for x in xs]


def _mean_profile(rows: List[Dict], key: str) -> List[float]:
    profs = [r[key] for r in rows if r.get(key)]
    if not profs:
        return []
    out = []
    for j in range(len(profs[0])):
        vals = [p[j] for p in profs if _finite(p[j])]
        out.append(sum(vals) / len(vals) if vals else float("nan"))
    return out


def smoothing_note(smooth: int) -> str:
    return f"trailing mean of {smooth} steps" if smooth > 1 else "each step, unsmoothed"


def plot_run(run_dir: str, smooth: int = 5) -> List[str]:
    """Writes the PNGs into `run_dir`; returns their paths ([] without matplotlib or metrics)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D
    except ImportError:
        print("[rlev_fast] matplotlib is not installed: no PNG plots (pip install matplotlib)", file=sys.stderr)
        return []
    rows = read_metrics(run_dir)
    if not rows:
        return []
    smooth = max(1, int(smooth))
    note = smoothing_note(smooth)
    steps = [r["step"] for r in rows]
    few = len(rows) <= 12  # a short run: mark each step, a line alone hides single points
    written = []

    # -- training_curves.png: what a user checks first -------------------------------------------------
    fig, axes = plt.subplots(2, 4, figsize=(15, 6.4))
    for ax, (key, title, ylabel, missing) in zip(axes.flat, CURVES):
        raw = [r.get(key) for r in rows]
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("RL step", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=8)
        if not any(_finite(x) for x in raw):
            ax.text(0.5, 0.5, missing or f"no values of {key!r} in metrics.jsonl", ha="center", va="center",
                    fontsize=8, color="0.4", wrap=True, transform=ax.transAxes)
            ax.set_xlim(min(steps) - 0.5, max(steps) + 0.5)
            ax.set_yticks([])
            continue
        total = "total, " if key == "time_step_s" else ""
        ax.plot(steps, _nan(raw), color="C0", alpha=0.35, linewidth=1, marker="." if few else None,
                label=f"{total}each step")
        ax.plot(steps, _smooth(raw, smooth), color="C0", linewidth=2, label=f"{total}{note}")
        if key == "time_step_s":
            for (part, name), color in zip(TIME_PARTS, ("C1", "C2")):
                vals = [r.get(part) for r in rows]
                if any(_finite(x) for x in vals):
                    ax.plot(steps, _smooth(vals, smooth), color=color, linewidth=1.5, label=name)
            top = max((x for r in rows for x in (r.get(key), *(r.get(p) for p, _ in TIME_PARTS)) if _finite(x)),
                      default=1.0)
            ax.set_ylim(0, 1.6 * top)  # room for the legend above the curves
            ax.legend(fontsize=7, loc="upper center", ncol=2, framealpha=0.7)
        if key == "clip_frac" and all(x == 0 for x in raw if _finite(x)):
            ax.text(0.5, 0.65, "0 at every step: with --ppo-epochs 1 and\n--mini-batches 1 the update is on-policy "
                    "(ratio 1)", ha="center", va="center", fontsize=8, color="0.4", transform=ax.transAxes)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7, loc="best", framealpha=0.7)
    fig.suptitle(f"Training curves from metrics.jsonl (thin: each step; thick: {note})", fontsize=11)
    written.append(_save(plt, fig, run_dir, "training_curves.png"))

    # -- hacc_acc.png ------------------------------------------------------------------------------------
    fig, ax = plt.subplots(figsize=(6.4, 5.0))
    mark = "." if few else None
    ax.plot(steps, [100 * x for x in _smooth([r.get("h_acc") for r in rows], smooth)], color="C0", marker=mark,
            label="H-Acc (train batch)")
    ax.plot(steps, [100 * x for x in _smooth([r.get("acc") for r in rows], smooth)], color="C1", marker=mark,
            label="Acc (train batch)")
    before = _read_json(os.path.join(run_dir, "eval_before.json"))
    after = _read_json(os.path.join(run_dir, "eval_after.json"))
    handles = []
    for res, x, marker, name in ((before, 0, "o", "before RL"), (after, steps[-1], "s", "after RL")):
        if res and _finite(res.get("h_acc")) and _finite(res.get("acc")):
            ax.scatter([x], [100 * res["h_acc"]], marker=marker, s=50, color="C0", edgecolor="k", zorder=3)
            ax.scatter([x], [100 * res["acc"]], marker=marker, s=50, color="C1", edgecolor="k", zorder=3)
            handles.append(Line2D([], [], marker=marker, linestyle="", markersize=7, color="0.6", markeredgecolor="k",
                                  label=f"held-out {name}, greedy ({res.get('n', '?')} questions)"))
    ax.set_xlabel("RL step")
    ax.set_ylabel("%")
    ax.set_title(f"H-Acc and Acc: lines on the training batch ({note})" + ("\nmarkers on the held-out split"
                                                                           if handles else ""), fontsize=10)
    lines, labels = ax.get_legend_handles_labels()
    # below the axes: inside, it would hide the after-RL markers at the last step
    ax.legend(lines + handles, labels + [h.get_label() for h in handles], fontsize=8, loc="upper center",
              bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False,
              title="marker colour = the metric of the line of that colour" if handles else None, title_fontsize=7)
    ax.grid(alpha=0.3)
    written.append(_save(plt, fig, run_dir, "hacc_acc.png"))

    # -- length_by_value.png -----------------------------------------------------------------------------
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.plot(steps, _smooth([r.get("len_top") for r in rows], smooth), color="C3", marker=mark, label="top-20% value")
    ax.plot(steps, _smooth([r.get("len_bottom") for r in rows], smooth), color="C0", marker=mark,
            label="bottom-20% value")
    ax.set_xlabel("RL step")
    ax.set_ylabel("mean response length (tokens)")
    ax.set_title(f"Response length by value bucket ({note})", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    written.append(_save(plt, fig, run_dir, "length_by_value.png"))

    # -- eos_profile.png -----------------------------------------------------------------------------------
    k = max(1, len(rows) // 5)
    early, late = rows[:k], rows[-k:]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    any_profile = False
    parts = ((early, f"steps {early[0]['step']}-{early[-1]['step']}", "--"),
             (late, f"steps {late[0]['step']}-{late[-1]['step']}", "-"))
    if len(rows) == 1:  # early is late
        parts = ((rows, f"step {rows[0]['step']}", "-"),)
    for part, label, style in parts:
        for key, color, name in (("eos_profile_top", "C3", "top-20% value"), ("eos_profile_bottom", "C0", "bottom-20% value")):
            prof = _mean_profile(part, key)
            if prof:
                any_profile = True
                xs = [(j + 0.5) / len(prof) for j in range(len(prof))]
                ax.plot(xs, prof, style, color=color, marker="." if len(prof) <= 12 else None, label=f"{name}, {label}")
    ax.set_xlabel("relative position in the response")
    ax.set_ylabel("p(EOS)")
    span = f"the first and last {k} step{'s' if k > 1 else ''}" if len(rows) > 1 else f"step {rows[0]['step']}"
    ax.set_title(f"p(EOS) along the response, mean over {span} (cf. paper Fig. 2)", fontsize=10)
    if any_profile:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no EOS profiles in metrics.jsonl", ha="center", va="center", color="0.4",
                transform=ax.transAxes)
    ax.grid(alpha=0.3)
    written.append(_save(plt, fig, run_dir, "eos_profile.png"))
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m rlev_fast.plots RUN_DIR", file=sys.stderr)
        sys.exit(2)
    try:
        paths = plot_run(sys.argv[1])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    for p in paths:
        print(p)
