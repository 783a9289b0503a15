"""Rollout importance sampling (--rollout-is) and the sampler / trainer log-prob gap, against formulas
written out in float64 on a fixed batch with given sampler log-probs."""
import contextlib
import copy
import math

import pytest
import torch

import rlev_fast.distributed as D
from rlev_fast.loss import PolicyLossConfig, policy_loss
from rlev_fast.trainer import AlgoConfig, TrainConfig, rl_update
from rlev_fast.trainer.config import OptimConfig
from rlev_fast.trainer.trunk import PolicyTrunk
from rlev_fast.trainer.update import rollout_is_weights

CAP = 1.5


def _batch(model_dir):
    """A fixed 2-prompt x 4 batch of random responses (1 to 8 tokens), the model, and the float64
    trainer log-probs of every response token (S, R)."""
    from rlev_fast.policy import load_policy
    from rlev_fast.rollout import assemble_batch, encode_prompts

    torch.manual_seed(0)
    model, tok = load_policy(model_dir, "cpu", torch.float32)
    ids, mask = encode_prompts(tok, ["Q (1 of 9 points): 1+2 = ?", "Q (3 of 9 points): 12+2-5 = ?"], "cpu")
    ids, mask = ids.repeat_interleave(4, 0), mask.repeat_interleave(4, 0)
    g = torch.Generator().manual_seed(3)
    resp = [torch.randint(5, len(tok), (int(torch.randint(1, 9, (1,), generator=g)),), generator=g).tolist()
            for _ in range(8)]
    base = assemble_batch(ids, mask, resp, tok.eos_token_id, tok.pad_token_id, tok, 4)
    lp64 = _trainer_logprobs64(model, base)
    # the sampler's log-probs: the trainer's plus a fixed perturbation (|delta| up to 0.6), so that some
    # token weights exceed the cap and some sequence weights do
    delta = (torch.rand(lp64.shape, generator=g, dtype=torch.float64) - 0.5) * 1.2
    sampler = [[float(lp64[i, t] + delta[i, t]) for t in range(len(r))] for i, r in enumerate(resp)]
    batch = assemble_batch(ids, mask, resp, tok.eos_token_id, tok.pad_token_id, tok, 4, logprobs=sampler)
    adv = torch.randn(8, generator=g)
    return model, batch, lp64, adv


