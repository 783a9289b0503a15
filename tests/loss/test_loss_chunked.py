"""The chunked backend against the float64 reference, by the DESIGN.md criterion:

    |chunked(dtype) - truth| <= 2 |reference(dtype) - truth| + atol

where truth is the reference backend in float64 on the same (dtype-rounded) inputs and
reference(dtype) is "plain PyTorch in the same dtype": the reference backend fed the fp32 / bf16
inputs. Every output is checked: loss, logprobs, grad_hidden, grad_weight, clip_frac, kl, entropy,
p_eos, eos_grad. Shapes are odd on purpose (N not a multiple of chunk_size, V prime).
"""
import math

import pytest
import torch

from rlev_fast.loss import PolicyLossConfig, policy_loss, resolve_backend
from rlev_fast.loss_module import FusedPolicyLoss

KEYS = ("loss", "logprobs", "grad_hidden", "grad_weight", "clip_frac", "kl", "entropy", "p_eos", "eos_grad")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def make_case(N=301, H=48, V=1031, S=7, seed=0, scale=1.0, mask_p=0.2, per_seq=False, bth=False):
    """fp64 master inputs. Logits ~ N(0, scale^2 * 4): a realistic spread with a few large ones."""
    g = torch.Generator().manual_seed(seed)
    c = dict(
        hidden=torch.randn(N, H, generator=g, dtype=torch.float64),
        weight=torch.randn(V, H, generator=g, dtype=torch.float64) * (2.0 * scale / math.sqrt(H)),
        targets=torch.randint(0, V, (N,), generator=g),
        mask=(torch.rand(N, generator=g) > mask_p).float(),
        # old logprobs near the current ones, so ratios fall on both sides of the clip range
        old_jitter=torch.randn(N, generator=g, dtype=torch.float64) * 0.3,
        ref_jitter=torch.randn(N, generator=g, dtype=torch.float64) * 0.5,
        seq_ids=torch.sort(torch.randint(0, S, (N,), generator=g)).values,
    )
    c["seq_ids"][-1] = S - 1  # every seq id up to S-1 appears at least at the end (S sequences)
    c["advantages"] = torch.randn(S if per_seq else N, generator=g)
    if bth:
        B = S
        T = N // B
        for k in ("hidden",):
            c[k] = c[k][: B * T].reshape(B, T, H)
        for k in ("targets", "mask", "old_jitter", "ref_jitter"):
            c[k] = c[k][: B * T].reshape(B, T)
        c["seq_ids"] = None
        c["advantages"] = c["advantages"][:B] if per_seq else c["advantages"][: B * T].reshape(B, T)
    return c


def _logp64(case):
    """Exact fp64 log-probs of the targets, to place old/ref log-probs around them."""
    h, W = case["hidden"], case["weight"]
    lp = torch.log_softmax(h @ W.t(), -1).gather(-1, case["targets"][..., None]).squeeze(-1)
    return lp.float()


def run(case, dtype, backend, cfg, use_old=True, use_ref=True, use_sid=True, num_tokens=None, device="cpu"):
    dev = lambda t: None if t is None else t.to(device)
    h = case["hidden"].to(device=device, dtype=dtype).requires_grad_(True)
    W = case["weight"].to(device=device, dtype=dtype).requires_grad_(True)
    base = case["_lp"]
    old = (base + case["old_jitter"].float()) if use_old else None
    ref = (base + case["ref_jitter"].float()) if use_ref else None
    sid = case["seq_ids"] if (use_sid and case["seq_ids"] is not None) else None
    out = policy_loss(h, W, dev(case["targets"]), dev(case["advantages"]), dev(case["mask"]), dev(old), dev(ref),
                      seq_ids=dev(sid), num_tokens=num_tokens, config=cfg, backend=backend)
    out.loss.backward()
    res = {k: getattr(out, k) for k in ("loss", "logprobs", "clip_frac", "kl", "entropy", "p_eos", "eos_grad")}
    res["grad_hidden"] = h.grad
    res["grad_weight"] = W.grad
    return {k: (v.cpu() if v is not None else None) for k, v in res.items()}


