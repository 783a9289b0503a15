"""The Triton backend of policy_loss on CPU, in the Triton interpreter, at small odd shapes.

Criterion (DESIGN.md): against the float64 reference on the same (dtype-rounded) inputs, the error
of the triton backend must be <= 2x the error of plain PyTorch in the same dtype + a small atol.
"Plain PyTorch" is the larger of two baselines run on the same inputs: the reference backend
(fp32 math on the dtype's inputs) and an eager computation in the dtype itself (logits and
log-softmax in bf16, as a bf16 training step computes them). For fp32 both are fp32 math.

The interpreter mode is fixed for the whole pytest process by tests/conftest.py (TRITON_INTERPRET=1
unless the caller sets 0, which skips this module through the `interpret` marker).
"""
import importlib

import pytest
import torch

pytest.importorskip("triton", reason="triton is not installed")

from rlev_fast import loss as loss_mod  # noqa: E402
from rlev_fast.loss import PolicyLossConfig, policy_loss, token_objective  # noqa: E402

pytestmark = [pytest.mark.interpret]

fpl = importlib.import_module("rlev_fast.kernels.fused_policy_loss")

N, H = 37, 48  # N not a multiple of BLOCK_N (16), H not a multiple of BLOCK_H (32)
EOS = 7
FIELDS = ("loss", "logprobs", "p_eos", "eos_grad", "clip_frac", "kl", "entropy")
ATOL = {torch.float32: 1e-6, torch.bfloat16: 1e-4}  # relative to the quantity's fp64 max magnitude


def make_inputs(V, seed=0, n=N, hidden_size=H):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, hidden_size, generator=g, dtype=torch.float64)
    w = torch.randn(V, hidden_size, generator=g, dtype=torch.float64) * 0.35
    y = torch.randint(0, V, (n,), generator=g)
    y[::9] = EOS  # some targets are the EOS token
    adv = torch.randn(n, generator=g, dtype=torch.float64)
    mask = (torch.rand(n, generator=g) > 0.2).double()
    seq_ids = torch.sort(torch.randint(0, 5, (n,), generator=g)).values
    return h, w, y, adv, mask, seq_ids, g


def true_logp(h, w, y, temperature):
    return torch.log_softmax(h @ w.t() / temperature, -1).gather(1, y[:, None]).squeeze(1)


def eager_same_dtype(h, w, y, adv, mask, old, ref, seq_ids, cfg, dtype):
    """Plain eager PyTorch in `dtype`: logits and log-softmax in that dtype, the objective in fp32."""
    hh = h.to(dtype).detach().requires_grad_(True)
    ww = w.to(dtype).detach().requires_grad_(True)
    raw = hh @ ww.t()
    raw.retain_grad()
    logsm = torch.log_softmax(raw / cfg.temperature, -1)
    logp = logsm.gather(1, y[:, None]).squeeze(1).float()
    inputs = loss_mod.prepare_inputs(hh.detach().float(), ww.detach().float(), y, adv.float(), mask, old, ref,
                                     seq_ids, None, cfg)
    per_tok, clipped, kl = token_objective(logp, inputs, cfg)
    ent = None
    if cfg.needs_entropy:
        ent = -(logsm.exp() * logsm).sum(-1).float()
        per_tok = per_tok - cfg.entropy_coef * ent
    loss = (inputs.weights * per_tok).sum()
    loss.backward()
    m = inputs.mask
    out = dict(loss=loss.detach(), logprobs=logp.detach(), clip_frac=loss_mod.masked_mean(clipped, m),
               kl=loss_mod.masked_mean(kl.detach(), m) if kl is not None else None,
               entropy=loss_mod.masked_mean(ent.detach(), m) if ent is not None else None,
               p_eos=logsm[:, cfg.eos_token_id].detach().exp().float() if cfg.eos_token_id is not None else None,
               eos_grad=raw.grad[:, cfg.eos_token_id].float() if cfg.eos_token_id is not None else None,
               grad_hidden=hh.grad, grad_weight=ww.grad)
    return out


