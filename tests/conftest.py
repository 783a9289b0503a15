"""Fixtures shared by the trainer tests."""
import pytest


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny randomly initialized policy (2 layers, hidden 32) saved with its tokenizer: a --model
    folder for trainer runs that must be fast, not good."""
    from rlev_fast.policy import build_tiny_model, build_tokenizer

    path = str(tmp_path_factory.mktemp("tiny_model"))
    tok = build_tokenizer()
    build_tiny_model(len(tok), hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                     pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id,
                     seed=0).save_pretrained(path)
    tok.save_pretrained(path)
    return path
