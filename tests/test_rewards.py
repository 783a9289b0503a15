"""RLEV values, scales and rewards on hand-computed cases, and their input errors."""
import math

import pytest
import torch

from rlev_fast import difficulty_values, exam_values, rlev_reward, value_scale


def test_exam_values_hand_computed():
    v = exam_values([5, 10, 0, 40], [50, 50, 50, 40])
    assert v.dtype == torch.float32
    assert v.tolist() == pytest.approx([0.1, 0.2, 0.0, 1.0])


def test_exam_values_keeps_float64_tensors():
    v = exam_values(torch.tensor([1.0], dtype=torch.float64), torch.tensor([3.0], dtype=torch.float64))
    assert v.dtype == torch.float64 and v.item() == pytest.approx(1 / 3, abs=1e-15)


@pytest.mark.parametrize(
    "scores,totals,match",
    [
        ([1, 2], [10], "differ in length"),
        ([1, 2], [10, 0], r"totals\[1\] must be > 0"),
        ([1, -2], [10, 10], r"scores\[1\] must be >= 0"),
        ([1, 11], [10, 10], r"scores\[1\] = 11.0 exceeds totals\[1\]"),
        ([1, float("nan")], [10, 10], r"scores\[1\] is not finite"),
        ([1, 2], [10, float("inf")], r"totals\[1\] is not finite"),
        ([], [], "scores is empty"),
        (["a"], [1], "scores must be a sequence of numbers"),
    ],
)
def test_exam_values_rejects(scores, totals, match):
    with pytest.raises(ValueError, match=match):
        exam_values(scores, totals)


def test_difficulty_values_paper_mapping():
    v = difficulty_values(["Primary School", "junior high school", "Senior High School", "University", "PhD"])
    assert v.tolist() == pytest.approx([0.01, 0.02, 0.04, 0.06, 0.08])
    assert difficulty_values(["middle school", "  high   school", "college", "graduate"]).tolist() == pytest.approx(
        [0.02, 0.04, 0.06, 0.08]
    )
    with pytest.raises(ValueError, match=r"levels\[1\] = 'kindergarten'"):
        difficulty_values(["phd", "kindergarten"])
    with pytest.raises(ValueError, match="single string"):
        difficulty_values("phd")


def test_value_scale_forms_hand_computed():
    v = [0.0, 0.05, 0.1, 0.4]
    assert value_scale(v).tolist() == pytest.approx([1.0, 1.5, 2.0, 2.0])  # 1 + min(10 v, 1)
    assert value_scale(v, alpha=5).tolist() == pytest.approx([1.0, 1.25, 1.5, 2.0])
    assert value_scale(v, form="correctness").tolist() == [1.0] * 4
    assert value_scale(v, form="uniform").tolist() == pytest.approx([6.5 / 4] * 4)
    assert value_scale(v, form="multiplicative").tolist() == pytest.approx([1.0, 1.5, 2.0, 5.0])


def test_value_scale_shuffled_is_a_seeded_permutation():
    v = torch.linspace(0, 0.1, 50)
    a, b = value_scale(v, form="shuffled", seed=3), value_scale(v, form="shuffled", seed=3)
    c = value_scale(v, form="shuffled", seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(torch.sort(a).values, torch.sort(value_scale(v)).values)
    assert not torch.equal(a, value_scale(v))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"form": "additive"}, "form must be one of"),
        ({"alpha": -1.0}, "alpha must be"),
        ({"alpha": math.nan}, "alpha must be"),
    ],
)
def test_value_scale_rejects_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        value_scale([0.1], **kwargs)


def test_value_scale_rejects_values_out_of_range():
    with pytest.raises(ValueError, match=r"values\[1\] = 1.5 is outside \[0, 1\]"):
        value_scale([0.1, 1.5])
    with pytest.raises(ValueError, match=r"values\[0\] is not finite"):
        value_scale([float("nan")])


def test_rlev_reward_in_paper_range():
    r = rlev_reward([True, False, True, True], [0.0, 0.3, 0.05, 0.5])
    assert r.tolist() == pytest.approx([1.0, 0.0, 1.5, 2.0])
    correct = r > 0
    assert bool(((r[correct] >= 1) & (r[correct] <= 2)).all())


def test_rlev_reward_float_scores_and_errors():
    assert rlev_reward([0.5], [0.1]).tolist() == pytest.approx([1.0])
    with pytest.raises(ValueError, match=r"correct\[0\] = 1.5 is outside"):
        rlev_reward([1.5], [0.1])
    with pytest.raises(ValueError, match=r"correct\[0\] is not finite"):
        rlev_reward([float("nan")], [0.1])
    with pytest.raises(ValueError, match="differ in length"):
        rlev_reward([1, 0], [0.1])
    with pytest.raises(ValueError, match="correct is empty"):
        rlev_reward([], [])
