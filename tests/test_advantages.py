"""Advantage estimators on hand-computed cases, value preservation under GRPO, and input errors."""
import pytest
import torch

from rlev_fast import compute_advantages, rlev_reward, value_scale
from rlev_fast.advantages import ESTIMATORS

EPS = 1e-6


def test_grpo_hand_computed():
    # group [1, 0, 0, 1]: mean 0.5, unbiased std sqrt(1/3)
    adv = compute_advantages([1.0, 0.0, 0.0, 1.0], group_size=4, estimator="grpo", eps=0.0)
    s = (1 / 3) ** 0.5
    assert adv.tolist() == pytest.approx([0.5 / s, -0.5 / s, -0.5 / s, 0.5 / s], rel=1e-6)


def test_dr_grpo_and_rloo_hand_computed():
    r = [3.0, 1.0, 2.0, 0.0, 0.0, 4.0]
    assert compute_advantages(r, 3, "dr_grpo").tolist() == pytest.approx([1.0, -1.0, 0.0, -4 / 3, -4 / 3, 8 / 3])
    # rloo: r_i - mean(others)
    assert compute_advantages(r, 3, "rloo").tolist() == pytest.approx([1.5, -1.5, 0.0, -2.0, -2.0, 4.0])


def test_reinforce_pp_whitens_over_batch():
    r = torch.tensor([1.0, 0.0, 2.0, 5.0])
    adv = compute_advantages(r, 2, "reinforce_pp", eps=0.0)
    ref = (r.double() - r.double().mean()) / r.double().std()
    assert adv.tolist() == pytest.approx(ref.tolist(), rel=1e-6)
    adv_b = compute_advantages(r, 2, "reinforce_pp_baseline", eps=0.0)
    c = torch.tensor([0.5, -0.5, -1.5, 1.5], dtype=torch.float64)
    assert adv_b.tolist() == pytest.approx(((c - c.mean()) / c.std()).tolist(), rel=1e-6)


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "rewards,group_size",
    [([0.7, 0.7, 0.7], 3), ([0.3], 1), ([0.1, 0.9], 1), ([0.2] * 4, 2)],
    ids=["all-equal-group", "single", "groups-of-one", "all-equal-batch"],
)
def test_degenerate_groups_give_zero_not_nan(estimator, rewards, group_size):
    adv = compute_advantages(rewards, group_size, estimator, lengths=[3.0] * len(rewards))
    if estimator in ("reinforce_pp", "reinforce_pp_token") and len(set(rewards)) > 1:
        # batch whitening does not look at groups: [0.1, 0.9] still differ across the batch
        assert torch.isfinite(adv).all() and adv.abs().max() > 0
    else:
        assert adv.abs().max().item() == 0.0


def _token_whitening_fp64(r, lengths, eps):
    """REINFORCE++ over tokens, written out: every token of completion i carries its return r_i."""
    tok = torch.cat([torch.full((int(n),), float(x), dtype=torch.float64) for x, n in zip(r, lengths)])
    return [(x - tok.mean()) / (tok.std() + eps) for x in r]


@pytest.mark.parametrize("eps", [0.0, 1e-6])
def test_reinforce_pp_token_weights_completions_by_length(eps):
    g = torch.Generator().manual_seed(0)
    r = (torch.rand(24, generator=g) > 0.5).double() * (1 + torch.rand(24, generator=g))  # s(x) * correct
    lengths = torch.randint(1, 60, (24,), generator=g)
    adv = compute_advantages(r, 4, "reinforce_pp_token", eps=eps, lengths=lengths)
    assert adv.tolist() == pytest.approx([float(a) for a in _token_whitening_fp64(r, lengths, eps)], rel=1e-6, abs=1e-7)
    # equal lengths: the per-completion form up to Bessel's correction over tokens, not completions
    same = compute_advantages(r, 4, "reinforce_pp_token", eps=0.0, lengths=[5] * 24)
    per_completion = compute_advantages(r, 4, "reinforce_pp", eps=0.0)
    k = (24 * 5 - 1) / (5 * (24 - 1))  # var_completion / var_tok, Bessel over S = 24 vs N = 120
    assert (same.double() / per_completion.double()).tolist() == pytest.approx([k ** 0.5] * 24, rel=1e-5)
    # lengths matter: doubling the length of one completion moves every advantage
    lengths2 = lengths.clone()
    lengths2[0] *= 2
    assert not torch.allclose(adv, compute_advantages(r, 4, "reinforce_pp_token", eps=eps, lengths=lengths2))


