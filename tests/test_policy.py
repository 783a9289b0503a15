"""Tiny tokenizer and model, the shipped checkpoint, hidden states, and loading local models."""
import json
import os

import pytest
import torch

from rlev_fast.data import default_rows
from rlev_fast.policy import (
    ALPHABET,
    ASSET_DIR,
    build_tiny_model,
    build_tokenizer,
    final_hidden_states,
    lm_head_weight,
    load_default_policy,
    load_policy,
    num_parameters,
)


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


@pytest.fixture(scope="module")
def default_policy():
    return load_default_policy()


def test_tokenizer_round_trip(tok):
    train, _ = default_rows()
    samples = [r["query"] for r in train[:50]] + [
        "7+8=15. 15-5=10. 10+6=16 is B. Answer: B",
        ALPHABET,
        "  leading and trailing spaces  ",
        "Answer:66",
        "line\nbreak",
    ]
    for s in samples:
        ids = tok(s, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids) == s
        assert tok.unk_token_id not in ids
    # digits are single tokens, phrases are one token each
    ids = tok("Answer: 123", add_special_tokens=False)["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["Answer: ", "1", "2", "3"]
    # unknown characters map to <unk> instead of failing
    assert tok.unk_token_id in tok("é", add_special_tokens=False)["input_ids"]
    # no special tokens are added when encoding
    assert tok("ab")["input_ids"] == tok("ab", add_special_tokens=False)["input_ids"]


def test_tokenizer_special_tokens_and_padding(tok):
    assert (tok.pad_token, tok.eos_token, tok.bos_token) == ("<pad>", "<eos>", "<bos>")
    assert len({tok.pad_token_id, tok.eos_token_id, tok.bos_token_id}) == 3
    assert tok.padding_side == "left"
    enc = tok(["1+1", "Q (3 of 50 points): 1+2"], padding=True, return_tensors="pt")
    assert enc["input_ids"][0, 0] == tok.pad_token_id and enc["attention_mask"][0, 0] == 0
    ids = tok("7", add_special_tokens=False)["input_ids"] + [tok.eos_token_id, tok.pad_token_id]
    assert tok.decode(ids, skip_special_tokens=True) == "7"


def test_prompts_are_short(tok):
    train, test = default_rows()
    lens = [len(tok(r["query"], add_special_tokens=False)["input_ids"]) for r in train + test]
    assert max(lens) <= 40


def test_tiny_model_shape(tok):
    m = build_tiny_model(len(tok))
    assert not m.config.tie_word_embeddings
    assert m.lm_head.weight.data_ptr() != m.model.embed_tokens.weight.data_ptr()
    assert num_parameters(m) < 1_250_000
    assert lm_head_weight(m).shape == (len(tok), m.config.hidden_size)


def test_default_policy_loads_from_assets(default_policy):
    model, tok = default_policy
    for f in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert os.path.isfile(os.path.join(ASSET_DIR, f)), f
    size = sum(os.path.getsize(os.path.join(ASSET_DIR, f)) for f in os.listdir(ASSET_DIR))
    assert size < 5 * 2**20
    assert tok.padding_side == "left"
    assert tok.pad_token_id is not None and tok.eos_token_id is not None
    assert model.config.eos_token_id == tok.eos_token_id
    assert not model.training
    assert next(model.parameters()).dtype == torch.float32
    # the shipped tokenizer is the one build_tokenizer makes
    fresh = build_tokenizer()
    assert tok.get_vocab() == fresh.get_vocab()


def test_default_policy_generates_an_answer(default_policy):
    model, tok = default_policy
    _, test = default_rows()
    prompts = [r["query"] for r in test[:4]]
    enc = tok(prompts, return_tensors="pt", padding=True)
    torch.manual_seed(0)
    out = model.generate(**enc, max_new_tokens=40, do_sample=False)
    texts = tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    assert sum("Answer: " in t for t in texts) >= 3, texts


@pytest.mark.parametrize("B,T", [(1, 1), (3, 7), (5, 13)])
def test_final_hidden_states_times_lm_head_is_logits(default_policy, B, T):
    model, tok = default_policy
    g = torch.Generator().manual_seed(B * 100 + T)
    ids = torch.randint(3, len(tok), (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    if B > 1:
        mask[0, : T // 2] = 0  # left padding on one row
        ids[0, : T // 2] = tok.pad_token_id
    with torch.no_grad():
        h = final_hidden_states(model, ids, mask)
        logits = model(input_ids=ids, attention_mask=mask).logits
    assert h.shape == (B, T, model.config.hidden_size)
    W = lm_head_weight(model)
    assert W.shape == (len(tok), model.config.hidden_size)
    torch.testing.assert_close(h @ W.T, logits, rtol=1e-5, atol=1e-5)


def test_final_hidden_states_has_grad(tok):
    m = build_tiny_model(len(tok), hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    ids = torch.randint(3, len(tok), (2, 5))
    h = final_hidden_states(m, ids, torch.ones_like(ids))
    (h @ lm_head_weight(m).T).sum().backward()
    assert m.lm_head.weight.grad is not None and m.model.embed_tokens.weight.grad is not None


def test_left_padding_matches_unpadded(default_policy):
    model, tok = default_policy
    a = "Q (4 of 60 points): 6-3-1+8 = ?"
    b = "Q (12 of 100 points): 5+5-1+8 = ? A) 17 B) 18 C) 7 D) 27 Answer with a letter."
    enc = tok([a, b], return_tensors="pt", padding=True)
    with torch.no_grad():
        padded = final_hidden_states(model, enc["input_ids"], enc["attention_mask"])[0]
        alone = final_hidden_states(model, tok([a], return_tensors="pt")["input_ids"])[0]
    n = alone.shape[0]
    torch.testing.assert_close(padded[-n:], alone, rtol=1e-4, atol=1e-4)


def test_load_policy_on_local_folder(tmp_path, tok):
    m = build_tiny_model(len(tok), hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    m.save_pretrained(str(tmp_path))
    tok.save_pretrained(str(tmp_path))
    # a tokenizer without a pad token gets eos as pad
    cfg_path = tmp_path / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.pop("pad_token", None)
    cfg["padding_side"] = "right"
    cfg_path.write_text(json.dumps(cfg))
    model, t = load_policy(str(tmp_path), device="cpu", dtype=torch.float64)
    assert t.padding_side == "left"
    assert t.pad_token_id is not None
    assert next(model.parameters()).dtype == torch.float64
    ids = torch.randint(3, len(tok), (2, 4), dtype=torch.long)
    h = final_hidden_states(model, ids, torch.ones_like(ids))
    torch.testing.assert_close(h @ lm_head_weight(model).T, model(input_ids=ids).logits)


def test_load_policy_missing_folder(tmp_path):
    with pytest.raises((OSError, ValueError)):
        load_policy(str(tmp_path / "no_such_model"))
