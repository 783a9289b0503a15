"""Non-finite and overflow-prone inputs of `policy_loss`, on every backend (docs/robustness.md).

    masked-out (mask 0) rows of hidden     do not matter: NaN / inf / huge there gives exactly the
                                           outputs of a finite row there (loss, logprobs on the mask,
                                           both gradients; 0 gradient on the masked rows)
    non-finite input where it counts       ValueError naming the tensor and the first bad index
    overflow in the computation            ValueError saying what overflowed (logits beyond float32,
                                           1 / num_tokens, a KL term, the per-token loss, the sum), or
                                           a stable result where one exists (k3 clamps, finite logits
                                           behind a huge but harmless hidden coordinate)

The triton backend runs in the Triton interpreter (tests/conftest.py sets TRITON_INTERPRET=1 for the
process): its cases carry the `interpret` marker and skip without triton. Values are compared with
the float64 reference where they are compared to a truth: |x - truth| <= 1e-4 max|truth| + 1e-6.
"""
import math

import pytest
import torch

from rlev_fast.loss import LOGIT_LIMIT, PolicyLossConfig, policy_loss, prepare_inputs

# The interpreter runs the kernels in numpy, which warns when the overflow these tests provoke happens.
pytestmark = [pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")]

BACKENDS = ["reference", "chunked", pytest.param("triton", marks=pytest.mark.interpret)]
N, H, V = 37, 16, 67
MASKED = (5, 20)  # masked-out positions that receive the bad values (20 sits mid-chunk / mid-tile)
NAN, INF = float("nan"), float("inf")


def _need(backend):
    if backend == "triton":
        pytest.importorskip("triton", reason="triton is not installed")


def make_case(seed=0, n=N):
    """fp64 master inputs; old / ref log-probs near the true ones (ratios on both sides of the clip)."""
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, H, generator=g, dtype=torch.float64)
    W = torch.randn(V, H, generator=g, dtype=torch.float64) * 0.4
    y = torch.randint(0, V, (n,), generator=g)
    mask = (torch.rand(n, generator=g) > 0.2).double()
    mask[list(MASKED)] = 0.0
    mask[:5] = 1.0  # tokens 0-4 are on the mask (the error tests put their bad value there)
    lp = torch.log_softmax(h @ W.t(), -1).gather(1, y[:, None]).squeeze(1)
    return dict(
        hidden=h, weight=W, targets=y, mask=mask.float(),
        advantages=torch.randn(n, generator=g),
        old=(lp + 0.3 * torch.randn(n, generator=g, dtype=torch.float64)).float(),
        ref=(lp + 0.5 * torch.randn(n, generator=g, dtype=torch.float64)).float(),
        seq_ids=torch.sort(torch.randint(0, 5, (n,), generator=g)).values,
    )


def run(c, backend, cfg, dtype=torch.float32, hidden=None, weight=None, old=True, ref=True, **kw):
    """policy_loss forward + backward; returns its outputs and both gradients (detached, on CPU)."""
    h = (c["hidden"] if hidden is None else hidden).to(dtype).detach().requires_grad_(True)
    W = (c["weight"] if weight is None else weight).to(dtype).detach().requires_grad_(True)
    out = policy_loss(h, W, c["targets"], kw.pop("advantages", c["advantages"]), kw.pop("mask", c["mask"]),
                      kw.pop("old_logprobs", c["old"] if old else None),
                      kw.pop("ref_logprobs", c["ref"] if ref else None),
                      seq_ids=kw.pop("seq_ids", c["seq_ids"]), config=cfg, backend=backend, **kw)
    out.loss.backward()
    res = {k: getattr(out, k) for k in ("loss", "logprobs", "clip_frac", "kl", "entropy", "p_eos", "eos_grad")}
    res["grad_hidden"], res["grad_weight"] = h.grad, W.grad
    res["hidden_in"] = h.detach()
    return res


def close_to(x, truth, rel=1e-4, atol=1e-6):
    x, truth = x.double(), truth.double()
    return bool(((x - truth).abs() <= rel * truth.abs().max() + atol).all())


