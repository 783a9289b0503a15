"""GPU-only checks of the Triton policy loss: large shapes, bitwise determinism, N * V > 2**31,
N >= 65536 (tokens on grid axis 0). No device query or triton import at module import time.

The `gpu` marker (tests/conftest.py) skips them without CUDA, and in a pytest process that runs
Triton in the interpreter (TRITON_INTERPRET=1, the default there): run them with TRITON_INTERPRET=0.
"""
import importlib

import pytest
import torch

pytestmark = [pytest.mark.gpu]

EOS = 151643 % 1000  # any id inside every vocabulary below


@pytest.fixture(scope="module")
def fpl():
    pytest.importorskip("triton", reason="triton is not installed")
    return importlib.import_module("rlev_fast.kernels.fused_policy_loss")


def _inputs(N, H, V, dtype, seed=0, scale=None):
    g = torch.Generator(device="cuda").manual_seed(seed)
    scale = scale if scale is not None else H ** -0.5 * 2.0
    h = torch.randn(N, H, device="cuda", generator=g).to(dtype)
    w = (torch.randn(V, H, device="cuda", generator=g) * scale).to(dtype)
    y = torch.randint(0, V, (N,), device="cuda", generator=g)
    adv = torch.randn(N, device="cuda", generator=g)
    mask = (torch.rand(N, device="cuda", generator=g) > 0.1).float()
    return h, w, y, adv, mask


def _run(backend, h, w, y, adv, mask, cfg, dtype=None, **kw):
    from rlev_fast.loss import policy_loss

    hh = (h if dtype is None else h.to(dtype)).detach().requires_grad_(True)
    ww = (w if dtype is None else w.to(dtype)).detach().requires_grad_(True)
    out = policy_loss(hh, ww, y, adv.to(torch.float64 if hh.dtype == torch.float64 else torch.float32), mask,
                      config=cfg, backend=backend, **kw)
    out.loss.backward()
    return out, hh.grad, ww.grad


def _err(a, b):
    return (a.double() - b.double()).abs().max().item()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_large_vocab_against_fp64(fpl, dtype):
    # Qwen2.5 vocabulary (151936 = 128 * 1187, not a multiple of 256), N not a multiple of any block.
    from rlev_fast.loss import PolicyLossConfig

    N, H, V = 1037, 512, 151936
    h, w, y, adv, mask = _inputs(N, H, V, dtype)
    lp = torch.randn(N, device="cuda") * 0.1
    cfg = PolicyLossConfig(clip_high=0.28, dual_clip=3.0, kl_coef=0.05, entropy_coef=0.01, eos_token_id=EOS,
                           temperature=0.9)
    truth, th, tw = _run("reference", h, w, y, adv, mask, cfg, torch.float64)
    old = truth.logprobs.float() + lp
    ref = truth.logprobs.float() - lp
    truth, th, tw = _run("reference", h, w, y, adv, mask, cfg, torch.float64, old_logprobs=old, ref_logprobs=ref)
    fast, fh, fw = _run("triton", h, w, y, adv, mask, cfg, old_logprobs=old, ref_logprobs=ref)
    base, bh, bw = _run("reference", h, w, y, adv, mask, cfg, old_logprobs=old, ref_logprobs=ref)
    atol_rel = 1e-6 if dtype == torch.float32 else 1e-4
    pairs = [(k, getattr(fast, k), getattr(base, k), getattr(truth, k))
             for k in ("loss", "logprobs", "p_eos", "eos_grad", "kl", "entropy")]
    pairs += [("grad_hidden", fh, bh, th), ("grad_weight", fw, bw, tw)]
    for key, f, b, t in pairs:
        atol = atol_rel * max(t.abs().max().item(), 1.0)
        # bf16: the gradient dots take dz rounded to bf16 (tensor cores); allow 4x the fp32-math reference there
        slack = 4.0 if (dtype == torch.bfloat16 and key.startswith("grad")) else 2.0
        assert _err(f, t) <= slack * _err(b, t) + atol, (key, _err(f, t), _err(b, t))


def test_deterministic_grads_bitwise(fpl):
    from rlev_fast.loss import PolicyLossConfig

    N, H, V = 4099, 1024, 151936
    h, w, y, adv, mask = _inputs(N, H, V, torch.bfloat16, seed=1)
    cfg = PolicyLossConfig(entropy_coef=0.01, eos_token_id=EOS)  # deterministic=True is the default
    a, ah, aw = _run("triton", h, w, y, adv, mask, cfg)
    b, bh, bw = _run("triton", h, w, y, adv, mask, cfg)
    assert torch.equal(ah, bh) and torch.equal(aw, bw)
    assert torch.equal(a.loss, b.loss) and torch.equal(a.eos_grad, b.eos_grad)
    # the atomic path (deterministic=False) gives the same values up to rounding
    c, ch, cw = _run("triton", h, w, y, adv, mask, PolicyLossConfig(entropy_coef=0.01, deterministic=False))
    assert torch.equal(cw, aw)
    assert torch.allclose(ch.float(), ah.float(), rtol=2e-2, atol=1e-4 * ah.float().abs().max().item())


def test_n_times_v_beyond_int32(fpl):
    # N * V = 16384 * 151936 = 2.49e9 > 2**31: int64 offsets in every kernel.
    from rlev_fast.loss import PolicyLossConfig

    N, H, V = 16384, 64, 151936
    assert N * V > 2 ** 31
    h, w, y, adv, mask = _inputs(N, H, V, torch.bfloat16, seed=2)
    cfg = PolicyLossConfig(eos_token_id=EOS, compute_entropy=True)
    fast, fh, fw = _run("triton", h, w, y, adv, mask, cfg)
    base, bh, bw = _run("reference", h, w, y, adv, mask, cfg)
    assert torch.isfinite(fh.float()).all() and torch.isfinite(fw.float()).all()
    assert torch.allclose(fast.logprobs, base.logprobs, atol=1e-4, rtol=1e-5)
    assert torch.allclose(fast.p_eos, base.p_eos, atol=1e-6, rtol=1e-4)
    # the last tokens: an int32 overflow would corrupt exactly these rows
    assert torch.allclose(fast.logprobs[-64:], base.logprobs[-64:], atol=1e-4, rtol=1e-5)
    assert torch.allclose(fh.float(), bh.float(), rtol=3e-2, atol=2e-2 * bh.float().abs().max().item())
    assert torch.allclose(fw.float(), bw.float(), rtol=3e-2, atol=2e-2 * bw.float().abs().max().item())


def test_many_tokens_grid_axis0(fpl):
    # N >= 65536 token tiles would overflow grid axis 1 or 2 (65535); tokens sit on axis 0.
    from rlev_fast.loss import PolicyLossConfig

    N, H, V = 65536 * 2 + 37, 64, 1031
    h, w, y, adv, mask = _inputs(N, H, V, torch.float32, seed=3)
    cfg = PolicyLossConfig(eos_token_id=EOS, entropy_coef=0.01)
    fast, fh, fw = _run("triton", h, w, y, adv, mask, cfg)
    base, bh, bw = _run("reference", h, w, y, adv, mask, cfg)
    assert torch.allclose(fast.loss, base.loss, rtol=1e-5, atol=1e-7)
    assert torch.allclose(fast.logprobs, base.logprobs, atol=1e-5)
    assert torch.allclose(fh, bh, rtol=1e-4, atol=1e-5 * bh.abs().max().item())
    assert torch.allclose(fw, bw, rtol=1e-4, atol=1e-5 * bw.abs().max().item())
