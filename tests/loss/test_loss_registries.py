"""The loss registries (rlev_fast.loss: KL_ESTIMATORS, LOSS_AGGS, LOSS_BACKENDS).

Unknown names are ValueErrors that list the known names (through PolicyLossConfig, through
`policy_loss(backend=...)` and through RLEV_FAST_LOSS_BACKEND); a name cannot be registered twice;
a KL estimator and an aggregation a user registers give, in the reference and chunked backends,
the loss and gradients of a float64 hand-written formula; a user backend is what `policy_loss`
calls; the triton backend refuses a KL estimator its kernel does not implement.

Every registration a test makes is undone in a fixture or a `finally`, and an autouse fixture
checks that each test leaves the registries as it found them, so test order cannot matter.
"""
import math
import subprocess
import sys

import pytest
import torch

from rlev_fast.loss import (KL_ESTIMATORS, LOSS_AGGS, LOSS_BACKENDS, PolicyLossConfig, aggregation_weights,
                            kl_penalty, policy_loss, register_backend, resolve_backend)
from rlev_fast.loss_reference import reference_policy_loss

BUILTIN_KL = ("k1", "k2", "k3")
BUILTIN_AGGS = ("token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")
BUILTIN_BACKENDS = ("reference", "chunked", "triton")


@pytest.fixture(autouse=True)
def registries_left_as_found():
    # Backend entries may legitimately go from a lazy "module:function" path to the function
    # (cached on first use), so only their names are compared.
    def entries(registry):
        return {name: registry.get(name) for name in registry}

    kl, aggs, backends = entries(KL_ESTIMATORS), entries(LOSS_AGGS), LOSS_BACKENDS.names()
    yield
    assert entries(KL_ESTIMATORS) == kl
    assert entries(LOSS_AGGS) == aggs
    assert LOSS_BACKENDS.names() == backends


# ----------------------------------------------------------------------------------------------
# A user KL estimator and a user aggregation, registered for one test at a time
# ----------------------------------------------------------------------------------------------
def k2x2(logp, ref):
    """Squared log-ratio: twice k2."""
    return (logp - ref) ** 2


def seq_mean_token_sqrt(m, sid, num_seqs, num_tokens, config, lead):
    """w_t = m_t / (S sqrt(|y_seq(t)|)): between seq-mean-token-sum and seq-mean-token-mean."""
    if sid is None:
        raise ValueError("seq-mean-token-sqrt needs seq_ids")
    S = max(num_seqs, 1)
    lengths = torch.zeros(S, dtype=m.dtype, device=m.device).index_add_(0, sid, m)
    return m / (S * lengths.clamp(min=1.0).sqrt()[sid])


@pytest.fixture
def user_kl():
    KL_ESTIMATORS.register("k2x2", k2x2)
    try:
        yield "k2x2"
    finally:
        KL_ESTIMATORS.unregister("k2x2")


@pytest.fixture
def user_agg():
    LOSS_AGGS.register("seq-mean-token-sqrt", seq_mean_token_sqrt)
    try:
        yield "seq-mean-token-sqrt"
    finally:
        LOSS_AGGS.unregister("seq-mean-token-sqrt")


@pytest.fixture
def user_backend():
    """Registers a backend by name; every registered name is removed afterwards."""
    names = []

    def register(name, fn_or_path, override=False):
        register_backend(name, fn_or_path, override=override)
        if name not in names:
            names.append(name)

    try:
        yield register
    finally:
        for name in names:
            LOSS_BACKENDS.unregister(name)


# ----------------------------------------------------------------------------------------------
# Inputs (small odd shapes) and the float64 hand-written loss
# ----------------------------------------------------------------------------------------------
N, H, V, S = 29, 13, 37, 5
CLIP = 0.2
KL_COEF = 0.1


