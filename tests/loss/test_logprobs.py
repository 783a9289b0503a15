"""`rlev_fast.fused_logprobs` against the float64 log-softmax, in values and gradients.

Truth: torch.log_softmax in float64 on the inputs as rounded to the tested dtype, computed here (not by
any backend). Criterion (DESIGN.md): |backend(dtype) - truth| <= 2 |plain PyTorch(dtype) - truth| + atol,
where plain PyTorch is the larger error of the reference backend on the dtype's inputs (fp32 math) and an
eager computation in the dtype itself (logits and log-softmax in bf16, as a bf16 step computes them).
Gradients are taken of sum_t (a_t logp_t + b_t H_t) with random a, b, so both outputs' backward counts.
Shapes are odd on purpose: V prime (vocabulary tails), N not a multiple of the chunk or the tile.
The triton backend runs in the Triton interpreter (tests/conftest.py) at small shapes.
"""
import math

import pytest
import torch

import rlev_fast as rf
from rlev_fast.logprobs import LOGPROB_BACKENDS, resolve_logprob_backend

# The interpreter runs the kernels in numpy, which warns when the overflow a test provokes happens.
pytestmark = [pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")]

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
ATOL = {torch.float32: 1e-6, torch.bfloat16: 1e-4}  # relative to the quantity's largest |truth|
EOS = 3


def _backends(triton_marks=(pytest.mark.interpret,)):
    return ["reference", "chunked", pytest.param("triton", marks=list(triton_marks))]


def make(N, H, V, seed=0, lead=None, ignore_every=0, spread=2.0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(N, H, generator=g, dtype=torch.float64)
    w = torch.randn(V, H, generator=g, dtype=torch.float64) * (spread / math.sqrt(H))
    y = torch.randint(0, V, (N,), generator=g)
    y[::7] = EOS
    if ignore_every:
        y[1::ignore_every] = -100
    a = torch.randn(N, generator=g, dtype=torch.float64)
    b = torch.randn(N, generator=g, dtype=torch.float64)
    if lead is not None:
        h, y, a, b = h.reshape(*lead, H), y.reshape(lead), a.reshape(lead), b.reshape(lead)
    return h, w, y, a, b


def truth(h, w, y, a, b, temperature):
    """float64 log-softmax: logp, entropy, p(EOS) and the gradients of sum(a logp + b H)."""
    hh, ww = h.double().detach().requires_grad_(True), w.double().detach().requires_grad_(True)
    logsm = torch.log_softmax(hh @ ww.t() / temperature, -1)
    valid = y != -100
    logp = logsm.gather(-1, y.clamp(min=0)[..., None]).squeeze(-1) * valid
    ent = -(logsm.exp() * logsm).sum(-1) * valid
    ((a * logp).sum() + (b * ent).sum()).backward()
    return dict(logprobs=logp.detach(), entropy=ent.detach(), p_eos=logsm[..., EOS].exp().detach() * valid,
                grad_hidden=hh.grad, grad_weight=ww.grad)


def eager_same_dtype(h, w, y, a, b, temperature, dtype):
    """Plain eager PyTorch in `dtype`: logits and log-softmax in that dtype."""
    hh, ww = h.to(dtype).detach().requires_grad_(True), w.to(dtype).detach().requires_grad_(True)
    logsm = torch.log_softmax(hh @ ww.t() / temperature, -1)
    valid = y != -100
    logp = logsm.gather(-1, y.clamp(min=0)[..., None]).squeeze(-1) * valid
    ent = -(logsm.exp() * logsm).sum(-1) * valid
    ((a.to(dtype) * logp).sum() + (b.to(dtype) * ent).sum()).backward()
    return dict(logprobs=logp.detach(), entropy=ent.detach(), p_eos=logsm[..., EOS].exp().detach() * valid,
                grad_hidden=hh.grad, grad_weight=ww.grad)


def run(backend, h, w, y, a, b, temperature, dtype, **kw):
    hh, ww = h.to(dtype).detach().requires_grad_(True), w.to(dtype).detach().requires_grad_(True)
    out = rf.fused_logprobs(hh, ww, y, temperature, return_entropy=True, eos_token_id=EOS, backend=backend, **kw)
    ((a * out.logprobs.double()).sum() + (b * out.entropy.double()).sum()).backward()
    return dict(logprobs=out.logprobs, entropy=out.entropy, p_eos=out.p_eos, grad_hidden=hh.grad, grad_weight=ww.grad)


def err(x, t):
    return (x.double() - t.double()).abs().max().item()


def check(backend, h, w, y, a, b, temperature, dtype, **kw):
    rounded = (h.to(dtype).double(), w.to(dtype).double())
    tr = truth(*rounded, y, a, b, temperature)
    base = run("reference", h, w, y, a, b, temperature, dtype)
    eager = eager_same_dtype(h, w, y, a, b, temperature, dtype) if dtype != torch.float32 else base
    got = run(backend, h, w, y, a, b, temperature, dtype, **kw)
    for k in tr:
        assert got[k].shape == tr[k].shape, k
        # outputs in float32 (the compute dtype), gradients in the inputs' dtype
        assert got[k].dtype == (dtype if k.startswith("grad") else torch.float32), k
        scale = max(tr[k].abs().max().item(), 1e-30)
        e_got, e_base = err(got[k], tr[k]), max(err(base[k], tr[k]), err(eager[k], tr[k]))
        assert e_got <= 2 * e_base + ATOL[dtype] * scale, f"{backend} {k}: error {e_got:.3g} vs plain {e_base:.3g}"
    return got


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_against_fp64_log_softmax(backend, dtype, temperature):
    # triton in the interpreter: small; otherwise N = 301 (not a multiple of chunk 64), V = 1031 (prime)
    N, H, V = (37, 48, 131) if backend == "triton" else (301, 48, 1031)
    h, w, y, a, b = make(N, H, V, seed=1)
    check(backend, h, w, y, a, b, temperature, dtype, chunk_size=64)


@pytest.mark.parametrize("backend", _backends())
def test_ignored_positions_and_3d_input(backend):
    # [B, T, H] input with ignore_index rows: zeros there, no gradient to their hidden rows, and a NaN
    # in an ignored row changes nothing elsewhere.
    B, T, H, V = (3, 11, 16, 67) if backend == "triton" else (5, 23, 32, 257)
    h, w, y, a, b = make(B * T, H, V, seed=2, lead=(B, T), ignore_every=4)
    got = check(backend, h, w, y, a, b, 1.3, torch.float32, chunk_size=16)
    ignored = y == -100
    assert bool(ignored.any()) and bool((got["logprobs"][ignored] == 0).all()) and bool((got["entropy"][ignored] == 0).all())
    assert bool((got["grad_hidden"][ignored] == 0).all())
    h2 = h.clone()
    h2[ignored] = float("nan")
    again = run(backend, h2, w, y, a, b, 1.3, torch.float32, chunk_size=16)
    for k in ("logprobs", "entropy", "grad_weight"):
        assert torch.equal(again[k], got[k]), k


def test_gradcheck_chunked_fp64():
    # Analytic backward of the chunked Function (logprobs and entropy, temperature != 1) against
    # finite differences, chunk boundaries inside the batch.
    h, w, y, _, _ = make(9, 5, 13, seed=3)
    y[4] = -100
    h.requires_grad_(True)
    w.requires_grad_(True)

    def f(hh, ww):
        o = rf.fused_logprobs(hh, ww, y, 0.8, return_entropy=True, backend="chunked", chunk_size=4)
        return o.logprobs, o.entropy

    assert torch.autograd.gradcheck(f, (h, w))


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("which", ["logprobs", "entropy"])
def test_one_output_differentiated(backend, which):
    # Only one of the two outputs reaches the loss: the other's gradient is absent (None), not zeros.
    h, w, y, _, _ = make(21, 16, 67, seed=4)
    tr = {}
    for name, dt in (("truth", torch.float64), ("got", torch.float32)):
        hh, ww = h.to(dt).detach().requires_grad_(True), w.to(dt).detach().requires_grad_(True)
        out = rf.fused_logprobs(hh, ww, y, return_entropy=True, backend="reference" if name == "truth" else backend,
                                chunk_size=8)
        getattr(out, which).double().pow(2).sum().backward()
        tr[name] = (hh.grad, ww.grad)
    for g, t in zip(tr["got"], tr["truth"]):
        assert err(g, t) <= 1e-5 * t.abs().max().item()


@pytest.mark.parametrize("backend", _backends())
def test_all_ignored_backward_is_zero(backend):
    h, w, _, _, _ = make(6, 8, 17, seed=5)
    h, w = h.float().requires_grad_(True), w.float().requires_grad_(True)
    out = rf.fused_logprobs(h, w, torch.full((6,), -100), return_entropy=True, eos_token_id=EOS, backend=backend)
    assert bool((out.logprobs == 0).all()) and bool((out.entropy == 0).all()) and bool((out.p_eos == 0).all())
    out.logprobs.sum().backward()  # part of the graph: an all-padding micro-batch does not break backward
    assert bool((h.grad == 0).all()) and bool((w.grad == 0).all())


def test_no_grad_and_no_entropy_defaults():
    h, w, y, _, _ = make(10, 8, 29, seed=6)
    out = rf.fused_logprobs(h.float(), w.float(), y)
    assert out.entropy is None and out.p_eos is None and not out.logprobs.requires_grad
    t = truth(h, w, y, torch.zeros(10, dtype=torch.float64), torch.zeros(10, dtype=torch.float64), 1.0)
    assert err(out.logprobs, t["logprobs"]) < 1e-5


def test_auto_backend_and_env_override(monkeypatch):
    monkeypatch.delenv("RLEV_FAST_LOGPROB_BACKEND", raising=False)
    assert resolve_logprob_backend("auto", torch.device("cpu")) == "chunked"
    monkeypatch.setenv("RLEV_FAST_LOGPROB_BACKEND", "reference")
    assert resolve_logprob_backend("auto", torch.device("cpu")) == "reference"
    monkeypatch.setenv("RLEV_FAST_LOGPROB_BACKEND", "nope")
    with pytest.raises(ValueError, match="RLEV_FAST_LOGPROB_BACKEND must be one of reference, chunked, triton"):
        resolve_logprob_backend("auto", torch.device("cpu"))
    with pytest.raises(ValueError, match="unknown log-prob backend 'fast'; known: reference, chunked, triton"):
        rf.fused_logprobs(torch.zeros(2, 4), torch.zeros(5, 4), torch.zeros(2, dtype=torch.long), backend="fast")
    assert "chunked" in LOGPROB_BACKENDS


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("case, match", [
    (dict(hidden=torch.zeros(4)), r"hidden must be \[\.\.\., H\]"),
    (dict(weight=torch.zeros(7, 5)), r"weight must be \[V, H\] with H = 4"),
    (dict(weight=torch.zeros(7, 4, dtype=torch.float64)), "weight dtype torch.float64 differs from hidden dtype"),
    (dict(hidden=torch.zeros(3, 4, dtype=torch.int32)), "hidden must be a float tensor"),
    (dict(targets=torch.zeros(3)), "targets must be an integer tensor"),
    (dict(targets=torch.zeros(3, 1, dtype=torch.long)), r"targets must have shape \(3,\)"),
    (dict(targets=torch.tensor([0, 7, 1])), r"targets\[1\] = 7 \(flat index\) is outside the vocabulary \[0, 7\)"),
    (dict(targets=torch.tensor([0, -1, 1])), r"targets\[1\] = -1 .* not ignore_index=-100"),
    (dict(temperature=0.0), "temperature must be > 0.0"),
    (dict(temperature=-1.0), "temperature must be > 0.0"),
    (dict(temperature=NAN), "temperature must be a finite number"),
    (dict(temperature=1e-40), "temperature must be >= 1.1754944e-38"),
    (dict(chunk_size=0), "chunk_size must be an int >= 1"),
    (dict(eos_token_id=7), r"eos_token_id 7 is outside the vocabulary \[0, 7\)"),
    (dict(eos_token_id=-2), "eos_token_id must be a non-negative int"),
    (dict(weight=torch.zeros(7, 4, device="meta")), "weight is on meta but hidden is on cpu"),
    (dict(targets=[0, 1, 2]), "targets must be a torch.Tensor"),
])
def test_bad_inputs_are_named(case, match):
    args = dict(hidden=torch.zeros(3, 4), weight=torch.zeros(7, 4), targets=torch.tensor([0, 1, 2]))
    kw = {k: case.pop(k) for k in list(case) if k not in args}
    args.update(case)
    with pytest.raises((ValueError, TypeError), match=match):
        rf.fused_logprobs(args["hidden"], args["weight"], args["targets"], **kw)


@pytest.mark.parametrize("backend", _backends())
def test_non_finite_inputs_where_they_count(backend):
    h, w = torch.randn(5, 4), torch.randn(7, 4)
    y = torch.tensor([0, 1, 2, 3, -100])
    bad_h = h.clone()
    bad_h[2, 1] = NAN
    with pytest.raises(ValueError, match=r"hidden has a non-finite value at token 2 .*hidden\[2, 1\] = nan"):
        rf.fused_logprobs(bad_h, w, y, backend=backend)
    bad_w = w.clone()
    bad_w[6, 3] = INF
    with pytest.raises(ValueError, match=r"weight has a non-finite value at row 6 \(column 3\)"):
        rf.fused_logprobs(h, bad_w, y, backend=backend)
    huge = h.clone()
    huge[1] = 3e38
    with pytest.raises(ValueError, match="logits overflow float32 at token 1"):
        rf.fused_logprobs(huge, w, y, backend=backend)
    ok = h.clone()
    ok[4] = INF  # an ignored position: does not matter
    assert torch.equal(rf.fused_logprobs(ok, w, y, backend=backend).logprobs,
                       rf.fused_logprobs(h, w, y, backend=backend).logprobs)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_cuda_triton_large_vocab(dtype):
    # Qwen2.5's vocabulary (151936, not a multiple of 256), N not a multiple of any tile, on the GPU.
    assert resolve_logprob_backend("auto", torch.device("cuda")) == "triton"
    N, H, V = 1037, 256, 151936
    h, w, y, a, b = make(N, H, V, seed=7, ignore_every=9)
    tr = truth(h.to(dtype).double().cuda(), w.to(dtype).double().cuda(), y.cuda(), a.cuda(), b.cuda(), 0.9)
    base = run("reference", h.cuda(), w.cuda(), y.cuda(), a.cuda(), b.cuda(), 0.9, dtype)
    got = run("triton", h.cuda(), w.cuda(), y.cuda(), a.cuda(), b.cuda(), 0.9, dtype)
    for k in tr:
        scale = tr[k].abs().max().item()
        assert err(got[k], tr[k]) <= 2 * err(base[k], tr[k]) + ATOL[dtype] * scale, k
