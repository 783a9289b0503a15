"""The paper's metrics on hand-computed cases and their input errors."""
import pytest

from rlev_fast import accuracy, by_value_bucket, h_acc, mean_length, value_density
from rlev_fast.metrics import summarize


def test_hand_computed():
    correct = [1, 0, 1, 0, 1]
    values = [0.1, 0.4, 0.2, 0.2, 0.1]
    lengths = [10, 30, 20, 20, 20]
    assert accuracy(correct) == pytest.approx(0.6)
    assert h_acc(correct, values) == pytest.approx(0.4 / 1.0)
    assert mean_length(lengths) == pytest.approx(20.0)
    assert value_density(correct, values, lengths) == pytest.approx(40.0 / 20.0)
    b = by_value_bucket(values, correct, lengths)  # 20% of 5 = 1 item per bucket
    assert b == {"top_acc": 0.0, "top_length": 30.0, "bottom_acc": 1.0, "bottom_length": 10.0}
    s = summarize(values, correct, lengths)
    assert s["h_acc"] == pytest.approx(0.4) and s["top_length"] == 30.0
    assert all(isinstance(x, float) for x in s.values())


def test_buckets_of_ten_items():
    values = list(range(10))
    correct = [0] * 8 + [1, 1]
    lengths = [5] * 2 + [10] * 6 + [50, 70]
    b = by_value_bucket(values, correct, lengths)
    assert b["top_acc"] == 1.0 and b["top_length"] == 60.0
    assert b["bottom_acc"] == 0.0 and b["bottom_length"] == 5.0


@pytest.mark.parametrize(
    "fn,args,match",
    [
        (accuracy, ([],), "correct is empty"),
        (accuracy, ([1, 2],), r"correct\[1\] = 2.0 is outside"),
        (h_acc, ([1], [0.0]), "values sum to zero"),
        (h_acc, ([1, 0], [0.1]), "differ in length"),
        (h_acc, ([1], [-0.1]), r"values\[0\] = -0.1 is negative"),
        (mean_length, ([float("nan")],), r"lengths\[0\] is not finite"),
        (value_density, ([1], [0.1], [0]), "mean length is zero"),
        (by_value_bucket, ([0.1], [1], [3], 0.9), "fraction must be"),
    ],
)
def test_errors(fn, args, match):
    with pytest.raises(ValueError, match=match):
        fn(*args)
