"""Packed micro-batches against the padded forward, on a float64 tiny Llama (the shipped policy's
architecture, built from a transformers config): the same loss and gradients for odd response
lengths, one-token and empty responses and a micro-batch of one sequence; rl_update's weights after
its updates equal those of one big padded micro-batch whatever the token budget's split, for every
loss aggregation; a sequence beyond the budget and a model that cannot take a packed row."""
import contextlib
import copy

import pytest
import torch

import rlev_fast.distributed as D
from rlev_fast.loss import PolicyLossConfig, policy_loss
from rlev_fast.micro_batches import TokenBudgetError
from rlev_fast.trainer import AlgoConfig, OptimConfig, TrainConfig, rl_update
from rlev_fast.trainer.runtime import make_scheduler
from rlev_fast.trainer.trunk import PolicyTrunk, forward_pieces
from rlev_fast.varlen_attention import PackingUnsupported

PROMPTS = ["Q (1 of 9 points): 1+2 = ?", "Q (3 of 9 points): 12+2-5 = ?", "Q (2 of 9 points): 7*3 = ?"]
# 3 prompts x 3 completions: odd lengths, one-token responses, an empty one
LENGTHS = [1, 9, 4, 0, 13, 1, 6, 2, 11]


@pytest.fixture(autouse=True)
def float64_rms_norm(monkeypatch):
    """HF's LlamaRMSNorm normalizes in float32 whatever the model's dtype, and its backward casts the
    gradient to float32 there: a shared prompt (its gradient summed over the completions before the
    norm, not after) then agrees with separate prompts only to float32 rounding (measured: 7.7e-8
    relative on a k_proj gradient). Normalizing in the input's dtype makes the model float64 end to
    end, so the comparisons below hold to float64 rounding."""
    from transformers.models.llama import modeling_llama

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon))

    monkeypatch.setattr(modeling_llama.LlamaRMSNorm, "forward", forward)


def tiny_model64(seed=0):
    from rlev_fast.policy import build_tiny_model, build_tokenizer

    tok = build_tokenizer()
    model = build_tiny_model(len(tok), hidden_size=48, num_layers=2, num_heads=4, intermediate_size=96,
                             pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                             bos_token_id=tok.bos_token_id, seed=seed)
    return model.double().train(), tok


def fixed_batch(tok, seed=0):
    from rlev_fast.rollout import assemble_batch, encode_prompts

    ids, mask = encode_prompts(tok, PROMPTS, "cpu")
    ids, mask = ids.repeat_interleave(3, 0), mask.repeat_interleave(3, 0)
    g = torch.Generator().manual_seed(seed)
    resp = [torch.randint(5, len(tok), (L,), generator=g).tolist() for L in LENGTHS]
    batch = assemble_batch(ids, mask, resp, None, tok.pad_token_id, tok, 3)
    return batch, torch.randn(len(LENGTHS), generator=g, dtype=torch.float64)


def _loss_and_grads(trunk, model, batch, adv, rows, share, cfg):
    model.zero_grad(set_to_none=True)
    pieces, W = forward_pieces(trunk, batch, rows, share)
    num_tokens = float(batch.response_mask[rows].sum())
    loss = 0.0
    for pc in pieces:
        if pc.mask.sum() == 0:
            continue
        out = policy_loss(pc.hidden, W, pc.targets, adv[pc.rows], pc.mask, seq_ids=pc.seq_ids,
                          num_tokens=num_tokens, config=cfg, backend="chunked")
        loss = loss + out.loss
    loss.backward()
    return float(loss.detach()), {k: p.grad.clone() for k, p in model.named_parameters()}


@pytest.mark.parametrize("share", [False, True])
@pytest.mark.parametrize("rows", [list(range(9)), [4], [1], [0, 3, 5, 8]], ids=["all", "one", "one-token", "mixed"])
def test_packed_loss_and_gradients_equal_the_padded_forward(share, rows):
    model, tok = tiny_model64()
    batch, adv = fixed_batch(tok)
    cfg = PolicyLossConfig(eos_token_id=tok.eos_token_id)
    packed, padded = PolicyTrunk(model), PolicyTrunk(model, packing="off")
    assert packed.packed and not padded.packed
    got_loss, got = _loss_and_grads(packed, model, batch, adv, rows, share, cfg)
    want_loss, want = _loss_and_grads(padded, model, batch, adv, rows, share, cfg)
    assert got_loss == pytest.approx(want_loss, rel=1e-12, abs=1e-14)
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-9, atol=1e-12, msg=lambda m, k=k: f"{k}: {m}")


def _update(model, batch, adv, *, packing, budget, share, grad_accum=1, loss_agg="token-mean", ppo_epochs=2,
            kl_coef=0.0, norm_constant=None):
    from rlev_fast.rollout import RolloutConfig

    cfg = TrainConfig(
        rollout=RolloutConfig(n=3),
        algo=AlgoConfig(prompts_per_step=3, ppo_epochs=ppo_epochs, grad_accum=grad_accum, packing=packing,
                        max_tokens_per_micro_batch=budget, share_prompt=share, length_buckets=1,
                        loss_backend="chunked"),
        loss=PolicyLossConfig(loss_agg=loss_agg, kl_coef=kl_coef, norm_constant=norm_constant, compute_entropy=True),
        optim=OptimConfig(lr=1e-2, grad_clip=0.0),
    )
    model = copy.deepcopy(model)
    trunk = PolicyTrunk(model, packing)
    ref = PolicyTrunk(copy.deepcopy(model).eval().requires_grad_(False), packing) if kl_coef else None
    opt = torch.optim.AdamW(trunk.parameters(), lr=1e-2)
    upd = rl_update(trunk, batch, adv, opt, make_scheduler(opt, cfg.optim, 2), cfg, D.DistInfo(), ref,
                    contextlib.nullcontext)
    return upd, model.state_dict()


