"""Fixtures and test selection shared by the whole suite.

Triton mode. One mode per pytest process, fixed here before any test module imports triton, so test
order cannot change which kernels run: the interpreter (kernels on the CPU, small shapes) unless the
caller sets TRITON_INTERPRET=0, as benchmarks/gpu_check.sh does to compile the kernels for a GPU.

Markers (pyproject.toml):
    gpu        needs a CUDA device and compiled kernels; skipped (with the reason) otherwise
    interpret  runs Triton kernels on CPU tensors in the interpreter; skipped in a compiled-mode run
"""
import os

import pytest

os.environ.setdefault("TRITON_INTERPRET", "1")
INTERPRET = os.environ["TRITON_INTERPRET"] == "1"


def pytest_runtest_setup(item):
    if item.get_closest_marker("gpu") is not None:
        import torch

        if not torch.cuda.is_available():
            pytest.skip("needs a CUDA device")
        if INTERPRET:
            pytest.skip("TRITON_INTERPRET=1 in this process: GPU tests need compiled kernels (TRITON_INTERPRET=0)")
    if item.get_closest_marker("interpret") is not None and not INTERPRET:
        pytest.skip("TRITON_INTERPRET=0 in this process: the interpreter tests run on CPU tensors")


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """The trainer sets torch's thread count (auto: 1 on a busy machine); a test that runs it in-process
    must not change the float rounding of the tests after it."""
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
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
