"""Micro-batches of a mini-batch: by count, or filled to a token budget (verl's dynamic batch size).

By count (budget 0): `count` runs of consecutive rows of equal size, the trainer's --grad-accum.

By token budget: a micro-batch holds sequences whose packed row (rlev_fast/packing.py) has at most
`budget` tokens. The units are those of the packed row: a prompt with the completions that share it
(or one sequence when prompts are not shared); a unit beyond the budget is cut into runs of its
completions, each paying for the prompt again. Units go into micro-batches first-fit decreasing;
then, while there are fewer than `count` micro-batches, the fullest one that holds two units or
more is halved, or else the largest shared group is cut in two runs. `count` is at least the first-fit number on every process: under DDP / FSDP2 each
process must run the same number of forward / backward passes (a collective per pass), so the
trainer agrees on the largest count over processes (`needed_micro_batches`, then an all-reduce max)
before it plans. A process with too few units for that count runs empty micro-batches (the trainer
keeps them in step with zero loss).

A sequence that alone exceeds the budget is an error (TokenBudgetError) naming its length and the
budget: a budget is a memory bound, and a micro-batch of its own would break it anyway.

Token counts do not change the loss: the trainer divides by the mini-batch's global token and
sequence counts (rlev_fast/trainer/update.py), whatever the split.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

from .packing import packed_tokens, sequence_groups


class TokenBudgetError(ValueError):
    """A sequence longer than --max-tokens-per-micro-batch."""


def check_token_budget(budget: int, prompt_lens: Sequence[int], max_new_tokens: int) -> None:
    """At startup: the longest prompt with a response of max_new_tokens must fit the budget (the same
    TokenBudgetError the update would raise at its first long response, before any step is spent)."""
    if budget <= 0 or not prompt_lens:
        return
    longest = max(prompt_lens)
    need = packed_tokens(longest, [max_new_tokens])
    if need > budget:
        raise TokenBudgetError(
            f"--max-tokens-per-micro-batch {budget} is less than the {need} tokens of the longest prompt ({longest} "
            f"tokens) with a response of --max-new-tokens {max_new_tokens} (the last response token is not an "
            f"input); raise it to at least {need}, or lower --max-new-tokens")


def budget_units(rows: Sequence[int], prompt_lens: Sequence[int], response_lens: Sequence[int], group_size: int,
                 share: bool, budget: int) -> List[Tuple[int, List[int]]]:
    """[(tokens, rows)]: the packed units of `rows`, each within the budget."""
    units = []
    for unit in sequence_groups(rows, group_size, share):
        p = prompt_lens[unit[0]]
        run: List[int] = []
        for r in unit:
            alone = packed_tokens(p, [response_lens[r]])
            if alone > budget:
                raise TokenBudgetError(
                    f"sequence {r} takes {alone} tokens in a packed micro-batch ({p} prompt + {response_lens[r]} "
                    f"response tokens, the last one not an input), more than --max-tokens-per-micro-batch {budget}; "
                    f"raise it to at least {alone}")
            if run and packed_tokens(p, [response_lens[x] for x in run + [r]]) > budget:
                units.append(run)
                run = []
            run.append(r)
        units.append(run)
    return [(packed_tokens(prompt_lens[u[0]], [response_lens[r] for r in u]), u) for u in units]


def first_fit_decreasing(units: List[Tuple[int, List[int]]], budget: int) -> List[List[Tuple[int, List[int]]]]:
    """Bins of units, each at most `budget` tokens; units sorted by size (ties: first row first)."""
    bins: List[List[Tuple[int, List[int]]]] = []
    loads: List[int] = []
    for cost, unit in sorted(units, key=lambda u: (-u[0], u[1][0])):
        for i, load in enumerate(loads):
            if load + cost <= budget:
                bins[i].append((cost, unit))
                loads[i] += cost
                break
        else:
            bins.append([(cost, unit)])
            loads.append(cost)
    return bins


def _half(units: List[Tuple[int, List[int]]]) -> int:
    """Where to cut a list of (tokens, rows) in two of about equal tokens (both non-empty)."""
    half, acc = sum(c for c, _ in units) / 2, 0
    for j, (c, _) in enumerate(units[:-1]):
        acc += c
        if acc >= half:
            return j + 1
    return len(units) - 1


def needed_micro_batches(rows: Sequence[int], prompt_lens: Sequence[int], response_lens: Sequence[int],
                         group_size: int, share: bool, budget: int, count: int) -> int:
    """The fewest micro-batches this process needs: `count`, or more when the budget needs them."""
    if budget <= 0 or not rows:
        return max(count, 1)
    units = budget_units(rows, prompt_lens, response_lens, group_size, share, budget)
    return max(count, len(first_fit_decreasing(units, budget)), 1)


def plan_micro_batches(rows: Sequence[int], prompt_lens: Sequence[int], response_lens: Sequence[int],
                       group_size: int, share: bool, budget: int, count: int) -> List[List[int]]:
    """Exactly `count` micro-batches of `rows` (see the module docstring); each keeps the rows' order.
    count must be at least `needed_micro_batches`."""
    rows = list(rows)
    if budget <= 0:
        size = len(rows) // count
        if size * count != len(rows):
            raise ValueError(f"{len(rows)} rows do not split into {count} micro-batches of equal size")
        return [rows[i * size : (i + 1) * size] for i in range(count)]
    bins = first_fit_decreasing(budget_units(rows, prompt_lens, response_lens, group_size, share, budget), budget)
    if len(bins) > count:
        raise ValueError(f"the token budget needs {len(bins)} micro-batches, more than the {count} planned")
    def load(j):
        return sum(c for c, _ in bins[j]), -j

    while len(bins) < count:
        several = [i for i, b in enumerate(bins) if len(b) > 1]
        if several:  # halve the fullest micro-batch of several units
            i = max(several, key=load)
            units = sorted(bins[i], key=lambda u: u[1][0])
            bins[i:i + 1] = [units[:_half(units)], units[_half(units):]]
            continue
        groups = [i for i, b in enumerate(bins) if b and len(b[0][1]) > 1]
        if not groups:
            bins.append([])  # fewer sequences than micro-batches: an empty one (zero loss, same collectives)
            continue
        # one unit per micro-batch: cut the largest shared group in two runs, each paying for its prompt
        i = max(groups, key=load)
        unit = bins[i][0][1]
        costs = [(response_lens[r], [r]) for r in unit]
        runs = unit[:_half(costs)], unit[_half(costs):]
        bins[i:i + 1] = [[(packed_tokens(prompt_lens[run[0]], [response_lens[r] for r in run]), list(run))]
                         for run in runs]
    order = {r: i for i, r in enumerate(rows)}
    plans = [sorted((r for _, u in b for r in u), key=order.__getitem__) for b in bins]
    return sorted(plans, key=lambda p: order[p[0]] if p else len(rows))
