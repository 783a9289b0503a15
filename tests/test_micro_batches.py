"""Micro-batch planning: by count, or filled to a token budget, with the count agreed over processes."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rlev_fast.micro_batches import (TokenBudgetError, budget_units, first_fit_decreasing, needed_micro_batches,
                                     plan_micro_batches)
from rlev_fast.packing import packed_tokens, sequence_groups


def _cost(rows, plens, lens, group_size, share):
    return sum(packed_tokens(plens[u[0]], [lens[r] for r in u]) for u in sequence_groups(rows, group_size, share))


def test_count_mode_is_equal_runs_of_consecutive_rows():
    rows = list(range(1, 16, 2))  # a mini-batch's rows m, m + M, ...
    assert plan_micro_batches(rows, [], [], 4, True, 0, 4) == [[1, 3], [5, 7], [9, 11], [13, 15]]
    assert needed_micro_batches(rows, [], [], 4, True, 0, 4) == 4
    with pytest.raises(ValueError, match="8 rows do not split into 3"):
        plan_micro_batches(rows, [], [], 4, True, 0, 3)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 5), st.booleans(), st.integers(0, 4), st.data())
def test_budget_plans_cover_every_row_once_within_the_budget(num_groups, group_size, share, extra, data):
    """Every row in exactly one micro-batch, each micro-batch's packed row within the budget, rows in
    their order, exactly the requested count (at least the first-fit count), groups together when they fit."""
    S = num_groups * group_size
    plens = [data.draw(st.integers(1, 12)) for _ in range(num_groups) for _ in range(group_size)]
    plens = [plens[(r // group_size) * group_size] for r in range(S)]  # one prompt per group
    lens = data.draw(st.lists(st.integers(0, 30), min_size=S, max_size=S))
    budget = data.draw(st.integers(max(1, max(plens[r] + lens[r] - 1 for r in range(S))), 120))  # 0: count mode
    rows = sorted(data.draw(st.sets(st.integers(0, S - 1), min_size=1)))
    need = needed_micro_batches(rows, plens, lens, group_size, share, budget, 1)
    units = budget_units(rows, plens, lens, group_size, share, budget)
    assert need == max(1, len(first_fit_decreasing(units, budget)))
    count = need + extra
    plan = plan_micro_batches(rows, plens, lens, group_size, share, budget, count)
    assert len(plan) == count
    assert sorted(r for mb in plan for r in mb) == rows
    for mb in plan:
        assert mb == sorted(mb)
        assert _cost(mb, plens, lens, group_size, share) <= budget
    if share and extra == 0:
        for cost, unit in units:  # a group that fits the budget is never split
            if len(unit) == len([r for r in rows if r // group_size == unit[0] // group_size]):
                assert any(set(unit) <= set(mb) for mb in plan)


def test_fewer_units_than_micro_batches_leaves_empty_ones():
    """Another process needs more micro-batches than this one has sequences: the plan pads with empty
    ones (the trainer runs them with zero loss so that the collectives stay in step)."""
    assert plan_micro_batches([0, 1, 2], [5, 5, 5], [3, 4, 2], 3, False, 100, 4) == [[0], [1], [2], []]
    # one shared group: cut into runs (each paying for the prompt) before any micro-batch is left empty
    assert plan_micro_batches([0, 1, 2], [5, 5, 5], [3, 4, 2], 3, True, 100, 2) == [[0, 1], [2]]
    assert plan_micro_batches([0, 1, 2], [5, 5, 5], [3, 4, 2], 3, True, 100, 4) == [[0], [1], [2], []]


def test_a_group_beyond_the_budget_is_cut_and_each_run_pays_its_prompt():
    plens, lens = [10] * 4, [6, 6, 6, 6]  # one group: 10 + 4 * 5 = 30 tokens
    units = budget_units(range(4), plens, lens, 4, True, 21)
    assert [(c, u) for c, u in units] == [(20, [0, 1]), (20, [2, 3])]
    assert needed_micro_batches(range(4), plens, lens, 4, True, 30, 1) == 1


def test_a_sequence_beyond_the_budget_is_an_error_naming_both():
    with pytest.raises(TokenBudgetError, match=r"sequence 2 takes 40 tokens .*\(12 prompt \+ 29 response tokens.*"
                                               r"--max-tokens-per-micro-batch 32; raise it to at least 40"):
        needed_micro_batches([0, 1, 2], [12, 12, 12], [3, 4, 29], 3, True, 32, 1)


def test_first_fit_decreasing_packs_full_bins():
    units = [(c, [i]) for i, c in enumerate([7, 5, 4, 3, 1])]
    bins = first_fit_decreasing(units, 10)
    assert [[u[1][0] for u in b] for b in bins] == [[0, 3], [1, 2, 4]]  # 7 + 3, 5 + 4 + 1


def test_plans_are_deterministic():
    g = torch.Generator().manual_seed(0)
    lens = torch.randint(0, 40, (32,), generator=g).tolist()
    plens = [7] * 32
    k = needed_micro_batches(range(32), plens, lens, 8, True, 64, 1) + 2
    a = plan_micro_batches(range(32), plens, lens, 8, True, 64, k)
    assert a == plan_micro_batches(range(32), plens, lens, 8, True, 64, k) and len(a) == k
    with pytest.raises(ValueError, match=f"needs {k - 2} micro-batches, more than the 1 planned"):
        plan_micro_batches(range(32), plens, lens, 8, True, 64, 1)