def run_backend(backend, h, w, y, adv, mask, old, ref, seq_ids, cfg, dtype, adv_dtype=None):
    hh = h.to(dtype).detach().requires_grad_(True)
    ww = w.to(dtype).detach().requires_grad_(True)
    a = adv.to(adv_dtype or (torch.float64 if dtype == torch.float64 else torch.float32))
    out = policy_loss(hh, ww, y, a, mask, old_logprobs=old, ref_logprobs=ref, seq_ids=seq_ids, config=cfg,
                      backend=backend)
    out.loss.backward()
    res = {k: getattr(out, k) for k in FIELDS}
    res["loss"] = res["loss"].detach()
    res["grad_hidden"], res["grad_weight"] = hh.grad, ww.grad
    return res


def err(a, b):
    return (a.double() - b.double()).abs().max().item()


def check_against_fp64(V, dtype, cfg, seed=0, with_old=True, with_ref=True, per_seq_adv=False, use_seq_ids=False,
                       fully_masked_seq=None, report=None):
    h, w, y, adv, mask, seq_ids, g = make_inputs(V, seed)
    if fully_masked_seq is not None:
        mask[seq_ids == fully_masked_seq] = 0.0
    # Round the inputs to the dtype once: the fp64 truth sees exactly what the fast path sees.
    h, w = h.to(dtype).double(), w.to(dtype).double()
    lp = true_logp(h, w, y, cfg.temperature).float()
    old = (lp + 0.3 * torch.randn(N, generator=g)) if with_old else None  # ratios on both sides of the clip
    ref = (lp + 0.2 * torch.randn(N, generator=g)) if with_ref else None
    sid = seq_ids if (use_seq_ids or per_seq_adv) else None
    if per_seq_adv:
        adv = torch.randn(int(seq_ids.max()) + 1, generator=g, dtype=torch.float64)
    truth = run_backend("reference", h, w, y, adv, mask, old, ref, sid, cfg, torch.float64)
    fast = run_backend("triton", h, w, y, adv, mask, old, ref, sid, cfg, dtype)
    base_ref = run_backend("reference", h, w, y, adv, mask, old, ref, sid, cfg, dtype)
    base_eager = eager_same_dtype(h, w, y, adv, mask, old, ref, sid, cfg, dtype)
    for key in FIELDS + ("grad_hidden", "grad_weight"):
        t = truth[key]
        if t is None:
            assert fast[key] is None, key
            continue
        assert fast[key] is not None, key
        assert fast[key].shape == t.shape, key
        assert torch.isfinite(fast[key]).all(), key
        e_fast = err(fast[key], t)
        e_base = max(err(base_ref[key], t), err(base_eager[key], t))
        atol = ATOL[dtype] * max(t.abs().max().item(), 1.0)
        if report is not None:
            report.append((key, e_fast, err(base_ref[key], t), err(base_eager[key], t), atol))
        assert e_fast <= 2.0 * e_base + atol, (
            f"{key}: triton err {e_fast:.3e} > 2 x torch err {e_base:.3e} + atol {atol:.1e}")
    # clip_frac is a count: the fast path must agree with the same-dtype reference on which tokens clip
    # (up to a token that sits on the clip boundary within rounding)
    assert abs(fast["clip_frac"].item() - base_ref["clip_frac"].item()) <= 1.0 / N + 1e-7
    return truth, fast