def make_case(seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(N, H, generator=g, dtype=torch.float64)
    w = torch.randn(V, H, generator=g, dtype=torch.float64) * 0.4
    y = torch.randint(0, V, (N,), generator=g)
    adv = torch.randn(N, generator=g, dtype=torch.float64)
    mask = (torch.rand(N, generator=g) > 0.25).double()
    sid = torch.sort(torch.randint(0, S, (N,), generator=g)).values
    sid[-1] = S - 1  # S sequences: num_seqs = max(seq_ids) + 1
    mask[sid == 1] = 0.0  # one sequence without response tokens: its length clamps to 1, no 0 / 0
    logp = torch.log_softmax(h @ w.t(), -1).gather(1, y[:, None]).squeeze(1)
    old = logp + 0.3 * torch.randn(N, generator=g, dtype=torch.float64)  # ratios on both sides of the clip
    ref = logp + 0.3 * torch.randn(N, generator=g, dtype=torch.float64)
    return dict(h=h, w=w, y=y, adv=adv, mask=mask, sid=sid, old=old, ref=ref)


HAND_KL = {
    "k1": lambda d: d,
    "k2x2": lambda d: d * d,
}


def hand_weights(agg, mask, sid):
    """w_t token by token, in plain Python arithmetic."""
    m = mask.tolist()
    s = sid.tolist()
    out = []
    for t in range(N):
        if m[t] == 0.0:
            out.append(0.0)
        elif agg == "token-mean":
            out.append(1.0 / sum(m))
        elif agg == "seq-mean-token-sqrt":
            n_seq = sum(m[u] for u in range(N) if s[u] == s[t])
            out.append(1.0 / (S * math.sqrt(n_seq)))
        else:
            raise AssertionError(agg)
    return torch.tensor(out, dtype=torch.float64)


def hand_loss(c, kl_name, agg):
    """(loss, grad_h, grad_W, logprobs, mean kl) in float64:
    loss = sum_t w_t (max(-A r, -A clamp(r, 1 - eps, 1 + eps)) + kl_coef kl(logp - ref))."""
    h = c["h"].detach().clone().requires_grad_(True)
    W = c["w"].detach().clone().requires_grad_(True)
    z = h @ W.t()
    logp = z.gather(1, c["y"][:, None]).squeeze(1) - torch.logsumexp(z, -1)
    ratio = torch.exp(torch.clamp(logp - c["old"], -20.0, 20.0))
    A = c["adv"]
    pg = torch.maximum(-A * ratio, -A * torch.clamp(ratio, 1.0 - CLIP, 1.0 + CLIP))
    kl = HAND_KL[kl_name](logp - c["ref"])
    w = hand_weights(agg, c["mask"], c["sid"])
    loss = (w * (pg + KL_COEF * kl)).sum()
    loss.backward()
    m = c["mask"]
    return loss.detach(), h.grad, W.grad, logp.detach(), (kl.detach() * m).sum() / m.sum()


def run_backend(backend, c, cfg, dtype):
    h = c["h"].detach().to(dtype).requires_grad_(True)  # detached: .to(float64) would return c["h"] itself
    W = c["w"].detach().to(dtype).requires_grad_(True)
    f = lambda t: t.to(torch.float64 if dtype == torch.float64 else torch.float32)  # noqa: E731
    out = policy_loss(h, W, c["y"], f(c["adv"]), c["mask"], old_logprobs=f(c["old"]), ref_logprobs=f(c["ref"]),
                      seq_ids=c["sid"], config=cfg, backend=backend)
    out.loss.backward()
    return out.loss.detach(), h.grad, W.grad, out.logprobs, out.kl


# float64: the backends compute in float64, so they agree with the hand formula to rounding (~1e-16).
# float32: fp32 logits and per-token math against the float64 truth; the errors seen are ~1e-7 at
# magnitudes <= 7.5 (logprobs), so 1e-5 relative / 1e-6 absolute leaves a 10x margin.
TOL = {torch.float64: dict(rtol=1e-10, atol=1e-12), torch.float32: dict(rtol=1e-5, atol=1e-6)}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["fp64", "fp32"])
@pytest.mark.parametrize("backend", ["reference", "chunked"])
@pytest.mark.parametrize("kl_name, agg", [("k2x2", "token-mean"), ("k1", "seq-mean-token-sqrt"),
                                          ("k2x2", "seq-mean-token-sqrt")])
def test_user_kl_and_aggregation_match_hand_formula(user_kl, user_agg, kl_name, agg, backend, dtype):
    c = make_case()
    cfg = PolicyLossConfig(clip_low=CLIP, clip_high=CLIP, kl_coef=KL_COEF, kl_estimator=kl_name, loss_agg=agg,
                           chunk_size=8)  # 29 tokens: four chunks, the last one short
    truth = hand_loss(c, kl_name, agg)
    got = run_backend(backend, c, cfg, dtype)
    for key, t, g in zip(("loss", "grad_hidden", "grad_weight", "logprobs", "kl"), truth, got):
        assert g is not None, key
        # every backend reports logprobs and the mean kl in fp32; loss and gradients keep the dtype
        tol = TOL[torch.float32] if key in ("logprobs", "kl") else TOL[dtype]
        torch.testing.assert_close(g.double(), t, **tol, msg=lambda m, k=key: f"{k}: {m}")


def test_user_estimator_and_aggregation_are_the_registered_functions(user_kl, user_agg):
    # kl_penalty and aggregation_weights dispatch through the registries, nothing else.
    d = torch.linspace(-2, 2, 11, dtype=torch.float64)
    assert torch.equal(kl_penalty(d, torch.zeros_like(d), "k2x2"), d ** 2)
    c = make_case()
    cfg = PolicyLossConfig(loss_agg=user_agg)
    w = aggregation_weights(c["mask"], c["sid"], S, None, cfg, (N,))
    assert torch.equal(w, seq_mean_token_sqrt(c["mask"], c["sid"], S, None, cfg, (N,)))
    torch.testing.assert_close(w, hand_weights(user_agg, c["mask"], c["sid"]), rtol=1e-14, atol=0)


