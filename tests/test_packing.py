"""pack_rows: the packed row of a RolloutBatch (no padding, positions restarting per sequence, each
prompt once when shared) and the hidden-state positions that predict the response tokens."""
import pytest
import torch

from rlev_fast.packing import pack_rows, packed_tokens, prompt_lengths, sequence_groups
from rlev_fast.rollout import RolloutBatch


def make_batch(prompts, responses, group_size, pad=0):
    """A RolloutBatch with left-padded prompts and right-padded responses (token ids >= 10)."""
    P = max(len(p) for p in prompts)
    R = max(1, max(len(r) for r in responses))
    S = len(prompts)
    ids = torch.full((S, P + R), pad, dtype=torch.long)
    am = torch.zeros(S, P + R, dtype=torch.long)
    rm = torch.zeros(S, R)
    for i, (p, r) in enumerate(zip(prompts, responses)):
        ids[i, P - len(p) : P] = torch.tensor(p)
        am[i, P - len(p) : P] = 1
        if r:
            ids[i, P : P + len(r)] = torch.tensor(r)
            am[i, P : P + len(r)] = 1
            rm[i, : len(r)] = 1
    return RolloutBatch(ids, am, rm, torch.tensor([len(r) for r in responses]), torch.ones(S, dtype=torch.bool),
                        [""] * S, P, group_size)


# Two prompts x 3 completions: lengths 4, 1 (one token), 0 (empty) and 2, 5, 3.
PROMPTS = [[11, 12, 13]] * 3 + [[21, 22, 23, 24, 25]] * 3
RESPONSES = [[31, 32, 33, 34], [41], [], [51, 52], [61, 62, 63, 64, 65], [71, 72, 73]]


def test_unshared_row_is_each_sequence_without_padding():
    b = make_batch(PROMPTS, RESPONSES, 3)
    pk = pack_rows(b, range(6), share=False)
    assert pk.rows == [0, 1, 3, 4, 5]  # the empty response takes no place
    assert pk.input_ids[0].tolist() == [11, 12, 13, 31, 32, 33, 11, 12, 13, 21, 22, 23, 24, 25, 51,
                                        21, 22, 23, 24, 25, 61, 62, 63, 64, 21, 22, 23, 24, 25, 71, 72]
    assert pk.position_ids[0].tolist() == [*range(6), *range(3), *range(6), *range(9), *range(7)]
    assert pk.varlen.q_lens == pk.varlen.k_lens == [6, 3, 6, 9, 7] and pk.varlen.kv_index is None
    assert pk.varlen.cu_q.tolist() == [0, 6, 9, 15, 24, 31] and pk.varlen.cu_q.dtype == torch.int32
    # each response token is predicted by the token before it: the prompt's last token, then the response
    assert pk.input_ids[0, pk.out_index].tolist() == [13, 31, 32, 33, 13, 25, 51, 25, 61, 62, 63, 64, 25, 71, 72]
    assert pk.targets.tolist() == [31, 32, 33, 34, 41, 51, 52, 61, 62, 63, 64, 65, 71, 72, 73]
    assert pk.seq_ids.tolist() == [0] * 4 + [1] + [2] * 2 + [3] * 5 + [4] * 3
    assert pk.cols.tolist() == [0, 1, 2, 3, 0, 0, 1, 0, 1, 2, 3, 4, 0, 1, 2]
    assert pk.num_tokens == packed_tokens(3, [4]) + packed_tokens(3, [1]) + sum(packed_tokens(5, [L]) for L in (2, 5, 3))


def test_shared_row_holds_each_prompt_once():
    b = make_batch(PROMPTS, RESPONSES, 3)
    pk = pack_rows(b, range(6), share=True)
    assert pk.input_ids[0].tolist() == [11, 12, 13, 31, 32, 33, 21, 22, 23, 24, 25, 51, 61, 62, 63, 64, 71, 72]
    assert pk.position_ids[0].tolist() == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 5, 6, 7, 8, 5, 6]
    # documents: prompt 1, its completion of 4 (the one-token completion has no input token), prompt 2, ...
    assert pk.varlen.q_lens == [3, 3, 5, 1, 4, 2] and pk.varlen.k_lens == [3, 6, 5, 6, 9, 7]
    assert pk.varlen.kv_index.tolist() == [0, 1, 2, 0, 1, 2, 3, 4, 5, *range(6, 11), *range(6, 11), 11,
                                           *range(6, 11), 12, 13, 14, 15, *range(6, 11), 16, 17]
    assert pk.input_ids[0, pk.out_index].tolist() == [13, 31, 32, 33, 13, 25, 51, 25, 61, 62, 63, 64, 25, 71, 72]
    assert pk.targets.tolist() == [31, 32, 33, 34, 41, 51, 52, 61, 62, 63, 64, 65, 71, 72, 73]
    assert pk.num_tokens == packed_tokens(3, [4, 1, 0]) + packed_tokens(5, [2, 5, 3]) == 18


def test_a_single_completion_of_a_group_is_an_ordinary_document():
    b = make_batch(PROMPTS, RESPONSES, 3)
    pk = pack_rows(b, [4], share=True)
    assert pk.varlen.kv_index is None and pk.varlen.q_lens == [9] and pk.num_targets == 5
    assert sequence_groups([0, 1, 4], 3, True) == [[0, 1], [4]]
    assert sequence_groups([0, 1, 4], 3, False) == [[0], [1], [4]]


def test_micro_batch_without_response_tokens_is_one_untrained_token():
    b = make_batch(PROMPTS, RESPONSES, 3)
    for rows in ([], [2]):
        pk = pack_rows(b, rows, share=True)
        assert pk.num_tokens == 1 and pk.num_targets == 0 and pk.rows == []


def test_prompt_lengths_and_empty_prompts():
    b = make_batch(PROMPTS, RESPONSES, 3)
    assert prompt_lengths(b) == [3, 3, 3, 5, 5, 5]
    b.attention_mask[0, : b.prompt_width] = 0
    with pytest.raises(ValueError, match="row 0 has an empty prompt"):
        pack_rows(b, [0], share=False)


@pytest.mark.parametrize("share", [False, True])
def test_packed_tokens_is_the_length_of_the_packed_row(share):
    g = torch.Generator().manual_seed(0)
    prompts, responses = [], []
    for grp in range(5):
        p = torch.randint(10, 99, (int(torch.randint(1, 9, (1,), generator=g)),), generator=g).tolist()
        for _ in range(4):
            prompts.append(p)
            responses.append(torch.randint(10, 99, (int(torch.randint(0, 7, (1,), generator=g)),), generator=g).tolist())
    b = make_batch(prompts, responses, 4)
    rows = [0, 1, 2, 5, 9, 10, 11, 12, 17]
    pk = pack_rows(b, rows, share)
    plens, lens = prompt_lengths(b), b.response_lengths.tolist()
    want = sum(packed_tokens(plens[u[0]], [lens[r] for r in u]) for u in sequence_groups(rows, 4, share))
    assert pk.num_tokens == want and pk.num_targets == sum(lens[r] for r in rows)
