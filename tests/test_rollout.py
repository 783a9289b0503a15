"""Rollouts: batch layout (groups consecutive, masks up to EOS), sampling options, vLLM's clear error."""
import importlib.util

import pytest
import torch

from rlev_fast.rollout import HFRollout, RolloutBatch, RolloutConfig, assemble_batch, encode_prompts, make_rollout


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
    from rlev_fast.train import PolicyTrunk, token_logprobs

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


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_vllm_missing_is_a_clear_error(tiny):
    model, tok = tiny
    with pytest.raises(RuntimeError, match="pip install vllm"):
        make_rollout(RolloutConfig(backend="vllm"), model, tok, model_path="/nonexistent")


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