# ----------------------------------------------------------------------------------------------
# Unknown names, duplicate names
# ----------------------------------------------------------------------------------------------
def test_registries_read_as_their_builtin_names():
    # train.py uses them as argparse choices and in `in` checks.
    assert tuple(KL_ESTIMATORS) == BUILTIN_KL and list(KL_ESTIMATORS) == list(BUILTIN_KL)
    assert tuple(LOSS_AGGS) == BUILTIN_AGGS and len(LOSS_AGGS) == 4
    assert LOSS_BACKENDS.names() == BUILTIN_BACKENDS
    assert "k3" in KL_ESTIMATORS and "k4" not in KL_ESTIMATORS and "auto" not in LOSS_BACKENDS


@pytest.mark.parametrize("field, known", [("kl_estimator", BUILTIN_KL), ("loss_agg", BUILTIN_AGGS)])
def test_unknown_config_name_lists_known(field, known):
    with pytest.raises(ValueError) as e:
        PolicyLossConfig(**{field: "nope"})
    assert str(e.value) == f"PolicyLossConfig.{field} must be one of {', '.join(known)}; got 'nope'"


def test_unknown_name_lists_user_registered_names(user_kl, user_agg):
    with pytest.raises(ValueError, match=r"kl_estimator must be one of k1, k2, k3, k2x2; got 'k4'"):
        PolicyLossConfig(kl_estimator="k4")
    with pytest.raises(ValueError, match=r"loss_agg must be one of .*seq-mean-token-sum-norm, seq-mean-token-sqrt;"):
        PolicyLossConfig(loss_agg="mean")
    with pytest.raises(ValueError, match=r"unknown KL estimator 'k4'; known: k1, k2, k3, k2x2"):
        kl_penalty(torch.zeros(3), torch.zeros(3), "k4")


def _small_args():
    c = make_case()
    return (c["h"].float(), c["w"].float(), c["y"], c["adv"].float(), c["mask"])


def test_unknown_backend_lists_known(monkeypatch):
    monkeypatch.delenv("RLEV_FAST_LOSS_BACKEND", raising=False)
    with pytest.raises(ValueError) as e:
        policy_loss(*_small_args(), backend="nope")
    assert str(e.value) == "unknown loss backend 'nope'; known: reference, chunked, triton"
    monkeypatch.setenv("RLEV_FAST_LOSS_BACKEND", "nope")
    with pytest.raises(ValueError) as e:
        policy_loss(*_small_args())  # backend="auto": the env var names it
    assert str(e.value) == "RLEV_FAST_LOSS_BACKEND must be one of reference, chunked, triton; got 'nope'"


@pytest.mark.parametrize("registry, name", [(KL_ESTIMATORS, "k3"), (LOSS_AGGS, "token-mean"),
                                            (LOSS_BACKENDS, "reference")])
def test_duplicate_builtin_name_is_an_error(registry, name):
    before = registry.get(name)
    with pytest.raises(ValueError, match=f"'{name}' is already registered"):
        registry.register(name, lambda *a: None)
    assert registry.get(name) is before


def test_duplicate_user_names_and_register_backend(user_kl, user_backend):
    with pytest.raises(ValueError, match="'k2x2' is already registered"):
        KL_ESTIMATORS.register("k2x2", k2x2)
    with pytest.raises(ValueError, match="'chunked' is already registered"):
        register_backend("chunked", reference_policy_loss)
    user_backend("mine", reference_policy_loss)
    with pytest.raises(ValueError, match="'mine' is already registered"):
        register_backend("mine", reference_policy_loss)
    user_backend("mine", "rlev_fast.loss_chunked:chunked_policy_loss", override=True)  # on purpose: replaced
    assert LOSS_BACKENDS.get("mine") == "rlev_fast.loss_chunked:chunked_policy_loss"
    with pytest.raises(ValueError, match="must be a function or a 'module:function' path"):
        register_backend("bad", "rlev_fast.loss_reference.reference_policy_loss")
    assert "bad" not in LOSS_BACKENDS


# ----------------------------------------------------------------------------------------------
# Backends
# ----------------------------------------------------------------------------------------------
def test_user_backend_is_called_by_policy_loss(user_backend):
    calls = []

    def spy(inputs, config):
        calls.append((inputs, config))
        return reference_policy_loss(inputs, config)

    user_backend("spy", spy)
    cfg = PolicyLossConfig(kl_coef=0.05)
    c = make_case()
    args = _small_args()
    out = policy_loss(*args, ref_logprobs=c["ref"].float(), seq_ids=c["sid"], config=cfg, backend="spy")
    assert len(calls) == 1
    inputs, config = calls[0]
    assert config is cfg and inputs.hidden.shape == (N, H) and inputs.num_seqs == S
    ref = policy_loss(*args, ref_logprobs=c["ref"].float(), seq_ids=c["sid"], config=cfg, backend="reference")
    assert torch.equal(out.loss, ref.loss) and torch.equal(out.kl, ref.kl)


