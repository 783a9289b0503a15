"""rl_update: gradient accumulation, packing, prompt sharing and length buckets leave the update unchanged."""
import pytest
import torch

from rlev_fast.trainer import trunk as trunk_mod


def test_gradient_accumulation_uses_the_global_token_count(fixed_update):
    a, sa = fixed_update(1)
    b, sb = fixed_update(4)
    assert b["loss"] == pytest.approx(a["loss"], rel=1e-5, abs=1e-7)
    assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-4)
    for k in sa:
        torch.testing.assert_close(sb[k], sa[k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("packing,share_prompt,buckets", [("off", False, 4), ("off", True, 4), ("auto", False, 1),
                                                          ("auto", True, 1)])
def test_update_is_the_same_packed_padded_with_or_without_prompt_sharing_and_buckets(two_prompt_update, monkeypatch,
                                                                                    packing, share_prompt, buckets):
    """rl_update's parameters after its updates do not depend on how the micro-batch is run: packed (with
    or without the shared prompt), or padded and cut into length buckets (with or without it)."""
    monkeypatch.setattr(trunk_mod, "BUCKET_OVERHEAD_TOKENS", 0)  # 8 short rows: cut them into real buckets

    def update(share, nb, mode):
        upd, state, batch = two_prompt_update(share, nb, packing=mode)
        assert len(trunk_mod.length_buckets(list(range(8)), batch.response_lengths.tolist(), nb)) == min(nb, 4)
        return upd, state

    ref, ref_state = update(False, 1, "off")
    got, state = update(share_prompt, buckets, packing)
    assert got["losses"] == pytest.approx(ref["losses"], rel=1e-5, abs=1e-7)
    assert got["grad_norm"] == pytest.approx(ref["grad_norm"], rel=1e-4)
    for k in ref_state:
        torch.testing.assert_close(state[k], ref_state[k], rtol=1e-5, atol=1e-6, msg=k)
