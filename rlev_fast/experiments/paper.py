"""Test the RLEV paper's claims with one command.

    python -m rlev_fast.experiments.paper --out runs/paper --seeds 0 1 2
    python -m rlev_fast.experiments.paper --out runs/paper --seeds 0 1 2 --model Qwen/Qwen2.5-7B \
        --data train.jsonl --eval-data test.jsonl -- --rollout vllm --max-new-tokens 1024 --lr 5e-7

Runs the grid {correctness, rlev, uniform, shuffled} x {reinforce_pp, rloo, grpo}, the alpha sweep
(`--alpha-sweep 1 5 10 15 20`, rlev with `--sweep-algo`, RLOO as in the paper) and the multiplicative form, for each seed,
each cell as its own `python -m rlev_fast.train` process in `<out>/cells/<name>` (anything after
`--` goes to every trainer). A cell is finished when its `eval_after.json` and `final/` exist: a
rerun skips it, and resumes an interrupted one from its latest checkpoint. Then, per cell, the EOS
analysis of the final policy (eos_analysis.py), and the tables, as mean +- std over seeds:

    <out>/results.md, results.csv, eos.csv     the paper's Tables 1 (main), 4 (controls),
                                               5 (alpha sweep, multiplicative) and the EOS mechanism
    <out>/*.png                                H-Acc by reward, alpha sweep, p(EOS) along the response
                                               for top/bottom-value prompts (Figure 2), with matplotlib

Claims under test (paper): (1) rlev > correctness on H-Acc for each algorithm; (2) shorter responses,
concise on low-value prompts; (3) uniform and shuffled do not match rlev; (4) alpha = 10 best among
1..20 and additive-clipped beats multiplicative; (5) s(x) scales the gradient on the EOS logit.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence

from ..advantages import ESTIMATORS
from ..rewards import SCALE_FORMS

METRICS = ("acc", "h_acc", "mean_length", "value_density", "top_acc", "top_length", "bottom_acc", "bottom_length")
PERCENT = {"acc", "h_acc", "top_acc", "bottom_acc"}
MAIN_REWARDS = ("correctness", "rlev", "uniform", "shuffled")
MAIN_ALGOS = ("reinforce_pp", "rloo", "grpo")


@dataclass(frozen=True)
class Cell:
    reward: str
    algo: str
    alpha: float
    seed: int

    @property
    def name(self) -> str:
        return f"{self.reward}-{self.algo}-a{self.alpha:g}-s{self.seed}"

    @property
    def group(self) -> str:
        """The cell without its seed: what the tables average over."""
        return f"{self.reward}-{self.algo}-a{self.alpha:g}"


@dataclass
class GridConfig:
    out: str
    seeds: Sequence[int] = (0, 1, 2)
    rewards: Sequence[str] = MAIN_REWARDS
    algos: Sequence[str] = MAIN_ALGOS
    alpha: float = 10.0
    alpha_sweep: Sequence[float] = ()
    sweep_algo: str = "rloo"  # the paper ran its alpha sweep and form ablation with RLOO
    multiplicative: bool = False
    train_args: Sequence[str] = ()
    eos_analysis: bool = True
    eos_compare_algo: Optional[str] = None  # Figure 2: rlev vs correctness under this algorithm
    shard: Optional[str] = None  # "i/k": run only cells i, i+k, i+2k, ... (several processes or machines)

    def __post_init__(self):
        if not self.out:
            raise ValueError("GridConfig.out must name an output folder")
        if not self.seeds:
            raise ValueError("GridConfig.seeds must hold at least one seed")
        for r in self.rewards:
            if r not in SCALE_FORMS:
                raise ValueError(f"unknown reward {r!r}; expected one of {SCALE_FORMS}")
        for a in list(self.algos) + [self.sweep_algo]:
            if a not in ESTIMATORS:
                raise ValueError(f"unknown algorithm {a!r}; expected one of {ESTIMATORS}")
        for a in [self.alpha, *self.alpha_sweep]:
            if not (math.isfinite(a) and a >= 0):
                raise ValueError(f"alpha must be a finite number >= 0, got {a!r}")
        if self.shard is not None:
            try:
                i, k = (int(x) for x in self.shard.split("/"))
            except ValueError:
                raise ValueError(f"shard must look like 'i/k', got {self.shard!r}") from None
            if not (k >= 1 and 0 <= i < k):
                raise ValueError(f"shard {self.shard!r} needs 0 <= i < k")
        for flag in ("--out", "--reward", "--algo", "--alpha", "--seed", "--resume"):
            if flag in self.train_args:
                raise ValueError(f"{flag} is set by the grid runner per cell; remove it from the trainer arguments")

    def cells(self) -> List[Cell]:
        cells = [Cell(r, a, self.alpha, s) for a in self.algos for r in self.rewards for s in self.seeds]
        cells += [Cell("rlev", self.sweep_algo, a, s) for a in self.alpha_sweep for s in self.seeds]
        if self.multiplicative:
            cells += [Cell("multiplicative", self.sweep_algo, self.alpha, s) for s in self.seeds]
        seen, unique = set(), []
        for c in cells:
            if c not in seen:
                seen.add(c)
                unique.append(c)
        return unique


# ----------------------------------------------------------------------------------------------
# Running cells
# ----------------------------------------------------------------------------------------------
def cell_dir(cfg: GridConfig, cell: Cell) -> str:
    return os.path.join(cfg.out, "cells", cell.name)


def is_finished(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "eval_after.json")) and os.path.isdir(os.path.join(path, "final"))


def run_cell(cfg: GridConfig, cell: Cell, log=print) -> None:
    """One trainer process for the cell (skipped when finished, resumed when interrupted)."""
    path = cell_dir(cfg, cell)
    if is_finished(path):
        log(f"[paper] {cell.name}: finished, skipped")
        return
    os.makedirs(path, exist_ok=True)
    cmd = [sys.executable, "-m", "rlev_fast.train", "--out", path, "--reward", cell.reward, "--algo", cell.algo,
           "--alpha", f"{cell.alpha:g}", "--seed", str(cell.seed), "--no-progress", "--no-tensorboard",
           "--no-plots", *cfg.train_args]
    if os.path.isdir(os.path.join(path, "checkpoints")) and os.listdir(os.path.join(path, "checkpoints")):
        cmd.append("--resume")
    log(f"[paper] {cell.name}: {' '.join(cmd[1:])}")
    t0 = time.time()
    with open(os.path.join(path, "train.log"), "a") as f:
        rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT)
    if rc != 0 or not is_finished(path):
        raise RuntimeError(f"cell {cell.name} failed (exit {rc}); see {os.path.join(path, 'train.log')}")
    log(f"[paper] {cell.name}: done in {time.time() - t0:.0f} s")


def _load_json(path: str) -> Optional[Dict[str, Any]]:
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _eval_examples(cell_path: str):
    """The held-out examples the trainer evaluated on, rebuilt from its resolved config."""
    from ..trainer.config import config_from_dict
    from ..trainer.data import load_data

    conf = config_from_dict(_load_json(os.path.join(cell_path, "config.json")))
    _, test = load_data(conf.data)  # eval_limit applied there, as in training
    return test, conf


def run_eos_analysis(cfg: GridConfig, cell: Cell) -> Dict[str, Any]:
    """EOS statistics of a finished cell's final policy (cached in the cell's eos.json)."""
    path = cell_dir(cfg, cell)
    cached = _load_json(os.path.join(path, "eos.json"))
    if cached is not None:
        return cached
    from ..policy import load_policy
    from .eos_analysis import eos_analysis

    examples, conf = _eval_examples(path)
    model, tok = load_policy(os.path.join(path, "final"))
    max_new = conf.run.eval_max_new_tokens or conf.rollout.max_new_tokens
    res = eos_analysis(model, tok, examples, form=cell.reward, alpha=cell.alpha, max_new_tokens=max_new)
    with open(os.path.join(path, "eos.json"), "w") as f:
        json.dump(res, f)
    return res


# ----------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------
def mean_std(xs: Sequence[float]):
    xs = [x for x in xs if x is not None and x == x]
    if not xs:
        return float("nan"), float("nan")
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, sd


def collect(cfg: GridConfig) -> Dict[str, Dict[str, Any]]:
    """Per group of cells: the seeds' final evaluations (and EOS statistics), plus the warm start."""
    groups: Dict[str, Dict[str, Any]] = {}
    for cell in cfg.cells():
        path = cell_dir(cfg, cell)
        after = _load_json(os.path.join(path, "eval_after.json"))
        if after is None:
            continue
        g = groups.setdefault(cell.group, {"cell": cell, "after": [], "before": [], "eos": []})
        g["after"].append(after)
        before = _load_json(os.path.join(path, "eval_before.json"))
        if before is not None:
            g["before"].append(before)
        eos = _load_json(os.path.join(path, "eos.json"))
        if eos is not None:
            g["eos"].append(eos)
    return groups