CONFIGS = {
    # PPO-style: off-policy ratio, k3 KL, entropy bonus, dual clip, EOS outputs, small chunks
    "token": dict(kl_coef=0.1, kl_estimator="k3", entropy_coef=0.01, dual_clip=3.0, eos_token_id=3, chunk_size=8,
                  temperature=0.9),
    # GSPO: the sequence mean of (logp - old) is where a masked NaN used to leak through 0 * NaN
    "gspo": dict(ratio_level="sequence", loss_agg="seq-mean-token-mean", kl_coef=0.05, kl_estimator="k2",
                 compute_entropy=True, chunk_size=16, clip_low=3e-4, clip_high=4e-4),
}


# ----------------------------------------------------------------------------------------------
# Masked-out rows do not matter
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cfg_name", list(CONFIGS))
@pytest.mark.parametrize("bad", [NAN, INF, -INF, 1e30], ids=["nan", "inf", "-inf", "huge-1e30"])
def test_nonfinite_hidden_on_masked_rows_does_not_matter(backend, cfg_name, bad):
    """Row 5 entirely bad, row 20 bad in one coordinate, both mask 0: exactly the outputs of the run
    with the (finite, random) rows there. 1e30 is finite but h.w overflows float32 there."""
    _need(backend)
    c = make_case()
    cfg = PolicyLossConfig(**CONFIGS[cfg_name])
    bad_h = c["hidden"].clone()
    bad_h[MASKED[0]] = bad
    bad_h[MASKED[1], 3] = bad
    clean = run(c, backend, cfg)
    dirty = run(c, backend, cfg, hidden=bad_h)
    on = c["mask"] > 0
    assert torch.isfinite(dirty["loss"])
    assert torch.equal(dirty["loss"], clean["loss"])
    assert torch.equal(dirty["logprobs"][on], clean["logprobs"][on])
    assert torch.equal(dirty["grad_weight"], clean["grad_weight"])
    assert torch.equal(dirty["grad_hidden"], clean["grad_hidden"])
    assert dirty["grad_hidden"][~on].abs().max().item() == 0.0
    for k in ("clip_frac", "kl", "entropy"):
        assert torch.equal(dirty[k], clean[k]), k
    if cfg.eos_token_id is not None:
        assert torch.equal(dirty["eos_grad"], clean["eos_grad"])  # 0 at masked rows either way
        assert torch.equal(dirty["p_eos"][on], clean["p_eos"][on])
    # the caller's tensor is left as it was (the clean-up works on a copy)
    assert (torch.isnan if math.isnan(bad) else (lambda t: t == bad))(dirty["hidden_in"][MASKED[0]]).all()
    # and the values are those of the float64 truth
    truth = run(c, "reference", cfg, dtype=torch.float64)
    for k in ("loss", "grad_weight", "grad_hidden"):
        assert close_to(dirty[k], truth[k]), k
    assert close_to(dirty["logprobs"][on], truth["logprobs"][on])


@pytest.mark.parametrize("backend", ["reference", "chunked"])
def test_masked_nan_padding_in_batch_time_input(backend):
    """[B, T, H] input with NaN at padded positions (the usual source of the bug), per-sequence advantages."""
    c = make_case()
    B, T = 4, 9
    h = c["hidden"][: B * T].reshape(B, T, H).float()
    mask = torch.ones(B, T)
    mask[1, 6:] = 0.0
    mask[3, 2:] = 0.0
    h_bad = h.clone()
    h_bad[mask == 0] = NAN
    cfg = PolicyLossConfig(loss_agg="seq-mean-token-mean", compute_entropy=True)
    kw = dict(targets=c["targets"][: B * T].reshape(B, T), advantages=torch.tensor([1.0, -0.5, 0.3, 2.0]), mask=mask)
    outs = []
    for hh in (h, h_bad):
        x = hh.clone().requires_grad_(True)
        W = c["weight"].float().requires_grad_(True)
        o = policy_loss(x, W, config=cfg, backend=backend, **kw)
        o.loss.backward()
        outs.append((o, x.grad, W.grad))
    (a, gha, gwa), (b, ghb, gwb) = outs
    assert torch.equal(a.loss, b.loss) and torch.equal(a.entropy, b.entropy)
    assert torch.equal(a.logprobs[mask > 0], b.logprobs[mask > 0])
    assert torch.equal(gwa, gwb) and torch.equal(gha, ghb) and ghb[mask == 0].abs().max().item() == 0.0