@pytest.mark.slow
@pytest.mark.parametrize("loss_agg,kl", [("token-mean", 0.0), ("token-mean", 0.05), ("seq-mean-token-sum", 0.0),
                                         ("seq-mean-token-mean", 0.0), ("seq-mean-token-sum-norm", 0.0)])
def test_rl_update_packed_in_a_token_budget_equals_one_padded_micro_batch(loss_agg, kl):
    """2 PPO epochs (old log-probs recomputed), micro-batches of different token counts (a budget of
    40 tokens: 5 micro-batches here), shared prompts: the same losses and weights as one padded
    micro-batch of the whole batch; the per-sequence aggregations included (their sequence count is
    the mini-batch's, not the micro-batch's)."""
    model, tok = tiny_model64()
    batch, adv = fixed_batch(tok)
    ref, ref_state = _update(model, batch, adv, packing="off", budget=0, share=False, loss_agg=loss_agg, kl_coef=kl)
    got, state = _update(model, batch, adv, packing="auto", budget=40, share=True, loss_agg=loss_agg, kl_coef=kl)
    assert got["losses"] == pytest.approx(ref["losses"], rel=1e-10, abs=1e-13)
    assert got["entropy"] == pytest.approx(ref["entropy"], rel=1e-6)  # a float32 statistic, averaged per call
    for k in ref_state:
        torch.testing.assert_close(state[k], ref_state[k], rtol=1e-9, atol=1e-12, msg=lambda m, k=k: f"{k}: {m}")
    for a, b in zip(got["eos"], ref["eos"]):
        assert (a is None) == (b is None)
        if a is not None:
            assert a["p_mean"] == pytest.approx(b["p_mean"], rel=1e-9)
            assert a["grad_mean"] == pytest.approx(b["grad_mean"], rel=1e-6, abs=1e-15)  # float32 eos_grad


def test_micro_batches_without_tokens_keep_the_update_exact():
    """--grad-accum 9 on 9 sequences: every sequence its own micro-batch (the shared groups cut into
    runs), the empty response's one with no token to train (it runs with zero loss, as a process
    must where the others have work): still the one-batch update."""
    model, tok = tiny_model64()
    batch, adv = fixed_batch(tok)
    ref, ref_state = _update(model, batch, adv, packing="off", budget=0, share=False, ppo_epochs=1)
    got, state = _update(model, batch, adv, packing="auto", budget=40, share=True, grad_accum=9, ppo_epochs=1)
    assert got["losses"] == pytest.approx(ref["losses"], rel=1e-10)
    for k in ref_state:
        torch.testing.assert_close(state[k], ref_state[k], rtol=1e-9, atol=1e-12)


def test_micro_batches_of_the_budget_differ_in_token_count():
    """The budget split of the test above is real: several micro-batches, of different sizes."""
    from rlev_fast.micro_batches import needed_micro_batches, plan_micro_batches
    from rlev_fast.packing import packed_tokens, prompt_lengths, sequence_groups

    _, tok = tiny_model64()
    batch, _ = fixed_batch(tok)
    plens, lens = prompt_lengths(batch), batch.response_lengths.tolist()
    k = needed_micro_batches(range(9), plens, lens, 3, True, 40, 1)
    plan = plan_micro_batches(range(9), plens, lens, 3, True, 40, k)
    sizes = [sum(packed_tokens(plens[u[0]], [lens[r] for r in u]) for u in sequence_groups(mb, 3, True)) for mb in plan]
    assert k >= 3 and len(set(sizes)) > 1 and max(sizes) <= 40


def test_a_sequence_beyond_the_token_budget_is_a_clear_error():
    model, tok = tiny_model64()
    batch, adv = fixed_batch(tok)
    with pytest.raises(TokenBudgetError, match=r"sequence 4 takes \d+ tokens .*13 response tokens.*"
                                               r"--max-tokens-per-micro-batch 20; raise it to at least \d+"):
        _update(model, batch, adv, packing="auto", budget=20, share=True)


def test_a_model_that_cannot_take_a_packed_row_trains_padded():
    """--packing auto falls back to padded micro-batches (the note says why) and trains the same update;
    --packing on refuses the model."""
    from transformers.models.llama import modeling_llama

    class Unaware(modeling_llama.LlamaAttention):
        def forward(self, hidden_states, position_embeddings=None, attention_mask=None, cache=None, **kwargs):
            kwargs.pop("rlev_varlen", None)
            return super().forward(hidden_states, position_embeddings, attention_mask, cache, **kwargs)

    model, tok = tiny_model64()
    batch, adv = fixed_batch(tok)
    ref, ref_state = _update(model, batch, adv, packing="off", budget=0, share=False, ppo_epochs=1)
    for layer in model.model.layers:
        layer.self_attn.__class__ = Unaware
    trunk = PolicyTrunk(model)
    assert not trunk.packed and "padded micro-batches: packing is off for this model" in trunk.packing_note
    assert "mixes the packed documents" in trunk.packing_note
    with pytest.raises(PackingUnsupported, match="--packing on: .*use --packing auto"):
        PolicyTrunk(model, packing="on")
    got, state = _update(model, batch, adv, packing="auto", budget=40, share=True, ppo_epochs=1)
    assert got["losses"] == pytest.approx(ref["losses"], rel=1e-10)
    for k in ref_state:
        torch.testing.assert_close(state[k], ref_state[k], rtol=1e-9, atol=1e-12)