def _trainer_logprobs64(model, batch):
    """log softmax(logits)[y] of each response token, by the HF forward in float64 (S, R)."""
    m = copy.deepcopy(model).double().eval()
    P = batch.prompt_width
    with torch.no_grad():
        logits = m(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits[:, P - 1 : -1]
    lp = logits.log_softmax(-1).gather(-1, batch.input_ids[:, P:, None]).squeeze(-1)
    return lp * batch.response_mask.double()


def _hand_weights(lp64, batch, level, cap):
    """w (S, R) by the written-out formula, python floats in float64 (1 off the mask)."""
    S, R = lp64.shape
    slp = batch.sampler_logprobs.double()
    w = torch.ones(S, R, dtype=torch.float64)
    for i in range(S):
        L = int(batch.response_lengths[i])
        d = [float(lp64[i, t] - slp[i, t]) for t in range(L)]
        for t in range(L):
            x = d[t] if level == "token" else sum(d)
            w[i, t] = min(math.exp(max(min(x, 20.0), -20.0)), cap)
    return w


class _Capture:
    """An optimizer stand-in: keeps the gradient of every parameter at step() and changes nothing."""

    def __init__(self, params):
        self.params = list(params)
        self.grads = None

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            p.grad = None

    def step(self):
        self.grads = [None if p.grad is None else p.grad.detach().double().clone() for p in self.params]


class _NoSchedule:
    def step(self):
        pass


def _update_grads(model, batch, adv, level):
    cfg = TrainConfig(algo=AlgoConfig(prompts_per_step=2, rollout_is=level, rollout_is_cap=CAP, loss_backend="reference"),
                      loss=PolicyLossConfig(), optim=OptimConfig(grad_clip=0.0))
    cfg.rollout.n = 4
    trunk = PolicyTrunk(model)
    opt = _Capture(trunk.parameters())
    upd = rl_update(trunk, batch, adv, opt, _NoSchedule(), cfg, D.DistInfo(), autocast=contextlib.nullcontext)
    return upd, opt.grads


def _hand_loss_and_grads(model, batch, adv, w):
    """On-policy (ratio 1): loss = sum_t w_t (-A_seq exp(logp_t - sg(logp_t))) / N over response tokens,
    its value -sum_t w_t A_seq / N and its gradient, in float64."""
    m = copy.deepcopy(model).double().train()
    P = batch.prompt_width
    logits = m(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits[:, P - 1 : -1]
    lp = logits.log_softmax(-1).gather(-1, batch.input_ids[:, P:, None]).squeeze(-1)  # (S, R)
    mask = batch.response_mask.double()
    N = float(mask.sum())
    ratio = torch.exp(lp - lp.detach())
    loss = (w * (-adv.double()[:, None] * ratio) * mask).sum() / N
    loss.backward()
    return float(loss.detach()), [p.grad.detach().clone() for p in m.parameters()]


@pytest.mark.parametrize("level", ["token", "sequence"])
def test_rollout_is_weights_match_the_formula(model_dir, level):
    model, batch, lp64, _ = _batch(model_dir)
    got = rollout_is_weights(lp64.float(), batch.sampler_logprobs, batch.response_mask, level, CAP)
    want = _hand_weights(lp64, batch, level, CAP)
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-6)
    m = batch.response_mask.bool()
    assert (want[m] == CAP).any() and (want[m] < CAP).any()  # the cap binds somewhere, not everywhere
    if level == "sequence":  # one weight per sequence
        for i in range(batch.num_sequences):
            L = int(batch.response_lengths[i])
            assert torch.all(want[i, :L] == want[i, 0])


@pytest.mark.parametrize("level", ["token", "sequence"])
def test_rollout_is_loss_and_gradient_match_float64(model_dir, level):
    """rl_update with --rollout-is: loss value and every parameter's gradient equal the float64 hand
    computation with the hand weights; the metrics report the sampler gap and the weights."""
    model, batch, lp64, adv = _batch(model_dir)
    upd, grads = _update_grads(model, batch, adv, level)
    w = _hand_weights(lp64, batch, level, CAP)
    loss64, grads64 = _hand_loss_and_grads(model, batch, adv, w)
    assert upd["loss"] == pytest.approx(loss64, rel=1e-5, abs=1e-6)
    for g, g64 in zip(grads, grads64):
        torch.testing.assert_close(g, g64, rtol=1e-4, atol=1e-6)
    m = batch.response_mask.bool()
    gap = (batch.sampler_logprobs.double() - lp64).abs()[m]
    assert upd["rollout_logprob_diff"] == pytest.approx(float(gap.mean()), rel=1e-4)
    assert upd["rollout_logprob_diff_max"] == pytest.approx(float(gap.max()), rel=1e-4)
    assert upd["rollout_is_mean"] == pytest.approx(float(w[m].mean()), rel=1e-5)
    raw = _hand_weights(lp64, batch, level, float("inf"))
    assert upd["rollout_is_capped_frac"] == pytest.approx(float((raw[m] > CAP).double().mean()))
    # and the correction changes the gradient (a no-op test would pass the above with w = 1)
    _, plain = _update_grads(model, batch, adv, "none")
    assert max(float((a - b).abs().max()) for a, b in zip(grads, plain)) > 1e-4


def test_off_by_default_uses_the_loss_pass_logprobs(model_dir):
    """--rollout-is none: the plain gradient (w = 1), and the gap from the loss pass's own log-probs
    (no extra forward) equals the float64 one."""
    model, batch, lp64, adv = _batch(model_dir)
    assert AlgoConfig().rollout_is == "none"
    upd, grads = _update_grads(model, batch, adv, "none")
    loss64, grads64 = _hand_loss_and_grads(model, batch, adv, torch.ones_like(lp64))
    assert upd["loss"] == pytest.approx(loss64, rel=1e-5, abs=1e-6)
    for g, g64 in zip(grads, grads64):
        torch.testing.assert_close(g, g64, rtol=1e-4, atol=1e-6)
    m = batch.response_mask.bool()
    gap = (batch.sampler_logprobs.double() - lp64).abs()[m]
    assert upd["rollout_logprob_diff"] == pytest.approx(float(gap.mean()), rel=1e-4)
    assert "rollout_is_mean" not in upd
    batch.sampler_logprobs = None  # a backend without sampler log-probs: no gap, and --rollout-is refuses
    upd, _ = _update_grads(model, batch, adv, "none")
    assert upd["rollout_logprob_diff"] is None
    from rlev_fast.trainer.runtime import TrainingError

    with pytest.raises(TrainingError, match="sampler's log-probs"):
        _update_grads(model, batch, adv, "token")


def test_token_advantages_carry_the_weight_through_the_clip():
    """Off-policy (ratio away from 1, some tokens clipped): policy_loss with token advantages A w equals
    sum_t w_t max(-A r_t, -A clip(r_t)) / N, the weighted clipped objective, in float64."""
    g = torch.Generator().manual_seed(0)
    T, H, V = 12, 8, 16
    h = torch.randn(T, H, generator=g, dtype=torch.float64, requires_grad=True)
    W = torch.randn(V, H, generator=g, dtype=torch.float64)
    y = torch.randint(0, V, (T,), generator=g)
    A = torch.randn(T, generator=g, dtype=torch.float64)
    w = torch.rand(T, generator=g, dtype=torch.float64) * 2 + 0.1
    with torch.no_grad():
        lp0 = (h @ W.T).log_softmax(-1).gather(-1, y[:, None]).squeeze(-1)
    old = lp0 + (torch.rand(T, generator=g, dtype=torch.float64) - 0.5)  # ratios in [0.6, 1.6]
    mask = torch.ones(T, dtype=torch.float64)
    out = policy_loss(h, W, y, A * w, mask, old_logprobs=old, config=PolicyLossConfig(), backend="reference")
    lp = (h @ W.T).log_softmax(-1).gather(-1, y[:, None]).squeeze(-1)
    r = torch.exp(lp - old)
    hand = (w * torch.maximum(-A * r, -A * r.clamp(0.8, 1.2))).sum() / T
    assert bool(((r < 0.8) | (r > 1.2)).any())
    torch.testing.assert_close(out.loss.double(), hand, rtol=1e-10, atol=1e-12)
    (gh,) = torch.autograd.grad(out.loss, h)
    (gh64,) = torch.autograd.grad(hand, h)
    torch.testing.assert_close(gh, gh64, rtol=1e-9, atol=1e-12)