def test_finite_masked_rows_are_not_copied():
    """Fast path: finite inputs, no logit can overflow -> no copy of hidden, no per-row work kept.
    A non-finite masked row -> a cleaned copy (the caller's tensor untouched)."""
    c = make_case()
    h, W = c["hidden"].float(), c["weight"].float()
    args = (c["targets"], c["advantages"], c["mask"], None, None, None, None, PolicyLossConfig())
    inp = prepare_inputs(h, W, *args)
    assert inp.hidden.data_ptr() == h.data_ptr() and inp.logit_bound is None
    h_bad = h.clone()
    h_bad[MASKED[0]] = NAN
    inp = prepare_inputs(h_bad, W, *args)
    assert inp.hidden.data_ptr() != h_bad.data_ptr() and inp.logit_bound is None
    assert torch.isnan(h_bad[MASKED[0]]).all() and inp.hidden[MASKED[0]].abs().max().item() == 0.0
    others = torch.ones(N, dtype=torch.bool)
    others[MASKED[0]] = False
    assert torch.equal(inp.hidden[others], h[others])


# ----------------------------------------------------------------------------------------------
# Non-finite input where it counts: ValueError naming the tensor and the index
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("value", [NAN, INF, -INF], ids=["nan", "inf", "-inf"])
def test_nonfinite_hidden_on_the_mask_is_an_error(backend, value):
    _need(backend)
    c = make_case()
    h = c["hidden"].clone()
    h[3, 2] = value
    h[MASKED[0]] = NAN  # another bad row, masked out, is not the one named
    with pytest.raises(ValueError, match=r"hidden has a non-finite value at token 3 \(mask 1\): hidden\[3, 2\]"):
        run(c, backend, PolicyLossConfig(), hidden=h)


def test_nonfinite_hidden_on_the_mask_names_batch_and_position():
    c = make_case()
    h = c["hidden"][:36].reshape(4, 9, H).clone()
    h[2, 7, 1] = INF
    with pytest.raises(ValueError, match=r"at token 25 \(mask 1\): hidden\[2, 7, 1\] = inf"):
        policy_loss(h, c["weight"], c["targets"][:36].reshape(4, 9), torch.zeros(4, 9), torch.ones(4, 9),
                    backend="chunked")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("value", [NAN, INF, -INF], ids=["nan", "inf", "-inf"])
def test_nonfinite_weight_is_an_error(backend, value):
    """Every row of W enters every softmax: no row of it is ever off the mask."""
    _need(backend)
    c = make_case()
    W = c["weight"].clone()
    W[17, 4] = value
    W[40, 0] = value
    with pytest.raises(ValueError, match=r"weight has a non-finite value at row 17 \(column 4\)"):
        run(c, backend, PolicyLossConfig(), weight=W)


# ----------------------------------------------------------------------------------------------
# Logits beyond float32, temperature
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_logits_beyond_float32_are_an_error(backend):
    """h and W scaled so that h.w ~ 1e40: today a NaN loss (reference, chunked) or a silently wrong
    finite one (triton); now a ValueError naming the first masked-in token."""
    _need(backend)
    c = make_case()
    with pytest.raises(ValueError, match=r"the logits overflow float32 at token 0 \(mask 1\)"):
        run(c, backend, PolicyLossConfig(), hidden=c["hidden"] * 1e20, weight=c["weight"] * 1e20)


@pytest.mark.parametrize("backend", BACKENDS)
def test_huge_hidden_coordinate_with_finite_logits_computes(backend):
    """The overflow bound H max|h| max|W| / T is only a trigger: here hidden[:, 0] = 1e37 (bound 2e38)
    meets a zero weight column, the logits are ordinary, and the result is computed (the same loss,
    logprobs and grad_hidden as with hidden[:, 0] = 0; grad_weight[:, 0] is large but finite)."""
    _need(backend)
    c = make_case()
    W = c["weight"].clone()
    W[:, 0] = 0.0
    h0, h_big = c["hidden"].clone(), c["hidden"].clone()
    h0[:, 0] = 0.0
    h_big[:, 0] = 1e37
    cfg = PolicyLossConfig(kl_coef=0.1, compute_entropy=True)
    inp = prepare_inputs(h_big.float(), W.float(), c["targets"], c["advantages"], c["mask"], c["old"], c["ref"],
                         None, None, cfg)
    assert inp.logit_bound is not None and float(inp.logit_bound.max()) > LOGIT_LIMIT  # the slow path ran
    a = run(c, backend, cfg, hidden=h0, weight=W)
    b = run(c, backend, cfg, hidden=h_big, weight=W)
    on = c["mask"] > 0  # (masked-out rows this large are zeroed: their own logprobs are those of h = 0)
    assert torch.equal(a["loss"], b["loss"]) and torch.equal(a["logprobs"][on], b["logprobs"][on])
    assert torch.equal(a["grad_hidden"], b["grad_hidden"]) and torch.equal(a["entropy"], b["entropy"])
    assert torch.equal(a["grad_weight"][:, 1:], b["grad_weight"][:, 1:])
    assert torch.isfinite(b["grad_weight"]).all()