def check_criterion(case, dtype, cfg, atol_rel=1e-5, device="cpu", **kw):
    """Assert the DESIGN.md criterion on every output; returns {key: (err_chunked, err_reference)}."""
    if "_lp" not in case:
        case["_lp"] = _logp64(case)
    # Truth: fp64 on the inputs as rounded to `dtype`.
    rounded = dict(case, hidden=case["hidden"].to(dtype).double(), weight=case["weight"].to(dtype).double())
    truth = run(rounded, torch.float64, "reference", cfg, **kw)
    ref = run(case, dtype, "reference", cfg, device=device, **kw)
    chk = run(case, dtype, "chunked", cfg, device=device, **kw)
    errs = {}
    for k in KEYS:
        t, r, c = truth[k], ref[k], chk[k]
        assert (t is None) == (c is None) == (r is None), k
        if t is None:
            continue
        assert c.shape == t.shape and c.dtype == r.dtype, (k, c.shape, t.shape, c.dtype, r.dtype)
        assert torch.isfinite(c).all(), k
        t = t.double()
        e_c = (c.double() - t).abs().max().item()
        e_r = (r.double() - t).abs().max().item()
        atol = atol_rel * max(t.abs().max().item(), 1e-3)
        assert e_c <= 2 * e_r + atol, f"{k}: chunked err {e_c:.3e} > 2 x reference err {e_r:.3e} + {atol:.1e}"
        errs[k] = (e_c, e_r)
    return errs


CONFIGS = {
    "ppo": dict(),
    "dapo_clip_high": dict(clip_low=0.2, clip_high=0.28),
    "dual_clip": dict(dual_clip=3.0, clip_low=0.1, clip_high=0.1),
    "kl_k1": dict(kl_coef=0.1, kl_estimator="k1"),
    "kl_k2": dict(kl_coef=0.1, kl_estimator="k2"),
    "kl_k3": dict(kl_coef=0.1, kl_estimator="k3"),
    "entropy_coef": dict(entropy_coef=0.01),
    "entropy_report_only": dict(compute_entropy=True),
    "temperature": dict(temperature=0.7, entropy_coef=-0.02),
    "seq_mean_token_sum": dict(loss_agg="seq-mean-token-sum"),
    "seq_mean_token_mean": dict(loss_agg="seq-mean-token-mean"),
    "seq_mean_token_sum_norm": dict(loss_agg="seq-mean-token-sum-norm", norm_constant=50.0),
    "gspo": dict(ratio_level="sequence", clip_low=3e-4, clip_high=4e-4),
    "eos": dict(eos_token_id=17),
    "everything": dict(clip_high=0.28, dual_clip=3.0, kl_coef=0.05, entropy_coef=0.01, temperature=1.3,
                       eos_token_id=1030, loss_agg="seq-mean-token-mean"),
}


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("name", list(CONFIGS))
def test_matches_reference_every_option(name, dtype):
    cfg = PolicyLossConfig(chunk_size=64, **CONFIGS[name])
    check_criterion(make_case(seed=list(CONFIGS).index(name)), DTYPES[dtype], cfg)


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_token_mean_with_num_tokens_and_on_policy(dtype):
    cfg = PolicyLossConfig(chunk_size=100, eos_token_id=0)
    case = make_case(seed=3)
    check_criterion(case, DTYPES[dtype], cfg, num_tokens=1000)
    check_criterion(case, DTYPES[dtype], cfg, use_old=False, use_ref=False)  # on-policy: ratio 1


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_per_sequence_advantages_and_bth(dtype):
    cfg = PolicyLossConfig(chunk_size=50, kl_coef=0.1, compute_entropy=True, eos_token_id=2,
                           loss_agg="seq-mean-token-sum-norm")
    check_criterion(make_case(seed=4, per_seq=True, bth=True), DTYPES[dtype], cfg)  # [B, T, H], adv [B]
    cfg = PolicyLossConfig(chunk_size=64, ratio_level="sequence", loss_agg="seq-mean-token-mean", eos_token_id=2)
    check_criterion(make_case(seed=5, per_seq=True), DTYPES[dtype], cfg)  # adv [S] with seq_ids


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("chunk_size", [1, 7, 300, 301, 4096])
def test_chunk_boundaries(dtype, chunk_size):
    cfg = PolicyLossConfig(chunk_size=chunk_size, entropy_coef=0.01, kl_coef=0.1, eos_token_id=5)
    check_criterion(make_case(N=301 if chunk_size != 1 else 37, seed=6), DTYPES[dtype], cfg)


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_larger_shape(dtype):
    # Logits with a wide spread (std ~6) at a prime vocabulary and ragged N.
    cfg = PolicyLossConfig(chunk_size=512, clip_high=0.28, kl_coef=0.05, entropy_coef=0.01, eos_token_id=151)
    check_criterion(make_case(N=2049, H=128, V=5003, S=9, seed=7, scale=3.0), DTYPES[dtype], cfg)


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_all_negative_logits(dtype):
    case = make_case(seed=8)
    # Every logit in [-400, -200]: h >= 0 and W <= 0 elementwise, with a large negative offset.
    h = case["hidden"].abs() + 1.0
    case["hidden"] = h
    case["weight"] = -(case["weight"].abs() + 4.0)
    case["_lp"] = _logp64(case)
    raw = case["hidden"] @ case["weight"].t()
    assert raw.max() < -100
    cfg = PolicyLossConfig(chunk_size=64, compute_entropy=True, eos_token_id=3, kl_coef=0.1)
    check_criterion(case, DTYPES[dtype], cfg, atol_rel=1e-4)


