"""The reference backend of `policy_loss` (issue 2): every option on hand-checkable cases, gradients by
gradcheck, eos_grad against autograd, the input validation, and an independent float64
implementation written here from the formulas in loss.py's docstring (no call into loss.py), so
that the ground truth of every faster backend is itself checked.
"""
import math

import pytest
import torch

from rlev_fast.loss import PolicyLossConfig, policy_loss

LOG3 = math.log(3.0)


def ref(h, W, tgt, adv, mask, old=None, refl=None, seq_ids=None, num_tokens=None, **cfg):
    return policy_loss(h, W, tgt, adv, mask, old, refl, seq_ids=seq_ids, num_tokens=num_tokens,
                       config=PolicyLossConfig(**cfg), backend="reference")


# ----------------------------------------------------------------------------------------------
# An independent, straightforward float64 implementation (loops where it is clearer)
# ----------------------------------------------------------------------------------------------
def naive_loss(raw, tgt, adv_tok, mask, old, refl, sid, S, num_tokens=None, clip_low=0.2, clip_high=0.2,
               dual_clip=None, kl_coef=0.0, kl_estimator="k3", entropy_coef=0.0, loss_agg="token-mean",
               norm_constant=None, ratio_level="token", temperature=1.0):
    """raw: [N, V] float64 logits (may require grad). Returns (loss, logp, clipped, kl, entropy)."""
    N = raw.shape[0]
    z = raw / temperature
    lse = torch.logsumexp(z, dim=1)
    logp = torch.stack([z[i, tgt[i]] - lse[i] for i in range(N)])
    old_ = old if old is not None else logp.detach()
    if ratio_level == "sequence":
        seq_lr = torch.zeros(N, dtype=torch.float64)
        for s in range(S):
            idx = [i for i in range(N) if sid[i] == s and mask[i] > 0]
            if idx:
                mean = sum((logp[i] - old_[i]).item() for i in idx) / len(idx)
                for i in range(N):
                    if sid[i] == s:
                        seq_lr[i] = mean
        log_ratio = logp - logp.detach() + seq_lr.clamp(-20, 20)
    else:
        log_ratio = (logp - old_).clamp(-20, 20)
    ratio = log_ratio.exp()
    pgs, clipped = [], []
    for i in range(N):
        a = float(adv_tok[i])
        unclipped = -a * ratio[i]
        clipped_val = -a * ratio[i].clamp(1 - clip_low, 1 + clip_high)
        pg = torch.maximum(unclipped, clipped_val)
        c = bool(clipped_val > unclipped)
        if dual_clip is not None and a < 0:
            bound = torch.tensor(-a * dual_clip, dtype=torch.float64)
            if bound < pg:
                pg, c = bound + 0 * pg, True
        pgs.append(pg)
        clipped.append(c)
    pg = torch.stack(pgs)
    kl = None
    if refl is not None:
        d = logp - refl
        kl = {"k1": d, "k2": 0.5 * d ** 2, "k3": torch.exp(-d) - (-d) - 1.0}[kl_estimator]
        pg = pg + kl_coef * kl
    p = torch.softmax(z, dim=1)
    ent = -(p * torch.log(p)).sum(1)
    per_tok = pg - entropy_coef * ent
    m = mask.double()
    if loss_agg == "token-mean":
        w = m / (num_tokens if num_tokens is not None else max(m.sum().item(), 1.0))
    else:
        lens = [m[sid == s].sum().item() for s in range(S)]
        if loss_agg == "seq-mean-token-sum":
            w = m / S
        elif loss_agg == "seq-mean-token-mean":
            w = torch.stack([m[i] / (S * max(lens[sid[i]], 1.0)) for i in range(N)])
        else:
            w = m / (S * norm_constant)
    loss = (w * per_tok).sum()
    msum = max(m.sum().item(), 1.0)
    return (loss, logp.detach(), (torch.tensor(clipped, dtype=torch.float64) * m).sum() / msum,
            None if kl is None else (kl.detach() * m).sum() / msum, (ent.detach() * m).sum() / msum)