def test_reinforce_pp_token_equals_verls_reinforce_plus_plus():
    """verl's compute_reinforce_plus_plus_outcome_advantage on the same batch: the outcome reward on
    the last response token, gamma = 1, responses of different lengths (right padding)."""
    core_algos = pytest.importorskip("verl.trainer.ppo.core_algos", reason="verl is not installed (side venv in .ci/run)")
    from verl.trainer.config import AlgoConfig

    g = torch.Generator().manual_seed(1)
    S, T = 16, 40
    lengths = torch.randint(1, T + 1, (S,), generator=g)
    r = (torch.rand(S, generator=g) > 0.4).float() * (1 + torch.rand(S, generator=g))
    mask = (torch.arange(T)[None, :] < lengths[:, None]).float()
    token_rewards = torch.zeros(S, T)
    token_rewards[torch.arange(S), lengths - 1] = r
    adv_verl, _ = core_algos.compute_reinforce_plus_plus_outcome_advantage(token_rewards, mask, config=AlgoConfig(gamma=1.0))
    ours = compute_advantages(r, 1, "reinforce_pp_token", eps=0.0, lengths=lengths)
    expected = ours[:, None] * mask
    # verl: rsqrt(var + 1e-8) and a 1e-8 in the mean's denominator, float32: agreement to ~1e-6
    assert torch.allclose(adv_verl, expected, rtol=1e-5, atol=1e-6), (adv_verl - expected).abs().max()
    # with our default eps the difference is eps / std relative
    ours_eps = compute_advantages(r, 1, "reinforce_pp_token", lengths=lengths)
    assert torch.allclose(adv_verl, ours_eps[:, None] * mask, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    ({}, "estimator 'reinforce_pp_token' weights completions by their token counts: pass lengths"),
    ({"lengths": [3, 4, 5]}, "lengths has 3 entries but rewards has 4"),
    ({"lengths": [3, -1, 5, 2]}, r"lengths\[1\] must be >= 0"),
    ({"lengths": [3, float("nan"), 5, 2]}, r"lengths\[1\] is not finite"),
])
def test_reinforce_pp_token_needs_valid_lengths(kwargs, match):
    with pytest.raises(ValueError, match=match):
        compute_advantages([1.0, 0.0, 2.0, 0.0], 2, "reinforce_pp_token", **kwargs)


def test_lengths_are_ignored_by_estimators_that_do_not_take_them():
    r = [1.0, 0.0, 2.0, 0.0]
    assert torch.equal(compute_advantages(r, 2, "grpo", lengths=[1, 2, 3, 4]), compute_advantages(r, 2, "grpo"))


def test_group_standardization_zeroes_constant_groups_inside_a_batch():
    adv = compute_advantages([0.1, 0.1, 0.1, 1.0, 0.0, 1.0], 3, "grpo")
    assert adv[:3].abs().max().item() == 0.0 and adv[3:].abs().max() > 0


def test_grpo_with_scale_keeps_value_and_plain_grpo_erases_it():
    """Same correctness pattern, different values: only GRPO with `scale` keeps the ratio of s(x)."""
    correct = [1, 0, 0, 1, 1, 0, 0, 1]  # two groups of 4, same pattern
    values = [0.02] * 4 + [0.08] * 4  # s = 1.2 and 1.8
    s = value_scale(values)
    r = rlev_reward(correct, values)
    with_scale = compute_advantages(r, 4, "grpo", scale=s)
    ratio = with_scale[4:] / with_scale[:4]
    assert ratio.tolist() == pytest.approx([1.8 / 1.2] * 4, rel=1e-5)
    plain = compute_advantages(r, 4, "grpo")
    assert (plain[4:] / plain[:4]).tolist() == pytest.approx([1.0] * 4, rel=1e-5)  # s(x) divided out
    # the scale-aware estimators that need no `scale` keep it on their own
    for est in ("dr_grpo", "rloo"):
        a = compute_advantages(r, 4, est)
        assert (a[4:] / a[:4]).tolist() == pytest.approx([1.5] * 4, rel=1e-5)


# (kwargs, error message): each bad input and the error that must name it
BAD_ADVANTAGE_INPUTS = [
    ({"rewards": [1.0, float("nan")], "group_size": 2}, r"rewards\[1\] is not finite"),
    ({"rewards": [1.0, 2.0, 3.0], "group_size": 2}, "not a multiple of group_size=2"),
    ({"rewards": [], "group_size": 1}, "rewards is empty"),
    ({"rewards": [1.0], "group_size": 0}, "group_size must be a positive int"),
    ({"rewards": [1.0], "group_size": 1, "estimator": "ppo"}, "estimator must be one of"),
    ({"rewards": [1.0, 0.0], "group_size": 2, "scale": [1.0]}, "scale has 1 entries"),
    ({"rewards": [1.0, 0.0], "group_size": 2, "scale": [1.0, 0.0]}, r"scale\[1\] must be > 0"),
    ({"rewards": torch.zeros(2, 2), "group_size": 2}, "rewards must be 1-D"),
]


@pytest.mark.parametrize("kwargs,match", BAD_ADVANTAGE_INPUTS)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        compute_advantages(**kwargs)