def test_fully_masked_sequences_and_batch():
    case = make_case(seed=9)
    case["_lp"] = _logp64(case)
    sid = case["seq_ids"]
    case["mask"][sid == 2] = 0.0  # sequence 2 fully masked
    case["targets"][sid == 2] = -100  # ignore-index targets off the mask are allowed
    cfg = PolicyLossConfig(chunk_size=64, loss_agg="seq-mean-token-mean", entropy_coef=0.01, eos_token_id=4)
    check_criterion(case, torch.float32, cfg)
    out = run(case, torch.float32, "chunked", cfg)
    assert (out["grad_hidden"][sid == 2] == 0).all()
    assert (out["logprobs"][sid == 2] == 0).all()
    # The whole batch masked out: loss 0, zero gradients, no NaN anywhere.
    case["mask"][:] = 0.0
    for agg in ("token-mean", "seq-mean-token-mean"):
        out = run(case, torch.float32, "chunked", PolicyLossConfig(chunk_size=64, loss_agg=agg, kl_coef=0.1,
                                                                   compute_entropy=True, eos_token_id=4))
        assert out["loss"].item() == 0.0
        assert (out["grad_hidden"] == 0).all() and (out["grad_weight"] == 0).all() and (out["eos_grad"] == 0).all()
        for k in ("clip_frac", "kl", "entropy", "p_eos"):
            assert torch.isfinite(out[k]).all(), k


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(10)
    N, H, V = 9, 5, 13
    h = torch.randn(N, H, generator=g, dtype=torch.float64, requires_grad=True)
    W = torch.randn(V, H, generator=g, dtype=torch.float64, requires_grad=True)
    tgt = torch.randint(0, V, (N,), generator=g)
    adv = torch.randn(N, generator=g)
    mask = torch.ones(N)
    mask[4] = 0
    old = torch.randn(N, generator=g).double() * 0.1 - 2.5
    ref = torch.randn(N, generator=g).double() * 0.1 - 2.5
    for kw in (dict(), dict(entropy_coef=0.1, kl_coef=0.2, temperature=0.8)):
        cfg = PolicyLossConfig(chunk_size=4, clip_low=0.5, clip_high=0.5, **kw)
        fn = lambda h_, W_: policy_loss(h_, W_, tgt, adv, mask, old, ref, config=cfg, backend="chunked").loss
        assert torch.autograd.gradcheck(fn, (h, W), eps=1e-6, atol=1e-7)


