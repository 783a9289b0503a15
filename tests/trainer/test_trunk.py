"""PolicyTrunk: the shared prompt and length-bucket segments give the plain forward's hidden states
and gradients."""
import torch

from rlev_fast.trainer.trunk import PolicyTrunk, bucket_segments, share_index


def test_shared_prompt_forward_matches_the_full_forward(model_dir):
    """PolicyTrunk with share=(rep, inv) runs each prompt once; hidden states and gradients equal
    those of the plain forward over (prompt + response) rows."""
    from rlev_fast.policy import load_policy
    from rlev_fast.rollout import assemble_batch, encode_prompts

    model, tok = load_policy(model_dir)
    model.train()
    trunk = PolicyTrunk(model)
    ids, mask = encode_prompts(tok, ["Q (1 of 9 points): 1+2 = ?", "Q (3 of 9 points): 12+2-5 = ?"], "cpu")
    ids, mask = ids.repeat_interleave(3, 0), mask.repeat_interleave(3, 0)
    g = torch.Generator().manual_seed(1)
    resp = [torch.randint(5, len(tok), (int(torch.randint(1, 7, (1,), generator=g)),), generator=g).tolist() + [1]
            for _ in range(6)]
    b = assemble_batch(ids, mask, resp, tok.eos_token_id, tok.pad_token_id, tok, 3)
    rows = [0, 2, 3, 4, 5]  # a partial group and a full one
    mb = b.select(rows)
    share = share_index(rows, 3)
    assert share is not None and share[0].tolist() == [0, 2] and share[1].tolist() == [0, 0, 1, 1, 1]
    outs = []
    for sh in (None, share):
        model.zero_grad()
        h, W = trunk(mb.input_ids, mb.attention_mask, mb.prompt_width, sh)
        mk = mb.response_mask
        ((h * mk[..., None]).pow(2).sum() + ((h @ W.t()).logsumexp(-1) * mk).sum()).backward()
        outs.append((h.detach(), {k: p.grad.clone() for k, p in model.named_parameters()}))
    m = mb.response_mask.bool()
    torch.testing.assert_close(outs[1][0][m], outs[0][0][m], rtol=1e-4, atol=1e-5)
    for k, grad in outs[0][1].items():
        torch.testing.assert_close(outs[1][1][k], grad, rtol=1e-3, atol=1e-5, msg=k)
    assert share_index([0, 3], 3) is None


def test_segments_with_a_shared_prompt_match_the_full_forward(model_dir):
    """One trunk call with length-bucket segments (one of width 1, so no response forward) and the
    shared prompt: every segment's hidden states and the summed gradients equal the plain forward's."""
    from rlev_fast.policy import load_policy
    from rlev_fast.rollout import assemble_batch, encode_prompts

    model, tok = load_policy(model_dir)
    # float64, except that HF's LlamaRMSNorm computes in float32 whatever the model dtype: the paths sum
    # the prompt's gradient over its rows before or after that norm, so they agree to float32
    # rounding (measured: 1.3e-4 on a gradient entry of 22.5, relative 6e-6), not to float64's.
    model.double().train()
    trunk = PolicyTrunk(model)
    ids, mask = encode_prompts(tok, ["Q (1 of 9 points): 1+2 = ?", "Q (3 of 9 points): 12+2-5 = ?",
                                     "Q (2 of 9 points): 7*3 = ?"], "cpu")
    ids, mask = ids.repeat_interleave(3, 0), mask.repeat_interleave(3, 0)
    g = torch.Generator().manual_seed(3)
    resp = [torch.randint(5, len(tok), (int(torch.randint(0, 9, (1,), generator=g)),), generator=g).tolist() + [1]
            for _ in range(9)]
    b = assemble_batch(ids, mask, resp, tok.eos_token_id, tok.pad_token_id, tok, 3)
    lengths = b.response_lengths.tolist()
    groups = [[r for r in range(9) if lo <= lengths[r] <= hi] for lo, hi in ((1, 1), (2, 5), (6, 99))]
    assert all(groups), lengths
    order, segments = bucket_segments(groups, lengths)
    assert segments[0][2] == 1 and sorted(order) == list(range(9))
    mb = b.select(order)

    def run(share, segs):
        model.zero_grad()
        hs, W = trunk(mb.input_ids, mb.attention_mask, mb.prompt_width, share, segs)
        hs = hs if segs is not None else [hs[a:z, :w] for a, z, w in segments]
        loss = 0.0
        for (a, z, w), h in zip(segments, hs):
            mk = mb.response_mask[a:z, :w]
            loss = loss + (h * mk[..., None]).pow(2).sum() + ((h @ W.t()).logsumexp(-1) * mk).sum()
        loss.backward()
        return [h.detach() for h in hs], {k: p.grad.clone() for k, p in model.named_parameters()}

    full_h, full_g = run(None, None)
    for share in (None, share_index(order, 3)):
        hs, grads = run(share, segments)
        for (a, z, w), h, ref in zip(segments, hs, full_h):
            assert h.shape == (z - a, w, ref.shape[-1])
            m = mb.response_mask[a:z, :w].bool()
            torch.testing.assert_close(h[m], ref[m], rtol=1e-6, atol=1e-6)
        for k, grad in full_g.items():
            torch.testing.assert_close(grads[k], grad, rtol=1e-5, atol=1e-5, msg=lambda m, k=k: f"{k}: {m}")