def test_subnormal_temperature_is_refused():
    with pytest.raises(ValueError, match=r"PolicyLossConfig.temperature must be >= 1.1754944e-38.*got 1e-38"):
        PolicyLossConfig(temperature=1e-38)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tiny_temperature_that_overflows_the_logits_is_an_error(backend):
    """temperature 1.2e-38 is a normal float32, but logits / temperature pass 3.4e38."""
    _need(backend)
    c = make_case()
    with pytest.raises(ValueError, match=r"the logits overflow float32 at token \d+ \(mask 1\).*temperature = 1.2e-38"):
        run(c, backend, PolicyLossConfig(temperature=1.2e-38))


@pytest.mark.parametrize("backend", BACKENDS)
def test_small_temperature_within_range_computes(backend):
    """temperature 1e-30: logits ~1e30, representable: computed (no error, finite outputs, backends agree)."""
    _need(backend)
    c = make_case()
    cfg = PolicyLossConfig(temperature=1e-30)
    out = run(c, backend, cfg, old=False, ref=False)
    truth = run(c, "reference", cfg, dtype=torch.float64, old=False, ref=False)
    on = c["mask"] > 0
    for k in ("loss", "grad_hidden", "grad_weight"):
        assert torch.isfinite(out[k]).all(), k
    assert close_to(out["loss"], truth["loss"])
    assert close_to(out["logprobs"][on], truth["logprobs"][on], rel=1e-5)


# ----------------------------------------------------------------------------------------------
# Aggregation weights and the loss sum
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_num_tokens_whose_reciprocal_overflows_is_an_error(backend):
    _need(backend)
    c = make_case()
    with pytest.raises(ValueError, match=r"num_tokens=1e-40 gives the token-mean weight 1 / num_tokens = 1e\+40"):
        run(c, backend, PolicyLossConfig(), num_tokens=1e-40)


def test_norm_constant_whose_reciprocal_overflows_is_an_error():
    c = make_case()
    cfg = PolicyLossConfig(loss_agg="seq-mean-token-sum-norm", norm_constant=1e-40)
    with pytest.raises(ValueError, match=r"aggregation weight of loss_agg='seq-mean-token-sum-norm' is not finite "
                                         r"at token 0 \(inf"):
        run(c, "chunked", cfg)


@pytest.mark.parametrize("backend", BACKENDS)
def test_loss_sum_that_overflows_is_an_error(backend):
    """num_tokens = 1e-37: finite weights 1e37, finite per-token terms, an overflowing sum."""
    _need(backend)
    c = make_case()
    with pytest.raises(ValueError, match=r"the loss sum_t w_t \* term_t overflows float32"):
        run(c, backend, PolicyLossConfig(), num_tokens=1e-37, advantages=torch.full((N,), 100.0), old=False)


# ----------------------------------------------------------------------------------------------
# KL terms and log-prob differences
# ----------------------------------------------------------------------------------------------
def _ref_with(c, i, value):
    ref = (c["ref"] if isinstance(c, dict) else c).clone()
    ref[i] = value
    return ref


@pytest.mark.parametrize("backend", BACKENDS)
def test_k2_kl_that_overflows_is_an_error(backend):
    """k2 = (logp - ref)^2 / 2 with ref = -1e20: 5e39 is no float32."""
    _need(backend)
    c = make_case()
    cfg = PolicyLossConfig(kl_coef=0.1, kl_estimator="k2")
    with pytest.raises(ValueError, match=r"the k2 KL term overflows float32 at token 4 \(mask 1\).*"
                                         r"ref_logprobs = -1e\+20"):
        run(c, backend, cfg, ref_logprobs=_ref_with(c, 4, -1e20))