def random_case(N=23, H=6, V=17, S=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(N, H, generator=g, dtype=torch.float64)
    W = torch.randn(V, H, generator=g, dtype=torch.float64)
    tgt = torch.randint(0, V, (N,), generator=g)
    mask = (torch.rand(N, generator=g) > 0.25).double()
    sid = torch.sort(torch.randint(0, S, (N,), generator=g)).values
    sid[-1] = S - 1
    lp = torch.log_softmax(h @ W.t(), -1).gather(1, tgt[:, None]).squeeze(1)
    old = lp + 0.4 * torch.randn(N, generator=g, dtype=torch.float64)
    refl = lp + 0.5 * torch.randn(N, generator=g, dtype=torch.float64)
    adv = torch.randn(N, generator=g, dtype=torch.float64)
    return h, W, tgt, mask, sid, old, refl, adv


NAIVE_CONFIGS = [
    dict(),  # token-mean PPO
    dict(clip_high=0.28),
    dict(dual_clip=3.0, clip_low=0.1, clip_high=0.1),
    dict(kl_coef=0.1, kl_estimator="k1"),
    dict(kl_coef=0.1, kl_estimator="k2"),
    dict(kl_coef=0.1, kl_estimator="k3"),
    dict(entropy_coef=0.05),
    dict(temperature=0.6, entropy_coef=0.01),
    dict(loss_agg="seq-mean-token-sum"),
    dict(loss_agg="seq-mean-token-mean"),
    dict(loss_agg="seq-mean-token-sum-norm", norm_constant=10.0),
    dict(ratio_level="sequence", clip_low=0.05, clip_high=0.05),
]


@pytest.mark.parametrize("cfg", NAIVE_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "ppo")
def test_matches_independent_float64_implementation(cfg):
    h, W, tgt, mask, sid, old, refl, adv = random_case(seed=len(str(cfg)))
    S = int(sid.max()) + 1
    use_ref = cfg.get("kl_coef", 0) > 0
    hh, WW = h.clone().requires_grad_(True), W.clone().requires_grad_(True)
    out = ref(hh, WW, tgt, adv, mask, old, refl if use_ref else None, seq_ids=sid, compute_entropy=True, **cfg)
    out.loss.backward()
    h2, W2 = h.clone().requires_grad_(True), W.clone().requires_grad_(True)
    loss, logp, clip_frac, kl, ent = naive_loss(h2 @ W2.t(), tgt, adv, mask, old, refl if use_ref else None,
                                                sid, S, **cfg)
    loss.backward()
    torch.testing.assert_close(out.loss, loss, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(out.logprobs.double(), logp, rtol=1e-6, atol=1e-6)  # logprobs output is fp32
    torch.testing.assert_close(out.clip_frac.double(), clip_frac, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(out.entropy.double(), ent, rtol=1e-6, atol=1e-7)
    if use_ref:
        torch.testing.assert_close(out.kl.double(), kl, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(hh.grad, h2.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(WW.grad, W2.grad, rtol=1e-10, atol=1e-12)


def test_token_mean_ppo_fp32_against_independent_float64():
    h, W, tgt, mask, sid, old, refl, adv = random_case(N=64, H=16, V=101, seed=42)
    out = ref(h.float(), W.float(), tgt, adv.float(), mask, old.float())
    loss, logp, clip_frac, _, _ = naive_loss(h.float().double() @ W.float().double().t(), tgt, adv.float().double(),
                                             mask, old.float().double(), None, sid, 1)
    assert out.loss.dtype == torch.float32
    assert abs(out.loss.item() - loss.item()) < 1e-5
    assert (out.logprobs.double() - logp).abs().max() < 1e-4


# ----------------------------------------------------------------------------------------------
# Hand-checkable cases: W = I, so the hidden states are the logits
# ----------------------------------------------------------------------------------------------
def eye_case(logits, targets):
    h = torch.tensor(logits, dtype=torch.float64)
    W = torch.eye(h.shape[1], dtype=torch.float64)
    return h, W, torch.tensor(targets)


def test_hand_clip_low_high_dapo_and_dual_clip():
    # Uniform logits over 3 tokens: logp = -log 3 everywhere.
    h, W, tgt = eye_case([[0.0, 0.0, 0.0]] * 4, [0, 1, 2, 0])
    lp = -LOG3
    ratios = torch.tensor([1.5, 1.5, 0.5, 5.0], dtype=torch.float64)
    old = lp - torch.log(ratios)  # ratio = exp(logp - old)
    adv = torch.tensor([1.0, 1.0, -1.0, -1.0])
    for m, exp_pg, exp_clip, kw in [  # one token on the mask at a time
        ([1, 0, 0, 0], -1.2, 1.0, dict()),  # A>0, ratio 1.5 clipped at 1.2
        ([1, 0, 0, 0], -1.28, 1.0, dict(clip_high=0.28)),  # DAPO clip-higher
        ([1, 0, 0, 0], -1.5, 0.0, dict(clip_high=0.6)),  # inside the range: unclipped
        ([0, 0, 1, 0], 0.8, 1.0, dict()),  # A<0, ratio 0.5: max(0.5, 0.8) = 0.8
        ([0, 0, 0, 1], 5.0, 0.0, dict()),  # A<0, ratio 5: max(5, 1.2) = 5, gradient flows
        ([0, 0, 0, 1], 3.0, 1.0, dict(dual_clip=3.0)),  # dual clip bounds it at -A c = 3
        ([0, 0, 0, 1], 5.0, 0.0, dict(dual_clip=6.0)),  # bound above the loss: inactive
    ]:
        mask = torch.tensor(m, dtype=torch.float64)
        out = ref(h, W, tgt, adv, mask, old, **kw)
        assert out.loss.item() == pytest.approx(exp_pg, abs=1e-12), (m, kw)
        assert out.clip_frac.item() == exp_clip, (m, kw)
        assert out.logprobs[0].item() == pytest.approx(lp, abs=1e-6)


def test_hand_gradient_of_clipped_token_is_zero():
    h, W, tgt = eye_case([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [0, 1])
    old = torch.tensor([-LOG3 - math.log(1.5), -LOG3], dtype=torch.float64)  # ratios 1.5 (clipped), 1
    h = h.requires_grad_(True)
    out = ref(h, W, tgt, torch.tensor([1.0, 1.0]), torch.ones(2), old)
    out.loss.backward()
    assert (h.grad[0] == 0).all()
    # Token 2: loss = -ratio / 2, d/dz = -(onehot - p) / 2 with p = 1/3.
    torch.testing.assert_close(h.grad[1], torch.tensor([1 / 6, -1 / 3, 1 / 6], dtype=torch.float64))


@pytest.mark.parametrize("est,expected", [("k1", 0.5), ("k2", 0.125), ("k3", math.exp(-0.5) + 0.5 - 1.0)])
def test_hand_kl_estimators(est, expected):
    h, W, tgt = eye_case([[0.0, 0.0, 0.0]], [2])
    refl = torch.tensor([-LOG3 - 0.5], dtype=torch.float64)  # logp - ref = 0.5
    out = ref(h, W, tgt, torch.tensor([0.0]), torch.ones(1), refl=refl, kl_coef=0.1, kl_estimator=est)
    assert out.kl.item() == pytest.approx(expected, rel=1e-6)
    assert out.loss.item() == pytest.approx(0.1 * expected, rel=1e-12)  # A = 0: only the KL term


def test_hand_entropy_and_temperature():
    h, W, tgt = eye_case([[0.0, 0.0, 0.0]], [0])
    out = ref(h, W, tgt, torch.tensor([0.0]), torch.ones(1), entropy_coef=0.1)
    assert out.entropy.item() == pytest.approx(LOG3, rel=1e-6)
    assert out.loss.item() == pytest.approx(-0.1 * LOG3, rel=1e-12)
    out = ref(h, W, tgt, torch.tensor([0.0]), torch.ones(1), compute_entropy=True)
    assert out.loss.item() == 0.0 and out.entropy.item() == pytest.approx(LOG3, rel=1e-6)
    assert ref(h, W, tgt, torch.tensor([0.0]), torch.ones(1)).entropy is None
    # Temperature 2 on logits (2, 0, 0): z = (1, 0, 0), logp(0) = 1 - log(e + 2).
    h, W, tgt = eye_case([[2.0, 0.0, 0.0]], [0])
    out = ref(h, W, tgt, torch.tensor([1.0]), torch.ones(1), temperature=2.0)
    assert out.logprobs.item() == pytest.approx(1.0 - math.log(math.e + 2.0), rel=1e-6)


def test_hand_loss_aggregations():
    # On-policy (ratio 1, no clipping): the per-token loss is -A.
    h, W, tgt = eye_case([[0.0, 0.0]] * 4, [0, 1, 0, 1])
    adv = torch.tensor([1.0, 2.0, 4.0, 8.0])
    mask = torch.tensor([1.0, 1.0, 0.0, 1.0])
    sid = torch.tensor([0, 0, 0, 1])  # seq 0: tokens 0,1 (2 on the mask), seq 1: token 3
    cases = {
        ("token-mean", None, None): -(1 + 2 + 8) / 3,
        ("token-mean", None, 6): -(1 + 2 + 8) / 6,  # num_tokens: global count across micro-batches
        ("seq-mean-token-sum", None, None): -(1 + 2 + 8) / 2,
        ("seq-mean-token-mean", None, None): -((1 + 2) / 2 + 8 / 1) / 2,
        ("seq-mean-token-sum-norm", 4.0, None): -(1 + 2 + 8) / (2 * 4.0),
    }
    for (agg, norm, nt), expected in cases.items():
        out = ref(h, W, tgt, adv, mask, seq_ids=sid, num_tokens=nt, loss_agg=agg, norm_constant=norm)
        assert out.loss.item() == pytest.approx(expected, rel=1e-12), agg
        assert out.clip_frac.item() == 0.0
    # num_tokens as a tensor
    out = ref(h, W, tgt, adv, mask, seq_ids=sid, num_tokens=torch.tensor(6))
    assert out.loss.item() == pytest.approx(-(11) / 6, rel=1e-12)
    # [B, T, H]: norm_constant defaults to T.
    out = ref(h.reshape(2, 2, 2), W, tgt.reshape(2, 2), adv.reshape(2, 2), mask.reshape(2, 2),
              loss_agg="seq-mean-token-sum-norm")
    assert out.loss.item() == pytest.approx(-(1 + 2 + 8) / (2 * 2), rel=1e-12)


def test_hand_gspo_sequence_ratio():
    h, W, tgt = eye_case([[0.0, 0.0, 0.0]] * 3, [0, 1, 2])
    old = torch.tensor([-LOG3 - 0.1, -LOG3 - 0.3, -LOG3], dtype=torch.float64)
    sid = torch.tensor([0, 0, 1])
    adv = torch.tensor([1.0, 1.0, 1.0])
    # Sequence 0: mean log-ratio 0.2, ratio e^0.2 = 1.2214 for both tokens; sequence 1: ratio 1.
    for clip_high, r0, clip0 in [(0.2, 1.2, 1.0), (0.3, math.exp(0.2), 0.0)]:
        hh = h.clone().requires_grad_(True)
        out = ref(hh, W, tgt, adv, torch.ones(3), old, seq_ids=sid, ratio_level="sequence", clip_high=clip_high,
                  loss_agg="seq-mean-token-sum")
        assert out.loss.item() == pytest.approx(-(2 * r0 + 1.0) / 2, rel=1e-12)
        assert out.clip_frac.item() == pytest.approx(2 * clip0 / 3)
        out.loss.backward()
        # d loss / d logp_t = -A ratio_seq / S for each unclipped token (no 1/|y| factor).
        g0 = 0.0 if clip0 else -math.exp(0.2) / 2
        p = torch.full((3,), 1 / 3, dtype=torch.float64)
        torch.testing.assert_close(hh.grad[0], g0 * (torch.tensor([1.0, 0, 0], dtype=torch.float64) - p))
        torch.testing.assert_close(hh.grad[2], -0.5 * (torch.tensor([0, 0, 1.0], dtype=torch.float64) - p))


def test_per_sequence_advantages_and_bth_input():
    h, W, tgt, mask, sid, old, refl, adv = random_case(N=24, seed=3)
    sid = torch.arange(4).repeat_interleave(6)
    adv_seq = torch.tensor([0.5, -1.0, 2.0, 0.0], dtype=torch.float64)
    kw = dict(clip_high=0.28, kl_coef=0.1, loss_agg="seq-mean-token-mean")
    a = ref(h, W, tgt, adv_seq, mask, old, refl, seq_ids=sid, **kw)
    b = ref(h, W, tgt, adv_seq[sid], mask, old, refl, seq_ids=sid, **kw)
    c = ref(h.reshape(4, 6, -1), W, tgt.reshape(4, 6), adv_seq, mask.reshape(4, 6), old.reshape(4, 6),
            refl.reshape(4, 6), **kw)
    assert a.loss.item() == pytest.approx(b.loss.item(), rel=1e-12)
    assert a.loss.item() == pytest.approx(c.loss.item(), rel=1e-12)
    assert c.logprobs.shape == (4, 6)
    torch.testing.assert_close(c.logprobs.reshape(-1), a.logprobs)


# ----------------------------------------------------------------------------------------------
# Gradients and eos_grad
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cfg", [
    dict(clip_low=0.5, clip_high=0.5),
    dict(clip_low=0.5, clip_high=0.5, kl_coef=0.2, kl_estimator="k3", entropy_coef=0.1, temperature=0.8),
    dict(clip_low=0.5, clip_high=0.5, loss_agg="seq-mean-token-mean", kl_coef=0.1, kl_estimator="k2"),
    dict(clip_low=0.5, clip_high=0.5, loss_agg="seq-mean-token-sum-norm", norm_constant=3.0, kl_coef=0.1,
         kl_estimator="k1", dual_clip=1.2),
])  # not GSPO: its sg(mean log-ratio) makes the gradient differ from the derivative by design
def test_gradcheck_hidden_and_weight(cfg):
    g = torch.Generator().manual_seed(5)
    N, H, V = 8, 4, 11
    h = torch.randn(N, H, generator=g, dtype=torch.float64, requires_grad=True)
    W = torch.randn(V, H, generator=g, dtype=torch.float64, requires_grad=True)
    tgt = torch.randint(0, V, (N,), generator=g)
    adv = torch.randn(N, generator=g, dtype=torch.float64)
    mask = torch.ones(N, dtype=torch.float64)
    mask[3] = 0
    old = torch.full((N,), -2.4, dtype=torch.float64) + 0.05 * torch.randn(N, generator=g, dtype=torch.float64)
    refl = old - 0.1
    sid = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    fn = lambda h_, W_: ref(h_, W_, tgt, adv, mask, old, refl, seq_ids=sid, **cfg).loss
    assert torch.autograd.gradcheck(fn, (h, W), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("cfg", [dict(), dict(entropy_coef=0.05, temperature=0.7, kl_coef=0.1, dual_clip=3.0)])
def test_eos_grad_is_autograd_gradient_on_eos_column(cfg):
    h, W, tgt, mask, sid, old, refl, adv = random_case(seed=6)
    eos = 5
    out = ref(h, W, tgt, adv, mask, old, refl, seq_ids=sid, eos_token_id=eos, **cfg)
    raw = (h @ W.t()).requires_grad_(True)
    loss = naive_loss(raw, tgt, adv, mask, old, refl, sid, int(sid.max()) + 1, **cfg)[0]
    (g,) = torch.autograd.grad(loss, raw)
    torch.testing.assert_close(out.eos_grad.double(), g[:, eos], rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(out.p_eos.double(), torch.softmax(raw.detach() / cfg.get("temperature", 1.0), 1)[:, eos],
                               rtol=1e-5, atol=1e-9)
    assert out.eos_grad.shape == tgt.shape and out.eos_grad.dtype == torch.float32
    # Without eos_token_id neither is reported.
    out = ref(h, W, tgt, adv, mask, old, refl, seq_ids=sid, **cfg)
    assert out.p_eos is None and out.eos_grad is None


def test_eos_grad_with_frozen_params_and_paper_eq13_sign():
    # Paper Eq. 13: with the target = EOS and A > 0, the gradient pushes the EOS logit up
    # (d loss / d z_eos < 0), proportionally to A (the value scale s(x)).
    h, W, tgt = eye_case([[0.0, 1.0, 0.5]] * 2, [2, 2])
    out = ref(h, W, tgt, torch.tensor([1.0, 2.0]), torch.ones(2), seq_ids=torch.tensor([0, 1]),
              loss_agg="seq-mean-token-sum", eos_token_id=2)
    assert (out.eos_grad < 0).all()
    assert out.eos_grad[1].item() == pytest.approx(2 * out.eos_grad[0].item(), rel=1e-6)


# ----------------------------------------------------------------------------------------------
# Input validation: ValueError naming the argument
# ----------------------------------------------------------------------------------------------
def _args(N=6, H=4, V=9):
    g = torch.Generator().manual_seed(0)
    return dict(hidden=torch.randn(N, H, generator=g), weight=torch.randn(V, H, generator=g),
                targets=torch.randint(0, V, (N,), generator=g), advantages=torch.randn(N, generator=g),
                mask=torch.ones(N))


@pytest.mark.parametrize("change,match", [
    (dict(targets=torch.zeros(5, dtype=torch.long)), "targets"),
    (dict(targets=torch.zeros(6)), "targets"),
    (dict(mask=torch.ones(7)), "mask"),
    (dict(mask=torch.full((6,), 0.5)), "mask"),
    (dict(advantages=torch.ones(6, 2)), "advantages"),
    (dict(advantages=torch.tensor([1.0, float("nan"), 0, 0, 0, 0])), "advantages"),
    (dict(weight=torch.randn(9, 4, dtype=torch.float64)), "dtype"),
    (dict(weight=torch.randn(9, 5)), "weight"),
    (dict(hidden=torch.randn(6)), "hidden"),
    (dict(hidden=torch.zeros(6, 4, dtype=torch.long)), "hidden"),
    (dict(old_logprobs=torch.zeros(5)), "old_logprobs"),
    (dict(old_logprobs=torch.tensor([0.0, 0, float("inf"), 0, 0, 0])), "old_logprobs"),
    (dict(ref_logprobs=torch.zeros(6, dtype=torch.long)), "ref_logprobs"),
    (dict(targets=torch.tensor([0, 1, 9, 0, 0, 0])), "targets"),  # out of vocab on the mask
    (dict(targets=torch.tensor([0, 1, -1, 0, 0, 0])), "targets"),
    (dict(num_tokens=0), "num_tokens"),
    (dict(seq_ids=torch.tensor([0, 0, 1, 1, 2, 2]), advantages=torch.ones(2)), "seq_ids"),
])
def test_bad_inputs_raise_value_error(change, match):
    kw = dict(_args(), **change)
    with pytest.raises(ValueError, match=match):
        policy_loss(**kw, backend="reference")


def test_out_of_vocab_target_off_the_mask_is_fine():
    kw = _args()
    kw["targets"] = torch.tensor([0, 1, -100, 0, 99, 0])
    kw["mask"] = torch.tensor([1.0, 1, 0, 1, 0, 1])
    out = policy_loss(**kw, backend="reference")
    assert torch.isfinite(out.loss) and out.logprobs[2] == 0 and out.logprobs[4] == 0


@pytest.mark.parametrize("cfg,extra,match", [
    (dict(kl_coef=0.1), {}, "ref_logprobs"),
    (dict(eos_token_id=9), {}, "eos_token_id"),
    (dict(ratio_level="sequence"), {}, "ratio_level"),
    (dict(loss_agg="seq-mean-token-mean"), {}, "loss_agg"),
    (dict(loss_agg="seq-mean-token-sum-norm"), dict(seq_ids=torch.zeros(6, dtype=torch.long)), "norm_constant"),
])
def test_config_input_mismatch_errors(cfg, extra, match):
    with pytest.raises(ValueError, match=match):
        policy_loss(**_args(), **extra, config=PolicyLossConfig(**cfg), backend="reference")


@pytest.mark.parametrize("kw,name", [
    (dict(clip_low=-0.1), "clip_low"), (dict(clip_low=1.0), "clip_low"), (dict(clip_high=float("nan")), "clip_high"),
    (dict(dual_clip=0.5), "dual_clip"), (dict(kl_coef=-1.0), "kl_coef"), (dict(kl_estimator="k4"), "kl_estimator"),
    (dict(entropy_coef=float("inf")), "entropy_coef"), (dict(loss_agg="mean"), "loss_agg"),
    (dict(norm_constant=0.0), "norm_constant"), (dict(ratio_level="seq"), "ratio_level"),
    (dict(temperature=0.0), "temperature"), (dict(eos_token_id=-1), "eos_token_id"),
    (dict(eos_token_id=True), "eos_token_id"), (dict(chunk_size=0), "chunk_size"),
])
def test_bad_config_values(kw, name):
    with pytest.raises(ValueError, match=name):
        PolicyLossConfig(**kw)
