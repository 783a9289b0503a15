"""PNG plots of a run folder (needs matplotlib; without it `plot_run` returns [] and says so).

    hacc_acc.png          training-batch H-Acc and Acc over steps (and the held-out before/after)
    length_by_value.png   mean response length of the top- and bottom-20%-value prompts over steps
    eos_profile.png       p(EOS) along the response (tenths of its length) for the top- and
                          bottom-value prompts, early vs late in training (the paper's Figure 2)

    python -m rlev_fast.plots runs/<run>
"""
from __future__ import annotations

import json
import math
import os
import sys
from typing import Dict, List, Optional


def read_metrics(run_dir: str) -> List[Dict]:
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _read_json(path: str) -> Optional[Dict]:
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _save(plt, fig, run_dir: str, name: str) -> str:
    """Lays out, writes and closes one figure; returns its path."""
    fig.tight_layout()
    path = os.path.join(run_dir, name)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _smooth(xs: List[Optional[float]], k: int) -> List[float]:
    out = []
    for i in range(len(xs)):
        win = [x for x in xs[max(0, i - k + 1) : i + 1] if x is not None and not math.isnan(x)]
        out.append(sum(win) / len(win) if win else float("nan"))
    return out


def _mean_profile(rows: List[Dict], key: str) -> List[float]:
    profs = [r[key] for r in rows if r.get(key)]
    if not profs:
        return []
    out = []
    for j in range(len(profs[0])):
        vals = [p[j] for p in profs if p[j] is not None and not math.isnan(p[j])]
        out.append(sum(vals) / len(vals) if vals else float("nan"))
    return out


def plot_run(run_dir: str, smooth: int = 5) -> List[str]:
    """Writes the PNGs into `run_dir`; returns their paths ([] without matplotlib or metrics)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("[rlev_fast] matplotlib is not installed: no PNG plots (pip install matplotlib)", file=sys.stderr)
        return []
    rows = read_metrics(run_dir)
    if not rows:
        return []
    steps = [r["step"] for r in rows]
    written = []

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(steps, [100 * x for x in _smooth([r.get("h_acc") for r in rows], smooth)], label="H-Acc (train batch)")
    ax.plot(steps, [100 * x for x in _smooth([r.get("acc") for r in rows], smooth)], label="Acc (train batch)")
    before = _read_json(os.path.join(run_dir, "eval_before.json"))
    after = _read_json(os.path.join(run_dir, "eval_after.json"))
    for res, x, marker in ((before, 0, "o"), (after, steps[-1], "s")):
        if res:
            ax.scatter([x], [100 * res["h_acc"]], marker=marker, color="C0", zorder=3)
            ax.scatter([x], [100 * res["acc"]], marker=marker, color="C1", zorder=3)
    ax.set_xlabel("RL step")
    ax.set_ylabel("%")
    ax.set_title(f"H-Acc and Acc (moving mean of {smooth}; markers: held-out greedy)")
    ax.legend()
    written.append(_save(plt, fig, run_dir, "hacc_acc.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(steps, _smooth([r.get("len_top") for r in rows], smooth), label="top-20% value")
    ax.plot(steps, _smooth([r.get("len_bottom") for r in rows], smooth), label="bottom-20% value")
    ax.set_xlabel("RL step")
    ax.set_ylabel("mean response length (tokens)")
    ax.set_title("Response length by value bucket")
    ax.legend()
    written.append(_save(plt, fig, run_dir, "length_by_value.png"))

    k = max(1, len(rows) // 5)
    early, late = rows[:k], rows[-k:]
    fig, ax = plt.subplots(figsize=(6, 4))
    any_profile = False
    for part, label, style in ((early, f"steps {early[0]['step']}-{early[-1]['step']}", "--"),
                               (late, f"steps {late[0]['step']}-{late[-1]['step']}", "-")):
        for key, color, name in (("eos_profile_top", "C3", "top-20% value"), ("eos_profile_bottom", "C0", "bottom-20% value")):
            prof = _mean_profile(part, key)
            if prof:
                any_profile = True
                xs = [(j + 0.5) / len(prof) for j in range(len(prof))]
                ax.plot(xs, prof, style, color=color, label=f"{name}, {label}")
    ax.set_xlabel("relative position in the response")
    ax.set_ylabel("p(EOS)")
    ax.set_title("EOS probability along the response (cf. paper Fig. 2)")
    if any_profile:
        ax.legend(fontsize=8)
    written.append(_save(plt, fig, run_dir, "eos_profile.png"))
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m rlev_fast.plots RUN_DIR", file=sys.stderr)
        sys.exit(2)
    for p in plot_run(sys.argv[1]):
        print(p)