# ----------------------------------------------------------------------------------------------
# Range: huge rewards are computed stably where the result is representable, refused where not
# (docs/robustness.md). Expected values are float64 computations on rewards scaled into range.
# ----------------------------------------------------------------------------------------------
HUGE = [1.0, 0.0, 2.0, 0.5, 3.0, 0.25, 0.0, 3.0]  # two groups of 4, times a huge factor below


def _standardize64(x, group_size, eps=0.0):
    g = torch.tensor(x, dtype=torch.float64).view(-1, group_size)
    return ((g - g.mean(1, keepdim=True)) / (g.std(1, keepdim=True) + eps)).reshape(-1)


@pytest.mark.parametrize("factor", [1e39, 1e200, 1e300, 1.7e308 / 4])
def test_grpo_of_huge_rewards_is_their_standardization(factor):
    """Was all zeros for 1e200 (float64 std overflow: centered / inf). GRPO is scale-invariant up to
    eps, so the truth is the standardization of the unscaled pattern."""
    adv = compute_advantages([r * factor for r in HUGE], 4, "grpo")
    assert adv.dtype == torch.float32 and torch.isfinite(adv).all()
    assert adv.tolist() == pytest.approx(_standardize64(HUGE, 4).tolist(), rel=1e-6, abs=1e-6)


def test_huge_group_leaves_an_ordinary_group_bit_for_bit():
    r = [0.1, 0.9, 0.4, 0.4] + [1e200, 0.0, 3e200, 2e200]
    mixed = compute_advantages(r, 4, "grpo")
    alone = compute_advantages(r[:4], 4, "grpo")
    assert torch.equal(mixed[:4], alone)
    assert mixed[4:].tolist() == pytest.approx(_standardize64([1, 0, 3, 2], 4).tolist(), rel=1e-6)


@pytest.mark.parametrize("estimator", ["reinforce_pp", "reinforce_pp_baseline"])
def test_whitening_of_huge_rewards_is_scale_invariant(estimator):
    big = compute_advantages([r * 1e200 for r in HUGE], 4, estimator)
    small = compute_advantages(HUGE, 4, estimator, eps=0.0)
    assert torch.isfinite(big).all() and big.tolist() == pytest.approx(small.tolist(), rel=1e-6, abs=1e-6)


def test_grpo_with_scale_of_huge_rewards_keeps_the_scale():
    r = [c * 1e250 for c in (1.0, 0.0, 0.0, 1.0)]
    s = [2.0] * 4
    adv = compute_advantages(r, 4, "grpo", scale=s)
    assert adv.tolist() == pytest.approx((2.0 * _standardize64([1, 0, 0, 1], 4)).tolist(), rel=1e-6)


@pytest.mark.parametrize("estimator", ["dr_grpo", "rloo"])
@pytest.mark.parametrize("factor", [1e39, 1e200, 1.7e308 / 4])
def test_advantage_beyond_the_output_dtype_is_an_error(estimator, factor):
    """Was +-inf in the float32 output, silently. HUGE * 1e39 under dr_grpo is [0.125, -0.875, 1.125, -0.375,
    ...] * 1e39: rewards[1] is the first whose advantage float32 cannot hold, and it is named. (The float64
    group sums are scaled first, so even rewards of 4e307, whose group sum overflows float64, get a value.)"""
    r = [x * factor for x in HUGE]
    g = torch.tensor(r, dtype=torch.float64).view(-1, 4)
    if estimator == "dr_grpo":
        truth = (g / factor - (g / factor).mean(1, keepdim=True)).reshape(-1) * factor
    else:
        truth = (g / factor - ((g / factor).sum(1, keepdim=True) - g / factor) / 3).reshape(-1) * factor
    first = int(torch.nonzero(truth.abs() > torch.finfo(torch.float32).max)[0, 0])
    with pytest.raises(ValueError, match=rf"the {estimator} advantage of rewards\[{first}\] = .* is .*, which the "
                                         r"torch.float32 output cannot hold"):
        compute_advantages(r, 4, estimator)


def test_dr_grpo_and_rloo_of_large_representable_rewards_compute():
    r = [x * 1e37 for x in HUGE]
    for est in ("dr_grpo", "rloo"):
        adv = compute_advantages(r, 4, est)
        ref = compute_advantages(HUGE, 4, est).double() * 1e37
        assert torch.isfinite(adv).all() and adv.double().tolist() == pytest.approx(ref.tolist(), rel=1e-6)


def test_half_precision_output_overflow_is_an_error():
    """float16 rewards give float16 advantages: rloo of [60000, -60000] is +-120000, no float16."""
    with pytest.raises(ValueError, match=r"rewards\[0\].*torch.float16 output cannot hold"):
        compute_advantages(torch.tensor([60000.0, -60000.0], dtype=torch.float16), 2, "rloo")


def test_rewards_over_scale_that_overflow_are_an_error():
    with pytest.raises(ValueError, match=r"rewards\[0\] / scale\[0\] = 1e\+300 / 1e-10 overflows float64"):
        compute_advantages([1e300, 0.0], 2, "grpo", scale=[1e-10, 1.0])
