"""A 2-cell, 1-seed, few-step run of the paper grid, so that the runner cannot rot."""
import csv
import json
import os

import pytest

from rlev_fast.experiments import paper
from rlev_fast.experiments.eos_analysis import eos_profile

TINY = ["--steps", "1", "--prompts-per-step", "2", "--n", "2", "--max-new-tokens", "8", "--eval-limit", "10",
        "--save-every", "0"]


def test_grid_config_rejects_bad_options(tmp_path):
    with pytest.raises(ValueError, match="unknown reward 'bogus'"):
        paper.GridConfig(out=str(tmp_path), rewards=["bogus"])
    with pytest.raises(ValueError, match="unknown algorithm"):
        paper.GridConfig(out=str(tmp_path), algos=["ppo2"])
    with pytest.raises(ValueError, match="--seed is set by the grid runner"):
        paper.GridConfig(out=str(tmp_path), train_args=["--seed", "3"])
    with pytest.raises(ValueError, match="needs 0 <= i < k"):
        paper.GridConfig(out=str(tmp_path), shard="2/2")
    with pytest.raises(ValueError, match="at least one seed"):
        paper.GridConfig(out=str(tmp_path), seeds=[])


def test_full_grid_has_the_papers_cells(tmp_path):
    cfg = paper.GridConfig(out=str(tmp_path), alpha_sweep=[1, 5, 10, 15, 20], multiplicative=True)
    names = {c.name for c in cfg.cells()}
    assert len(names) == 4 * 3 * 3 + 4 * 3 + 3  # grid + sweep (alpha 10 is shared with the grid) + multiplicative
    assert "shuffled-rloo-a10-s2" in names and "rlev-rloo-a15-s0" in names
    assert "multiplicative-rloo-a10-s1" in names


def test_eos_profile_bins_relative_positions():
    import torch

    p = torch.tensor([[0.1, 0.2, 0.3, 0.9], [0.5, 0.7, 0.0, 0.0]])
    m = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    assert eos_profile(p, m, [0, 1], bins=2) == pytest.approx([(0.1 + 0.2 + 0.5) / 3, (0.3 + 0.9 + 0.7) / 3])


@pytest.mark.slow
def test_two_cell_grid_runs_writes_tables_and_skips_finished_cells(tmp_path):
    cfg = paper.GridConfig(out=str(tmp_path), seeds=[0], rewards=["correctness", "rlev"], algos=["grpo"],
                           train_args=TINY, eos_compare_algo="grpo")
    logs = []
    text = paper.run_grid(cfg, log=logs.append)
    for cell in cfg.cells():
        d = paper.cell_dir(cfg, cell)
        assert paper.is_finished(d)
        eos = json.load(open(os.path.join(d, "eos.json")))
        assert eos["n"] == 10 and len(eos["top_profile"]) == 10
    assert "| grpo | rlev | 10 | 1 |" in text and "| grpo | correctness | 10 | 1 |" in text
    assert "EOS mechanism" in text
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert {r["reward"] for r in rows} == {"correctness", "rlev"}
    assert {r["metric"] for r in rows} >= {"h_acc", "acc", "mean_length", "value_density"}
    # a rerun finds both cells finished and runs no trainer
    logs.clear()
    paper.run_grid(cfg, log=logs.append)
    assert sum("finished, skipped" in line for line in logs) == 2