DTYPES = [torch.float32, torch.bfloat16]
CONFIGS = {
    "default-eos": dict(eos_token_id=EOS),
    "clip-higher-dual-temp": dict(clip_low=0.2, clip_high=0.28, dual_clip=3.0, temperature=0.7, eos_token_id=EOS),
    "kl-k1": dict(kl_coef=0.05, kl_estimator="k1"),
    "kl-k2": dict(kl_coef=0.05, kl_estimator="k2"),
    "kl-k3-entropy": dict(kl_coef=0.1, kl_estimator="k3", entropy_coef=0.01, eos_token_id=EOS),
    "entropy-report-only": dict(compute_entropy=True),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["fp32", "bf16"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_token_level_options_v1031(name, dtype):
    check_against_fp64(1031, dtype, PolicyLossConfig(**CONFIGS[name]))


@pytest.mark.parametrize("dtype", DTYPES, ids=["fp32", "bf16"])
def test_vocab_multiple_of_block_v1000_all_terms(dtype):
    cfg = PolicyLossConfig(clip_high=0.28, dual_clip=3.0, kl_coef=0.1, entropy_coef=0.02, eos_token_id=EOS,
                           temperature=1.3)
    check_against_fp64(1000, dtype, cfg, seed=1)


@pytest.mark.parametrize("dtype", DTYPES, ids=["fp32", "bf16"])
def test_on_policy_full_gradient(dtype):
    # old_logprobs=None: ratio exactly 1, pg1 == pg2; the gradient must be the full -A (no tie halving).
    cfg = PolicyLossConfig(eos_token_id=EOS)
    check_against_fp64(1031, dtype, cfg, with_old=False, with_ref=False)


@pytest.mark.parametrize("dtype", DTYPES, ids=["fp32", "bf16"])
@pytest.mark.parametrize("agg", ["seq-mean-token-sum", "seq-mean-token-mean"])
def test_sequence_aggregations_per_seq_advantages(agg, dtype):
    cfg = PolicyLossConfig(loss_agg=agg, entropy_coef=0.01, eos_token_id=EOS)
    check_against_fp64(1031, dtype, cfg, per_seq_adv=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=["fp32", "bf16"])
def test_gspo_sequence_ratio(dtype):
    cfg = PolicyLossConfig(ratio_level="sequence", loss_agg="seq-mean-token-mean", clip_low=3e-4, clip_high=4e-4,
                           kl_coef=0.02, eos_token_id=EOS)
    check_against_fp64(1000, dtype, cfg, use_seq_ids=True, seed=2)


def test_fully_masked_sequence_zero_grad_no_nan():
    cfg = PolicyLossConfig(loss_agg="seq-mean-token-mean", entropy_coef=0.01, kl_coef=0.05, eos_token_id=EOS)
    h, w, y, adv, mask, seq_ids, g = make_inputs(1031)
    truth, fast = check_against_fp64(1031, torch.float32, cfg, per_seq_adv=True, fully_masked_seq=int(seq_ids[0]))
    off = seq_ids == seq_ids[0]
    assert fast["grad_hidden"][off].abs().max().item() == 0.0
    assert fast["eos_grad"][off].abs().max().item() == 0.0


def test_all_masked_batch():
    h, w, y, adv, mask, seq_ids, g = make_inputs(1031)
    cfg = PolicyLossConfig(entropy_coef=0.01, eos_token_id=EOS)
    out = run_backend("triton", h, w, y, adv, torch.zeros(N), None, None, None, cfg, torch.float32)
    assert out["loss"].item() == 0.0
    assert out["grad_hidden"].abs().max().item() == 0.0 and out["grad_weight"].abs().max().item() == 0.0
    for k in ("logprobs", "p_eos", "eos_grad", "clip_frac", "entropy"):
        assert torch.isfinite(out[k]).all(), k


def test_all_negative_logits_and_3d_input():
    # Every logit < 0 (the running max must start at -inf, not 0), [B, T, H] input, bf16.
    B, T, V = 3, 11, 1031
    g = torch.Generator().manual_seed(3)
    h = torch.rand(B, T, H, generator=g, dtype=torch.float64) + 0.1
    w = -(torch.rand(V, H, generator=g, dtype=torch.float64) + 0.5)
    assert (h @ w.t()).max() < 0
    y = torch.randint(0, V, (B, T), generator=g)
    adv = torch.randn(B, generator=g, dtype=torch.float64)
    mask = torch.ones(B, T)
    mask[0, 7:] = 0
    cfg = PolicyLossConfig(loss_agg="seq-mean-token-sum-norm", eos_token_id=EOS, compute_entropy=True)
    for dtype in (torch.float32, torch.bfloat16):
        hd, wd = h.to(dtype).double(), w.to(dtype).double()
        truth = run_backend("reference", hd, wd, y, adv, mask, None, None, None, cfg, torch.float64)
        fast = run_backend("triton", hd, wd, y, adv, mask, None, None, None, cfg, dtype)
        base = run_backend("reference", hd, wd, y, adv, mask, None, None, None, cfg, dtype)
        for key in FIELDS + ("grad_hidden", "grad_weight"):
            t = truth[key]
            if t is None:  # kl: no ref_logprobs
                assert fast[key] is None
                continue
            assert fast[key].shape == t.shape, key
            atol = ATOL[dtype] * max(t.abs().max().item(), 1.0)
            # the same-dtype baseline here is the reference backend; bf16 grads also round dz to bf16
            slack = 4.0 if (dtype == torch.bfloat16 and key.startswith("grad")) else 2.0
            assert err(fast[key], t) <= slack * err(base[key], t) + atol, key


def test_autograd_function_scales_by_grad_output_and_partial_grads():
    h, w, y, adv, mask, seq_ids, g = make_inputs(1000)
    h, w = h.float(), w.float()
    cfg = PolicyLossConfig(entropy_coef=0.01)
    inputs = loss_mod.prepare_inputs(h, w, y, adv.float(), mask, None, None, None, None, cfg)
    # only hidden needs a gradient: the weight-gradient kernel is not launched
    hh = h.clone().requires_grad_(True)
    loss = fpl.TritonPolicyLossFunction.apply(hh, w, inputs, cfg, None)
    (3.0 * loss).backward()
    hr = h.clone().requires_grad_(True)
    inputs_r = loss_mod.prepare_inputs(hr, w, y, adv.float(), mask, None, None, None, None, cfg)
    (3.0 * fpl.reference_policy_loss(inputs_r, cfg).loss).backward()
    assert torch.allclose(hh.grad, hr.grad, rtol=1e-4, atol=1e-6)
    assert torch.allclose(loss, fpl.reference_policy_loss(inputs_r, cfg).loss.detach(), rtol=1e-5, atol=1e-6)


def test_nondeterministic_mode_matches():
    # config.deterministic=False: one backward kernel, dh added with atomics. Same values up to rounding.
    cfg = PolicyLossConfig(entropy_coef=0.01)
    h, w, y, adv, mask, seq_ids, g = make_inputs(1031)
    h, w = h.float(), w.float()
    a = run_backend("triton", h, w, y, adv, mask, None, None, None, cfg, torch.float32)
    cfg_nd = PolicyLossConfig(entropy_coef=0.01, deterministic=False)
    b = run_backend("triton", h, w, y, adv, mask, None, None, None, cfg_nd, torch.float32)
    assert torch.allclose(a["grad_hidden"], b["grad_hidden"], rtol=1e-5, atol=1e-7)
    assert torch.equal(a["grad_weight"], b["grad_weight"])  # same kernel, same order
    assert torch.equal(a["loss"], b["loss"])


def test_deterministic_grads_repeat_bitwise():
    # In the interpreter as on GPU, the deterministic path has no order-dependent reduction.
    cfg = PolicyLossConfig(entropy_coef=0.01)
    h, w, y, adv, mask, seq_ids, g = make_inputs(1000)
    a = run_backend("triton", h, w, y, adv, mask, None, None, None, cfg, torch.bfloat16)
    b = run_backend("triton", h, w, y, adv, mask, None, None, None, cfg, torch.bfloat16)
    assert torch.equal(a["grad_hidden"], b["grad_hidden"]) and torch.equal(a["grad_weight"], b["grad_weight"])


def test_forward_stats_kernel_directly():
    # lse, logp, entropy and the EOS logit from the forward kernel, against fp64 at V % BLOCK_V != 0.
    h, w, y, *_ = make_inputs(1031)
    lse, logp, ent, ze = fpl.fused_policy_forward(h.float(), w.float(), y, 0.9, EOS, True)
    z = h @ w.t() / 0.9
    ls = torch.log_softmax(z, -1)
    assert torch.allclose(lse.double(), torch.logsumexp(z, -1), atol=1e-5)
    assert torch.allclose(logp.double(), ls.gather(1, y[:, None]).squeeze(1), atol=1e-5)
    assert torch.allclose(ent.double(), -(ls.exp() * ls).sum(-1), atol=1e-5)
    assert torch.allclose(ze.double(), z[:, EOS], atol=1e-5)


@pytest.mark.parametrize("case", ["token-dual-k3", "on-policy-k1", "gspo-k2", "per-seq-adv-clamp"])
def test_epilogue_kernel_equals_autograd_of_token_objective(case):
    """The Triton epilogue (per-token loss, its logp-gradient, clip mask, kl) against autograd through
    loss.py's token_objective, including ties (on-policy ratio 1), clamps and per-sequence gathers."""
    n = 300
    g = torch.Generator().manual_seed(5)
    logp = -torch.rand(n, generator=g) * 8
    seq_ids = torch.sort(torch.randint(0, 9, (n,), generator=g)).values
    mask = (torch.rand(n, generator=g) > 0.25).float()
    adv = torch.randn(n, generator=g)
    old = logp + 0.4 * torch.randn(n, generator=g)
    ref = logp + 0.4 * torch.randn(n, generator=g)
    kw = dict(dual_clip=3.0, kl_coef=0.1, kl_estimator="k3", clip_high=0.28)
    if case == "on-policy-k1":
        old, kw = None, dict(kl_coef=0.1, kl_estimator="k1")
    elif case == "gspo-k2":
        kw = dict(ratio_level="sequence", loss_agg="seq-mean-token-mean", kl_coef=0.1, kl_estimator="k2",
                  clip_low=3e-4, clip_high=4e-4)
    elif case == "per-seq-adv-clamp":
        adv = torch.randn(9, generator=g)
        old[:10] = logp[:10] + 30.0  # log-ratio clamp active: zero gradient from the ratio there
        ref[10:20] = logp[10:20] - 30.0  # k3 clamp active
        kw = dict(loss_agg="seq-mean-token-sum", kl_coef=0.1, kl_estimator="k3", dual_clip=2.0)
    cfg = PolicyLossConfig(**kw)
    h = torch.zeros(n, 4)
    inputs = loss_mod.prepare_inputs(h, torch.zeros(3, 4), torch.zeros(n, dtype=torch.long), adv, mask, old, ref,
                                     seq_ids, None, cfg)
    lv = logp.clone().requires_grad_(True)
    pt, clipped, kl = token_objective(lv, inputs, cfg)
    (g_ref,) = torch.autograd.grad((inputs.weights * pt).sum(), lv)
    pt_k, g_k, clipped_k, kl_k = fpl.triton_token_objective(logp, inputs, cfg)
    assert torch.allclose(pt_k, pt.detach(), rtol=1e-5, atol=1e-6)
    assert torch.allclose(g_k, g_ref, rtol=1e-5, atol=1e-8)
    assert torch.equal(clipped_k, clipped)
    assert torch.allclose(kl_k, kl.detach(), rtol=1e-5, atol=1e-6)
    if case == "on-policy-k1":  # full -A w (+ kl), not half of it
        assert torch.allclose(g_k, inputs.weights * (-adv + 0.1), rtol=1e-6, atol=1e-9)
