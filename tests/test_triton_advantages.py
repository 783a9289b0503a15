"""The Triton advantage kernel (kernels/advantages.py) against `compute_advantages`, in the interpreter."""
import importlib
import os

os.environ["TRITON_INTERPRET"] = "1"  # before triton is imported: the kernels run on CPU

import pytest
import torch

pytest.importorskip("triton", reason="triton is not installed")

from rlev_fast.advantages import ESTIMATORS, compute_advantages  # noqa: E402
from rlev_fast.rewards import rlev_reward, value_scale  # noqa: E402
from test_advantages import BAD_ADVANTAGE_INPUTS  # noqa: E402  (tests/ is on sys.path under pytest)

adv_mod = importlib.import_module("rlev_fast.kernels.advantages")
if type(adv_mod._group_adv_kernel).__name__ != "InterpretedFunction":
    adv_mod = importlib.reload(adv_mod)  # imported earlier without TRITON_INTERPRET
triton_compute_advantages = adv_mod.triton_compute_advantages


def _rlev_batch(num_groups, group_size, seed):
    g = torch.Generator().manual_seed(seed)
    correct = (torch.rand(num_groups * group_size, generator=g) > 0.5).float()
    values = torch.rand(num_groups, generator=g).repeat_interleave(group_size) * 0.1
    return rlev_reward(correct, values), value_scale(values)


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("num_groups,group_size", [(37, 8), (5, 3), (7, 1), (3, 70)])
@pytest.mark.parametrize("with_scale", [False, True], ids=["plain", "scale"])
def test_matches_pytorch(estimator, num_groups, group_size, with_scale):
    r, s = _rlev_batch(num_groups, group_size, seed=num_groups * 100 + group_size)
    scale = s if with_scale else None
    ref = compute_advantages(r, group_size, estimator, scale=scale)
    out = triton_compute_advantages(r, group_size, estimator, scale=scale)
    assert out.dtype == ref.dtype and out.shape == ref.shape
    assert torch.isfinite(out).all()
    # both compute in float64 and round to float32 once: equal up to one fp32 rounding step
    assert torch.allclose(out, ref, rtol=2e-7, atol=1e-7), (out - ref).abs().max()


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "rewards,group_size",
    [([0.7, 0.7, 0.7], 3), ([0.3], 1), ([0.1, 0.9], 1), ([0.2] * 4, 2), ([1.0, 0.0, 0.0, 1.0], 4)],
    ids=["all-equal-group", "single", "groups-of-one", "all-equal-batch", "hand"],
)
def test_degenerate_and_small_cases_equal_reference(estimator, rewards, group_size):
    ref = compute_advantages(rewards, group_size, estimator)
    out = triton_compute_advantages(rewards, group_size, estimator)
    assert torch.allclose(out, ref, rtol=2e-7, atol=1e-7)
    if ref.abs().max().item() == 0.0:
        assert out.abs().max().item() == 0.0  # exactly zero, not a rounding residue


def test_grpo_scale_keeps_value():
    correct = [1, 0, 0, 1, 1, 0, 0, 1]
    values = [0.02] * 4 + [0.08] * 4
    s = value_scale(values)
    r = rlev_reward(correct, values)
    a = triton_compute_advantages(r, 4, "grpo", scale=s)
    assert (a[4:] / a[:4]).tolist() == pytest.approx([1.8 / 1.2] * 4, rel=1e-5)


def test_large_batch_whitening_multiple_blocks():
    # more than one BLOCK (1024) of the whitening kernel, eps = 0, float64 input -> float32 output
    g = torch.Generator().manual_seed(0)
    r = torch.rand(2600, generator=g, dtype=torch.float64) * 2
    for est in ("reinforce_pp", "reinforce_pp_baseline", "grpo"):
        ref = compute_advantages(r, 13, est, eps=0.0)
        out = triton_compute_advantages(r, 13, est, eps=0.0)
        assert torch.allclose(out, ref, rtol=2e-7, atol=1e-7), est


@pytest.mark.parametrize("kwargs,match", BAD_ADVANTAGE_INPUTS)
def test_bad_input_same_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        triton_compute_advantages(**kwargs)