def test_lazy_backend_path_is_resolved_and_cached(user_backend, monkeypatch):
    monkeypatch.delenv("RLEV_FAST_LOSS_BACKEND", raising=False)
    user_backend("lazy-reference", "rlev_fast.loss_reference:reference_policy_loss")
    assert isinstance(LOSS_BACKENDS.get("lazy-reference"), str)
    out = policy_loss(*_small_args(), backend="lazy-reference")
    assert LOSS_BACKENDS.get("lazy-reference") is reference_policy_loss
    assert torch.equal(out.loss, policy_loss(*_small_args(), backend="reference").loss)
    # the env var may name a user backend too
    monkeypatch.setenv("RLEV_FAST_LOSS_BACKEND", "lazy-reference")
    assert resolve_backend("auto", torch.device("cpu")) == "lazy-reference"


def test_unimportable_backend(user_backend, monkeypatch):
    monkeypatch.delenv("RLEV_FAST_LOSS_BACKEND", raising=False)
    user_backend("missing", "rlev_fast_no_such_module:policy_loss")
    assert resolve_backend("missing", torch.device("cpu")) == "missing"  # a known name, explicitly asked for
    with pytest.raises(RuntimeError, match="'missing' is not available here"):
        policy_loss(*_small_args(), backend="missing")
    # "auto" passes over a backend that does not import: chunked unavailable -> reference
    saved = LOSS_BACKENDS.get("chunked")
    LOSS_BACKENDS.set("chunked", "rlev_fast_no_such_module:chunked_policy_loss")
    try:
        assert resolve_backend("auto", torch.device("cpu")) == "reference"
    finally:
        LOSS_BACKENDS.set("chunked", saved)
    assert resolve_backend("auto", torch.device("cpu")) == "chunked"


def test_importing_rlev_fast_does_not_import_triton():
    code = ("import sys, rlev_fast; from rlev_fast.loss import LOSS_BACKENDS; "
            "assert 'triton' not in sys.modules, 'triton imported'; "
            "assert isinstance(LOSS_BACKENDS.get('triton'), str), 'triton entry resolved at import'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ----------------------------------------------------------------------------------------------
# The triton backend (interpreter): its kernel has k1, k2, k3 only; aggregations come as weights
# ----------------------------------------------------------------------------------------------
@pytest.mark.interpret
def test_triton_refuses_user_kl_estimator(user_kl):
    pytest.importorskip("triton", reason="triton is not installed")
    c = make_case()
    cfg = PolicyLossConfig(kl_coef=KL_COEF, kl_estimator=user_kl)
    with pytest.raises(ValueError) as e:
        policy_loss(*_small_args(), ref_logprobs=c["ref"].float(), config=cfg, backend="triton")
    assert str(e.value) == ("the triton backend implements KL estimators k1, k2, k3; 'k2x2' is only available "
                            "in the reference and chunked backends")


@pytest.mark.interpret
def test_triton_refuses_re_registered_builtin_kl_estimator():
    pytest.importorskip("triton", reason="triton is not installed")
    c = make_case()
    cfg = PolicyLossConfig(kl_coef=KL_COEF, kl_estimator="k1")
    saved = KL_ESTIMATORS.get("k1")
    KL_ESTIMATORS.register("k1", k2x2, override=True)
    try:
        with pytest.raises(ValueError, match=r"'k1' \(re-registered with another function\) is only available"):
            policy_loss(*_small_args(), ref_logprobs=c["ref"].float(), config=cfg, backend="triton")
    finally:
        KL_ESTIMATORS.set("k1", saved)


@pytest.mark.interpret
def test_triton_runs_user_aggregation(user_agg):
    # The kernels consume the weights w_t computed in loss.py: a registered aggregation needs no kernel.
    pytest.importorskip("triton", reason="triton is not installed")
    c = make_case()
    cfg = PolicyLossConfig(clip_low=CLIP, clip_high=CLIP, kl_coef=KL_COEF, kl_estimator="k1", loss_agg=user_agg)
    truth = hand_loss(c, "k1", user_agg)
    got = run_backend("triton", c, cfg, torch.float32)
    for key, t, g in zip(("loss", "grad_hidden", "grad_weight", "logprobs", "kl"), truth, got):
        torch.testing.assert_close(g.double(), t, **TOL[torch.float32], msg=lambda m, k=key: f"{k}: {m}")