@pytest.mark.parametrize("backend", BACKENDS)
def test_kl_times_coef_that_overflows_is_an_error(backend):
    """k1 = logp - ref = 3e38 is finite, kl_coef * k1 is not: the per-token term is named."""
    _need(backend)
    c = make_case()
    cfg = PolicyLossConfig(kl_coef=10.0, kl_estimator="k1")
    with pytest.raises(ValueError, match=r"the per-token loss overflows float32 at token 2 \(mask 1\)"):
        run(c, backend, cfg, ref_logprobs=_ref_with(c, 2, -3e38))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("estimator", ["k1", "k3"])
def test_far_reference_logprob_computes_where_representable(backend, estimator):
    """ref = -1e20: k3 clamps ref - logp to 20 (stable by construction), k1 = logp + 1e20 is a float32;
    both are computed and equal the float64 truth. ref = -1e20 on a masked-out token does not matter."""
    _need(backend)
    c = make_case()
    cfg = PolicyLossConfig(kl_coef=0.1, kl_estimator=estimator)
    ref = _ref_with(_ref_with(c, 4, -1e20), MASKED[0], -1e20)
    out = run(c, backend, cfg, ref_logprobs=ref)
    truth = run(c, "reference", cfg, dtype=torch.float64, ref_logprobs=ref.double())
    for k in ("loss", "kl", "grad_weight", "grad_hidden"):
        assert torch.isfinite(out[k]).all() and close_to(out[k], truth[k]), k


@pytest.mark.parametrize("backend", BACKENDS)
def test_k2_far_reference_on_masked_token_does_not_matter(backend):
    _need(backend)
    c = make_case()
    cfg = PolicyLossConfig(kl_coef=0.1, kl_estimator="k2")
    a = run(c, backend, cfg)
    b = run(c, backend, cfg, ref_logprobs=_ref_with(c, MASKED[0], -1e20))
    assert torch.equal(a["loss"], b["loss"]) and torch.equal(a["grad_weight"], b["grad_weight"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_old_logprob_far_away_is_clamped(backend):
    """logp - old with old = +-3e38: the log-ratio clamp (+-20) makes it a finite, zero-gradient ratio."""
    _need(backend)
    c = make_case()
    old = c["old"].clone()
    old[1], old[2] = -3e38, 3e38
    out = run(c, backend, PolicyLossConfig(), old_logprobs=old)
    truth = run(c, "reference", PolicyLossConfig(), dtype=torch.float64, old_logprobs=old.double())
    for k in ("loss", "grad_weight", "grad_hidden"):
        assert torch.isfinite(out[k]).all() and close_to(out[k], truth[k]), k


# ----------------------------------------------------------------------------------------------
# Sequence ids
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss_agg", ["token-mean", "seq-mean-token-mean"])
def test_seq_ids_beyond_the_token_count_are_an_error(loss_agg):
    """Was a raw 4 TB allocation error; now a ValueError that says what to do."""
    c = make_case()
    sid = c["seq_ids"].clone()
    sid[-1] = 2 ** 40
    with pytest.raises(ValueError, match=r"seq_ids reach 1099511627776 \(at token 36\) but hidden holds only 37 "
                                         r"tokens.*torch.unique"):
        run(c, "chunked", PolicyLossConfig(loss_agg=loss_agg), seq_ids=sid)


def test_seq_ids_beyond_per_sequence_advantages_are_an_error():
    c = make_case()
    sid = c["seq_ids"].clone()
    sid[-1] = 2 ** 40
    with pytest.raises(ValueError, match=r"seq_ids reach 1099511627776 but advantages holds 5 sequences"):
        run(c, "chunked", PolicyLossConfig(), seq_ids=sid, advantages=torch.randn(5))


def test_gapped_seq_ids_within_the_token_count_keep_their_meaning():
    """S = max(seq_ids) + 1 as before (empty sequences count): ids {0, 30} give S = 31."""
    c = make_case()
    sid = torch.zeros(N, dtype=torch.long)
    sid[20:] = 30
    inp = prepare_inputs(c["hidden"].float(), c["weight"].float(), c["targets"], c["advantages"], c["mask"], None,
                         None, sid, None, PolicyLossConfig(loss_agg="seq-mean-token-sum"))
    assert inp.num_seqs == 31 and torch.equal(inp.weights, c["mask"] / 31)