def _fmt(m: float, sd: float, pct: bool) -> str:
    if m != m:
        return "n/a"
    k = 100.0 if pct else 1.0
    nd = 1 if pct else 2
    return f"{m * k:.{nd}f} ± {sd * k:.{nd}f}"


def _metric_row(runs: List[Dict[str, Any]], keys=METRICS) -> List[str]:
    return [_fmt(*mean_std([r.get(k) for r in runs]), k in PERCENT) for k in keys]


def write_tables(cfg: GridConfig, groups: Dict[str, Dict[str, Any]]) -> str:
    """results.md, results.csv and eos.csv in cfg.out; returns the Markdown."""
    md = ["# RLEV paper grid", "",
          f"Seeds: {list(cfg.seeds)}; trainer arguments: `{' '.join(cfg.train_args) or '(defaults)'}`.",
          "Acc, H-Acc and bucket accuracies in %; lengths in tokens; value density = H-Acc(%) / mean length;",
          "mean ± std over seeds (n = number of seeds finished). Top / bottom = 20% of test prompts by value.", ""]
    head = "| algorithm | reward | alpha | n | Acc | H-Acc | length | value density | top Acc | top length | bottom Acc | bottom length |"
    sep = "|" + "---|" * 12
    # the warm start (before RL) is the same for every cell on the same data
    befores = [b for g in groups.values() for b in g["before"][:1]]
    md += ["## Main grid and controls (paper Tables 1 and 4)", "", head, sep]
    if befores:
        md.append("| (before RL) | - | - | 1 | " + " | ".join(_metric_row(befores[:1])) + " |")
    csv_rows = []
    for key, g in sorted(groups.items(), key=lambda kv: (kv[1]["cell"].algo, _reward_order(kv[1]["cell"].reward), kv[1]["cell"].alpha)):
        c = g["cell"]
        row = _metric_row(g["after"])
        line = f"| {c.algo} | {c.reward} | {c.alpha:g} | {len(g['after'])} | " + " | ".join(row) + " |"
        if c.alpha == cfg.alpha and c.reward != "multiplicative":
            md.append(line)
        for k in METRICS:
            m, sd = mean_std([r.get(k) for r in g["after"]])
            csv_rows.append({"algo": c.algo, "reward": c.reward, "alpha": c.alpha, "seeds": len(g["after"]),
                             "metric": k, "mean": m, "std": sd})
    sweep = [g for g in groups.values() if g["cell"].algo == cfg.sweep_algo and
             (g["cell"].reward == "multiplicative" or (g["cell"].reward == "rlev" and (cfg.alpha_sweep or cfg.multiplicative)))]
    if cfg.alpha_sweep or cfg.multiplicative:
        md += ["", f"## Alpha sweep and scaling form (paper Table 5; {cfg.sweep_algo})", "", head, sep]
        for g in sorted(sweep, key=lambda g: (g["cell"].reward, g["cell"].alpha)):
            c = g["cell"]
            md.append(f"| {c.algo} | {c.reward} | {c.alpha:g} | {len(g['after'])} | " + " | ".join(_metric_row(g["after"])) + " |")
    eos_rows = []
    eos_groups = [g for g in groups.values() if g["eos"]]
    if eos_groups:
        md += ["", "## EOS mechanism (paper Eq. 13)", "",
               "Greedy responses of each final policy on the test split; per-sequence advantage A = r = s(x) * correct;",
               "|d loss / d z_eos| at the terminal position of correct responses, from the fused loss's `eos_grad`.", "",
               "Value factor = |d loss / d z_eos| / (1 - p_eos): Eq. 13 predicts its top/bottom ratio equals the s(x) ratio.", "",
               "| algorithm | reward | alpha | n | 1 - p(EOS) at end, top | 1 - p(EOS) at end, bottom | abs grad top | abs grad bottom | abs grad ratio | value factor ratio | s(x) ratio |",
               "|" + "---|" * 11]
        for g in sorted(eos_groups, key=lambda g: (g["cell"].algo, _reward_order(g["cell"].reward), g["cell"].alpha)):
            c, e = g["cell"], g["eos"]
            cols = ["top_terminal_p_eos", "bottom_terminal_p_eos", "top_eos_grad", "bottom_eos_grad", "grad_ratio",
                    "value_factor_ratio", "s_ratio"]
            # p(EOS) at a confident stop is 1 - 1e-5: show 1 - p; gradients are as small, so 3 significant digits
            one_minus = {"top_terminal_p_eos", "bottom_terminal_p_eos"}
            vals = [mean_std([(1.0 - x.get(k)) if k in one_minus else x.get(k) for x in e]) for k in cols]
            md.append(f"| {c.algo} | {c.reward} | {c.alpha:g} | {len(e)} | " +
                      " | ".join("n/a" if m != m else (f"{m:.3f} ± {sd:.3f}" if "ratio" in k else f"{m:.2e} ± {sd:.1e}")
                                 for k, (m, sd) in zip(cols, vals)) + " |")
            for k, (m, sd) in zip(cols, vals):
                eos_rows.append({"algo": c.algo, "reward": c.reward, "alpha": c.alpha, "metric": k, "mean": m, "std": sd})
    text = "\n".join(md) + "\n"
    os.makedirs(cfg.out, exist_ok=True)
    with open(os.path.join(cfg.out, "results.md"), "w") as f:
        f.write(text)
    _write_csv(os.path.join(cfg.out, "results.csv"), csv_rows, ["algo", "reward", "alpha", "seeds", "metric", "mean", "std"])
    _write_csv(os.path.join(cfg.out, "eos.csv"), eos_rows, ["algo", "reward", "alpha", "metric", "mean", "std"])
    return text