def test_grad_output_scaling_and_frozen_weight():
    case = make_case(seed=11)
    h = case["hidden"].float().requires_grad_(True)
    W = case["weight"].float()  # frozen lm_head
    cfg = PolicyLossConfig(chunk_size=64, eos_token_id=1)
    o1 = policy_loss(h, W, case["targets"], case["advantages"], case["mask"], config=cfg, backend="chunked")
    (3.0 * o1.loss).backward()
    g3 = h.grad.clone()
    h.grad = None
    o2 = policy_loss(h, W, case["targets"], case["advantages"], case["mask"], config=cfg, backend="chunked")
    o2.loss.backward()
    torch.testing.assert_close(g3, 3.0 * h.grad)
    assert W.grad is None
    # eos_grad does not depend on grad_output and matches the reference even with frozen weights.
    r = policy_loss(h, W, case["targets"], case["advantages"], case["mask"], config=cfg, backend="reference")
    torch.testing.assert_close(o1.eos_grad, r.eos_grad, rtol=1e-4, atol=1e-9)


def test_no_grad_matches_reference():
    case = make_case(seed=12)
    cfg = PolicyLossConfig(chunk_size=64, eos_token_id=1, compute_entropy=True, kl_coef=0.1)
    args = (case["hidden"].float(), case["weight"].float(), case["targets"], case["advantages"], case["mask"])
    ref_lp = -torch.rand(301)
    with torch.no_grad():
        c = policy_loss(*args, ref_logprobs=ref_lp, config=cfg, backend="chunked")
        r = policy_loss(*args, ref_logprobs=ref_lp, config=cfg, backend="reference")
    assert not c.loss.requires_grad
    for k in ("loss", "logprobs", "clip_frac", "kl", "entropy", "p_eos", "eos_grad"):
        torch.testing.assert_close(getattr(c, k), getattr(r, k), rtol=1e-5, atol=1e-6)


def test_module_and_auto_backend(monkeypatch):
    monkeypatch.delenv("RLEV_FAST_LOSS_BACKEND", raising=False)
    assert resolve_backend("auto", torch.device("cpu")) == "chunked"
    case = make_case(seed=13, bth=True, per_seq=True)
    cfg = PolicyLossConfig(chunk_size=64, eos_token_id=9, clip_high=0.28)
    mod = FusedPolicyLoss(cfg)
    assert isinstance(mod, torch.nn.Module) and list(mod.parameters()) == []
    h = case["hidden"].float().requires_grad_(True)
    W = case["weight"].float().requires_grad_(True)
    out = mod(h, W, case["targets"], case["advantages"], case["mask"])
    out.loss.backward()
    assert out.logprobs.shape == case["targets"].shape and out.p_eos.shape == case["targets"].shape
    ref = policy_loss(h.detach(), W.detach(), case["targets"], case["advantages"], case["mask"], config=cfg,
                      backend="reference")
    torch.testing.assert_close(out.loss, ref.loss, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(out.eos_grad, ref.eos_grad, rtol=1e-4, atol=1e-9)
    assert h.grad is not None and W.grad is not None
    with pytest.raises(ValueError):
        FusedPolicyLoss(cfg, backend="nope")
    with pytest.raises(TypeError):
        FusedPolicyLoss(config={"clip_low": 0.2})


def test_fp64_is_exact_to_roundoff():
    case = make_case(seed=14)
    case["_lp"] = _logp64(case)
    cfg = PolicyLossConfig(chunk_size=64, entropy_coef=0.01, kl_coef=0.1, eos_token_id=6)
    a = run(case, torch.float64, "reference", cfg)
    b = run(case, torch.float64, "chunked", cfg)
    for k in KEYS:
        torch.testing.assert_close(b[k], a[k], rtol=1e-10, atol=1e-12)


@pytest.mark.gpu  # conftest skips it without CUDA (and in a TRITON_INTERPRET=1 process)
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("name", ["ppo", "everything", "gspo"])
def test_gpu_matches_reference(name, dtype):
    # Truth in fp64 on the CPU; the reference and chunked backends both on the GPU.
    cfg = PolicyLossConfig(chunk_size=512, **CONFIGS[name])
    check_criterion(make_case(N=2049, H=128, V=5003, S=9, seed=20, scale=3.0), DTYPES[dtype], cfg, device="cuda")
