"""The pure-Python verifier on bytes: extract(bytes) -> bytes | None, gold_answer(bytes) -> bytes | None,
verify(resp, gold) -> bool, norm_text(bytes) -> bytes. The stages live in rlev_fast/verifier/ (twins of
csrc/); the public API with str arguments is rlev_fast/verify.py."""
from .verifier import extract, gold_answer, norm_text, verify

__all__ = ["extract", "gold_answer", "norm_text", "verify"]
