"""Variable-length attention over packed rows: every backend against a float64 reference that
materializes each document's mask, on odd document lengths, documents of one token, grouped-query
heads and shared-prompt (prefix) documents; the transformers routing, the probe and its refusals."""
import warnings

import pytest
import torch

from rlev_fast import varlen_attention as VA
from rlev_fast.varlen_attention import PackingUnsupported, VarlenMeta

# (q_lens, k_lens, kv_index): square documents (one of a single token); and a shared-prompt layout as
# rlev_fast/packing.py builds it: a prompt of 5 tokens, then three completions attending to it.
SQUARE = ([1, 7, 3, 12, 2], [1, 7, 3, 12, 2], None)
PREFIX = ([5, 3, 1, 6, 4], [5, 8, 6, 11, 4],
          [*range(0, 5), *range(0, 5), *range(5, 8), *range(0, 5), 8, *range(0, 5), *range(9, 15), *range(15, 19)])
LAYOUTS = {"square": SQUARE, "prefix": PREFIX}


def reference_attention(q, k, v, q_lens, k_lens, kv_index, scale):
    """float64 attention of the packed row with the full [Nq, Nk] document mask materialized."""
    if kv_index is not None:
        idx = torch.tensor(kv_index)
        k, v = k.index_select(2, idx), v.index_select(2, idx)
    h = q.shape[1]
    k, v = k.repeat_interleave(h // k.shape[1], 1), v.repeat_interleave(h // v.shape[1], 1)
    allowed = torch.zeros(sum(q_lens), sum(k_lens), dtype=torch.bool)
    qa = ka = 0
    for lq, lk in zip(q_lens, k_lens):
        allowed[qa : qa + lq, ka : ka + lk] = torch.ones(lq, lk, dtype=torch.bool).tril(lk - lq)
        qa, ka = qa + lq, ka + lk
    scores = (q.double() @ k.double().transpose(-1, -2)) * scale
    p = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
    return (p @ v.double()).transpose(1, 2)  # (1, Nq, h, d)


def _inputs(layout, heads=4, kv_heads=2, d=16, dtype=torch.float64, seed=0):
    q_lens, k_lens, kv = LAYOUTS[layout]
    n = sum(q_lens)
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(1, heads, n, d, generator=g, dtype=dtype)
    k = torch.randn(1, kv_heads, n, d, generator=g, dtype=dtype)
    v = torch.randn(1, kv_heads, n, d, generator=g, dtype=dtype)
    meta = VarlenMeta.build(q_lens, k_lens, None if kv is None else torch.tensor(kv), "cpu")
    return q, k, v, meta, (q_lens, k_lens, kv)


class _Attn(torch.nn.Module):
    is_causal = True


def _run(backend, q, k, v, meta, scale=0.3):
    meta.backend = backend
    meta.cache.clear()
    return VA.varlen_attention_forward(_Attn(), q, k, v, None, scaling=scale, rlev_varlen=meta)[0]


@pytest.mark.parametrize("layout", ["square", "prefix"])
@pytest.mark.parametrize("kv_heads", [4, 2, 1])
def test_per_sequence_matches_the_reference_in_value_and_gradient(layout, kv_heads):
    q, k, v, meta, spec = _inputs(layout, kv_heads=kv_heads)
    for t in (q, k, v):
        t.requires_grad_(True)
    got = _run("per_sequence", q, k, v, meta)
    want = reference_attention(q, k, v, *spec, 0.3)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    w = torch.randn(got.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    g_got = torch.autograd.grad((got * w).sum(), (q, k, v))
    g_want = torch.autograd.grad((want * w).sum(), (q, k, v))
    for a, b in zip(g_got, g_want):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layout", ["square", "prefix"])
def test_flex_document_mask_matches_the_reference_forward(layout):
    """FlexAttention's block mask (the CUDA default without flash-attn) runs on the CPU in eager mode,
    forward only (torch has no CPU FlexAttention backward): its document mask is checked here, its
    compiled kernels and gradients by the gpu tests."""
    q, k, v, meta, spec = _inputs(layout)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "called without torch.compile()": expected on CPU
        got = _run("flex", q, k, v, meta)
    torch.testing.assert_close(got, reference_attention(q, k, v, *spec, 0.3), rtol=1e-12, atol=1e-12)


def test_nested_lays_the_packed_row_out_as_jagged_documents(monkeypatch):
    """torch's jagged SDPA has no causal kernel on the CPU (its CUDA kernels are checked by the gpu
    tests): here the nested backend runs non-causally, which checks its layout round trip (row ->
    jagged documents, grouped-query heads -> the row again) against per-document SDPA."""
    import torch.nn.functional as F

    q, k, v, meta, (q_lens, _, _) = _inputs("square")
    sdpa = F.scaled_dot_product_attention
    monkeypatch.setattr(VA.F, "scaled_dot_product_attention", lambda *a, **kw: sdpa(*a, **{**kw, "is_causal": False}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "nested tensors ... prototype stage"
        got = VA.nested_attention(q, k, v, meta, 0.3, 0.0)
    kk, vv = k.repeat_interleave(2, 1), v.repeat_interleave(2, 1)
    want = torch.cat([sdpa(a, b, c, scale=0.3) for a, b, c in zip(q.split(q_lens, 2), kk.split(q_lens, 2),
                                                                   vv.split(q_lens, 2))], 2).transpose(1, 2)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_nested_refuses_documents_with_more_keys_than_queries():
    q, k, v, meta, _ = _inputs("prefix")
    with pytest.raises(PackingUnsupported, match="square documents only"):
        _run("nested", q, k, v, meta)


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["nested", "flex", "flash_attn", "per_sequence"])
@pytest.mark.parametrize("layout", ["square", "prefix"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_backends_match_the_reference(backend, layout, dtype):
    """Every backend on CUDA, value and gradients, against the float64 reference: within 2x the error
    of per_sequence (plain SDPA) in the same dtype plus a small atol (DESIGN.md's rule)."""
    if backend == "nested" and layout == "prefix":
        pytest.skip("nested takes square documents only")
    if backend == "flash_attn" and (dtype == torch.float32 or not VA.flash_attn_available()):
        pytest.skip("flash-attn: not installed, or not for float32")
    q, k, v, meta, spec = _inputs(layout, dtype=dtype)
    q, k, v = (t.cuda().requires_grad_(True) for t in (q, k, v))
    meta = VarlenMeta.build(meta.q_lens, meta.k_lens, meta.kv_index, "cuda")
    want = reference_attention(q.double(), k.double(), v.double(), *spec, 0.3)
    w = torch.randn(want.shape, dtype=torch.float64, device="cuda")
    g_want = torch.autograd.grad((want * w).sum(), (q, k, v))

    def err(name):
        out = _run(name, q, k, v, meta)
        grads = torch.autograd.grad((out.double() * w).sum(), (q, k, v))
        return max([float((out.double() - want).abs().max())] +
                   [float((a.double() - b.double()).abs().max()) for a, b in zip(grads, g_want)])

    atol = 1e-5 if dtype == torch.float32 else 2e-2
    assert err(backend) <= 2 * err("per_sequence") + atol


def test_auto_backend_and_the_environment_override(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.delenv(VA.ENV_BACKEND, raising=False)
    assert VA.resolve_backend("auto", cpu, torch.float32) == "per_sequence"
    monkeypatch.setenv(VA.ENV_BACKEND, "flex")
    assert VA.resolve_backend("auto", cpu, torch.float32) == "flex"
    assert VA.resolve_backend("per_sequence", cpu, torch.float32) == "per_sequence"  # an explicit name wins
    monkeypatch.setenv(VA.ENV_BACKEND, "nope")
    with pytest.raises(ValueError, match="RLEV_FAST_ATTENTION_BACKEND must be one of .*per_sequence"):
        VA.resolve_backend("auto", cpu, torch.float32)
    with pytest.raises(ValueError, match="flash_attn, flex, nested"):
        VA.resolve_backend("cudnn", cpu, torch.float32)


def test_attention_refuses_what_a_packed_row_cannot_honour():
    q, k, v, meta, _ = _inputs("square")
    mod = _Attn()
    with pytest.raises(PackingUnsupported, match="without the packing metadata"):
        VA.varlen_attention_forward(mod, q, k, v, None)
    with pytest.raises(PackingUnsupported, match="attention mask of its own"):
        VA.varlen_attention_forward(mod, q, k, v, torch.ones(1, 1, 25, 25), rlev_varlen=meta)
    with pytest.raises(PackingUnsupported, match="sliding window of 8 tokens and a packed document holds 12"):
        VA.varlen_attention_forward(mod, q, k, v, None, sliding_window=8, rlev_varlen=meta)
    VA.varlen_attention_forward(mod, q, k, v, None, sliding_window=12, rlev_varlen=meta)  # the window covers it
    with pytest.raises(PackingUnsupported, match="soft-capping"):
        VA.varlen_attention_forward(mod, q, k, v, None, softcap=30.0, rlev_varlen=meta)
    mod.is_causal = False
    with pytest.raises(PackingUnsupported, match="not causal"):
        VA.varlen_attention_forward(mod, q, k, v, None, rlev_varlen=meta)
    with pytest.raises(ValueError, match="one row of 25 tokens"):
        VA.varlen_attention_forward(_Attn(), q[:, :, :7], k, v, None, rlev_varlen=meta)
    with pytest.raises(ValueError, match="1 <= q_len <= k_len"):
        VarlenMeta.build([3, 0], [3, 0], None, "cpu")
    with pytest.raises(ValueError, match="need kv_index"):
        VarlenMeta.build([3, 2], [3, 4], None, "cpu")


def _llama(seed=0, **kw):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2, max_position_embeddings=64)
    cfg.update(kw)
    return LlamaForCausalLM(LlamaConfig(**cfg)).eval()


def test_probe_accepts_llama_and_installs_it_without_changing_unpacked_calls():
    """After a successful probe the model routes packed calls to the varlen kernels and every other
    call (here: a left-padded batch with its mask, as generate and evaluation send) to its own
    attention, with the same logits as before."""
    model = _llama()
    ids = torch.randint(1, 64, (2, 9), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, :4] = 0
    with torch.no_grad():
        before = model(input_ids=ids, attention_mask=mask).logits
    base = model.config._attn_implementation
    ok, note = VA.packing_support(model)
    assert ok and note == "per_sequence"
    assert model.config._attn_implementation == f"{VA.ATTENTION_NAME}+{base}"
    with torch.no_grad():
        after = model(input_ids=ids, attention_mask=mask).logits
    assert torch.equal(before, after)
    greedy = model.generate(ids, attention_mask=mask, max_new_tokens=4, do_sample=False)
    VA.uninstall_packed_attention(model)
    assert model.config._attn_implementation == base
    assert torch.equal(greedy, model.generate(ids, attention_mask=mask, max_new_tokens=4, do_sample=False))


def test_probe_refuses_a_model_whose_attention_ignores_the_packing():
    """A model that does not hand its keyword arguments to attention (custom code) runs its own
    attention over the whole row, across the packed documents: the probe's comparison with separate
    forwards sees it, says why, and leaves the model as it was."""
    from transformers.models.llama import modeling_llama

    model = _llama()
    base = model.config._attn_implementation

    class Unaware(modeling_llama.LlamaAttention):
        def forward(self, hidden_states, position_embeddings=None, attention_mask=None, cache=None, **kwargs):
            kwargs.pop("rlev_varlen", None)  # drops what it does not know
            return super().forward(hidden_states, position_embeddings, attention_mask, cache, **kwargs)

    for layer in model.model.layers:
        layer.self_attn.__class__ = Unaware
    ok, why = VA.packing_support(model)
    assert not ok and "differs from separate forwards" in why and "mixes the packed documents" in why
    assert model.config._attn_implementation == base

    model.__class__ = type("NoInterface", (type(model),), {"_supports_attention_backend": False})
    ok, why = VA.packing_support(model)
    assert not ok and "does not route its attention through transformers' AttentionInterface" in why


@pytest.mark.parametrize("family,packs", [("Qwen2", True), ("Qwen3", True), ("Mistral", True), ("GPT2", True),
                                          ("Gemma2", False)])
def test_probe_across_transformers_families(family, packs):
    """What README claims: these families pass the probe; Gemma2 (soft-capped attention) falls back."""
    import transformers

    config = getattr(transformers, f"{family}Config")
    if family == "GPT2":
        model = transformers.GPT2LMHeadModel(config(vocab_size=64, n_embd=32, n_layer=2, n_head=4))
    else:
        model = getattr(transformers, f"{family}ForCausalLM")(config(
            vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=8, pad_token_id=0, bos_token_id=1, eos_token_id=2))
    ok, why = VA.packing_support(model.eval())
    assert ok == packs, why
    if not packs:
        assert "soft-capping" in why
