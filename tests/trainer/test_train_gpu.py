"""The trainer on a CUDA device: packed micro-batches (the CUDA varlen backend of `auto`), the padded
shared-prompt forward, the Triton loss backend through `auto`, bf16 autocast and a short end-to-end
run. Skipped without CUDA (benchmarks/gpu_check.sh runs it)."""
import contextlib
import json
import math

import pytest
import torch

import rlev_fast.train as T
from rlev_fast.trainer import trunk as trunk_mod

pytestmark = pytest.mark.gpu


@pytest.fixture
def update(two_prompt_update):
    def run(share, buckets, autocast, packing="auto"):
        upd, state, _ = two_prompt_update(share, buckets, "cuda", autocast, packing)
        return upd, state

    return run


@pytest.mark.parametrize("packing,share,buckets", [("auto", True, 1), ("auto", False, 1), ("off", True, 4)])
def test_packed_and_shared_prompt_updates_on_cuda_match_the_plain_update(update, monkeypatch, packing, share, buckets):
    """fp32 on CUDA (the `auto` loss backend is Triton there; auto's varlen attention is flex without
    flash-attn): packing, prompt sharing and length buckets do not change the update."""
    monkeypatch.setattr(trunk_mod, "BUCKET_OVERHEAD_TOKENS", 0)
    ref, ref_state = update(False, 1, contextlib.nullcontext, "off")
    got, state = update(share, buckets, contextlib.nullcontext, packing)
    assert got["losses"] == pytest.approx(ref["losses"], rel=1e-4, abs=1e-6)
    for k in ref_state:
        torch.testing.assert_close(state[k], ref_state[k], rtol=1e-4, atol=1e-5, msg=lambda m, k=k: f"{k}: {m}")


def test_bf16_autocast_update_is_finite_and_close_to_fp32(update):
    ref, _ = update(True, 4, contextlib.nullcontext)
    got, state = update(True, 4, lambda: torch.autocast("cuda", dtype=torch.bfloat16))
    assert all(math.isfinite(x) for x in got["losses"])
    assert got["losses"] == pytest.approx(ref["losses"], rel=0.05, abs=1e-3)  # bf16 matmuls: ~3 digits
    assert all(bool(torch.isfinite(v).all()) for v in state.values())


def test_short_cuda_run_end_to_end(model_dir, tmp_path):
    out = tmp_path / "cuda"
    argv = ["--model", model_dir, "--out", str(out), "--steps", "2", "--prompts-per-step", "4", "--n", "2",
            "--max-new-tokens", "8", "--eval-limit", "8", "--no-progress", "--device", "cuda", "--rollout", "hf-cached"]
    assert T.main(argv) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["resolved"]["device"].startswith("cuda")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(math.isfinite(r["loss"]) for r in rows)