def _reward_order(r: str) -> int:
    order = list(MAIN_REWARDS) + ["multiplicative"]
    return order.index(r) if r in order else len(order)


def _write_csv(path: str, rows: List[Dict[str, Any]], fields: List[str]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def write_plots(cfg: GridConfig, groups: Dict[str, Dict[str, Any]]) -> List[str]:
    """PNG plots when matplotlib is installed; returns the paths written."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    paths = []
    main = [g for g in groups.values() if g["cell"].alpha == cfg.alpha and g["cell"].reward in MAIN_REWARDS]
    if main:
        algos = sorted({g["cell"].algo for g in main})
        rewards = [r for r in MAIN_REWARDS if any(g["cell"].reward == r for g in main)]
        fig, ax = plt.subplots(figsize=(7, 4))
        width = 0.8 / max(len(rewards), 1)
        for j, r in enumerate(rewards):
            ms, sds = [], []
            for a in algos:
                g = next((g for g in main if g["cell"].algo == a and g["cell"].reward == r), None)
                m, sd = mean_std([x["h_acc"] for x in g["after"]]) if g else (float("nan"), 0.0)
                ms.append(100 * m)
                sds.append(100 * sd)
            ax.bar([i + j * width for i in range(len(algos))], ms, width, yerr=sds, label=r)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(algos))], algos)
        ax.set_ylabel("H-Acc (%)")
        ax.set_title("H-Acc after RL by reward (mean ± std over seeds)")
        ax.legend()
        paths.append(_save(fig, os.path.join(cfg.out, "h_acc_by_reward.png")))
    sweep = sorted((g for g in groups.values() if g["cell"].reward == "rlev" and g["cell"].algo == cfg.sweep_algo),
                   key=lambda g: g["cell"].alpha)
    if cfg.alpha_sweep and sweep:
        fig, ax = plt.subplots(figsize=(6, 4))
        xs = [g["cell"].alpha for g in sweep]
        ms = [100 * mean_std([x["h_acc"] for x in g["after"]])[0] for g in sweep]
        ax.plot(xs, ms, "o-", label="rlev (additive, clipped)")
        mult = [g for g in groups.values() if g["cell"].reward == "multiplicative"]
        if mult:
            ax.axhline(100 * mean_std([x["h_acc"] for x in mult[0]["after"]])[0], ls="--", color="gray",
                       label=f"multiplicative, alpha={mult[0]['cell'].alpha:g}")
        ax.set_xlabel("alpha")
        ax.set_ylabel("H-Acc (%)")
        ax.legend()
        paths.append(_save(fig, os.path.join(cfg.out, "alpha_sweep.png")))
    algo = cfg.eos_compare_algo or (cfg.algos[0] if cfg.algos else cfg.sweep_algo)
    pair = [groups.get(f"{r}-{algo}-a{cfg.alpha:g}") for r in ("rlev", "correctness")]
    if all(p is not None and p["eos"] for p in pair):
        fig, ax = plt.subplots(figsize=(6, 4))
        for (label, g), style in zip((("RLEV", pair[0]), ("correctness", pair[1])), ("-", "--")):
            for bucket, color in (("top", "tab:red"), ("bottom", "tab:blue")):
                prof = [mean_std([e[f"{bucket}_profile"][k] for e in g["eos"]])[0] for k in range(len(g["eos"][0][f"{bucket}_profile"]))]
                ax.plot([(k + 0.5) / len(prof) for k in range(len(prof))], prof, style, color=color,
                        marker="o", label=f"{label}, {bucket} 20% by value")
        ax.set_xlabel("position in the response (fraction of its length)")
        ax.set_ylabel("p(EOS)")
        ax.set_title(f"p(EOS) along the response ({algo}; paper Fig. 2)")
        ax.legend(fontsize=8)
        paths.append(_save(fig, os.path.join(cfg.out, "eos_profile.png")))
    return paths


def _save(fig, path: str) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


# ----------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------
def run_grid(cfg: GridConfig, log=print) -> str:
    """Runs every unfinished cell, the EOS analyses, and writes the tables; returns the Markdown."""
    os.makedirs(cfg.out, exist_ok=True)
    with open(os.path.join(cfg.out, f"grid{'-shard' + cfg.shard.replace('/', 'of') if cfg.shard else ''}.json"), "w") as f:
        json.dump({k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}, f, indent=2)
    cells = cfg.cells()
    if cfg.shard is not None:
        i, k = (int(x) for x in cfg.shard.split("/"))
        cells = cells[i::k]
    log(f"[paper] {len(cells)} cells in {cfg.out}")
    for cell in cells:
        run_cell(cfg, cell, log)
        if cfg.eos_analysis:
            run_eos_analysis(cfg, cell)
    groups = collect(cfg)
    text = write_tables(cfg, groups)
    for p in write_plots(cfg, groups):
        log(f"[paper] wrote {p}")
    return text


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rlev_fast.experiments.paper",
        description="The RLEV paper's grid, controls, alpha sweep and EOS analysis; arguments after -- go to every trainer.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", default="runs/paper", help="output folder (cells, tables, plots)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="RL seeds")
    p.add_argument("--rewards", nargs="+", default=list(MAIN_REWARDS), choices=list(SCALE_FORMS), help="reward forms of the grid")
    p.add_argument("--algos", nargs="+", default=list(MAIN_ALGOS), choices=list(ESTIMATORS), help="algorithms of the grid")
    p.add_argument("--alpha", type=float, default=10.0, help="alpha of the grid")
    p.add_argument("--alpha-sweep", type=float, nargs="*", default=[], help="alphas for rlev with --sweep-algo (paper: 1 5 10 15 20)")
    p.add_argument("--sweep-algo", default="rloo", choices=list(ESTIMATORS), help="algorithm of the sweep and of --multiplicative")
    p.add_argument("--multiplicative", action="store_true", help="add the multiplicative form (1 + alpha v, unclipped)")
    p.add_argument("--no-eos-analysis", action="store_true", help="skip the EOS analysis of each final policy")
    p.add_argument("--eos-compare-algo", default=None, choices=list(ESTIMATORS), help="algorithm of the Figure 2 plot")
    p.add_argument("--shard", default=None, help="i/k: run only every k-th cell from the i-th (parallel processes); "
                   "tables cover every finished cell")
    p.add_argument("--model", default=None, help="passed to every trainer (default: the shipped tiny policy)")
    p.add_argument("--data", default=None, help="training JSONL passed to every trainer")
    p.add_argument("--eval-data", default=None, help="held-out JSONL passed to every trainer")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: List[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    a = build_parser().parse_args(argv)
    for flag, val in (("--model", a.model), ("--data", a.data), ("--eval-data", a.eval_data)):
        if val:
            extra = [flag, val, *extra]
    try:
        cfg = GridConfig(out=a.out, seeds=a.seeds, rewards=a.rewards, algos=a.algos, alpha=a.alpha,
                         alpha_sweep=a.alpha_sweep, sweep_algo=a.sweep_algo, multiplicative=a.multiplicative,
                         train_args=extra, eos_analysis=not a.no_eos_analysis, eos_compare_algo=a.eos_compare_algo,
                         shard=a.shard)
        print(run_grid(cfg))
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
