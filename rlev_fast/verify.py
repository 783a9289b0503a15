"""Answer verification for RLEV rewards: r = s(x) * verify(response, gold).

Public API:
    extract_answer(response) -> str | None
    verify(response, gold) -> bool
    verify_batch(responses, golds, num_threads=0) -> list[bool]   (0 = all cores)

Backed by the C++17 extension `rlev_fast._verify` (GIL released, a batch shared by at most
min(num_threads, cores, MAX_THREADS = 64) threads; a thread that cannot be created leaves the work to
the others, the process never aborts). When it is not built, the pure-Python twin
`rlev_fast.verifier` (same stages, same rules, same caps; `rlev_fast.verify_python` re-exports it) is used
and a warning is issued once. Force a backend with `set_backend("python" | "cpp" | "auto")` or the
environment variable RLEV_FAST_VERIFY_BACKEND=python|cpp|auto (read at import).

Any `str` (lone surrogates, megabytes, deep braces, 10**5-digit numbers) gives a bool; a response
that is not a `str` is a caller bug and raises TypeError. See docs/verifier.md for what is judged.
"""
import os
import warnings

from . import verify_python as _py

try:  # the optional accelerator: probe once, fall back to Python (same answers, slower)
    from . import _verify as _cpp  # type: ignore[attr-defined]
    _CPP_ERROR = None
except Exception as exc:  # ImportError, or a broken build
    _cpp = None
    _CPP_ERROR = exc

__all__ = ["extract_answer", "verify", "verify_batch", "set_backend", "backend_name", "cpp_available"]

_BACKENDS = ("auto", "cpp", "python")
_backend = "auto"
_warned = False


def cpp_available():
    """True when the C++ extension rlev_fast._verify is importable."""
    return _cpp is not None


def set_backend(name):
    """Choose the implementation: "auto" (C++ when built), "cpp" (error if not built) or "python"."""
    global _backend
    if name not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {name!r}")
    if name == "cpp" and _cpp is None:
        raise RuntimeError(f"the C++ verifier rlev_fast._verify is not built ({_CPP_ERROR})")
    _backend = name


def backend_name():
    """The implementation calls use now: "cpp" or "python"."""
    if _backend == "python":
        return "python"
    if _cpp is not None:
        return "cpp"
    return "python"


def _impl():
    global _warned
    name = backend_name()
    if name == "cpp":
        return _cpp
    if _backend == "auto" and not _warned:
        _warned = True
        warnings.warn(
            f"rlev_fast._verify (C++ verifier) is not built ({_CPP_ERROR}); using the pure-Python "
            "verifier (same answers, about 30x slower). Rebuild with `pip install -e .`.",
            RuntimeWarning,
            stacklevel=3,
        )
    return _py


def _enc(s, what):
    if not isinstance(s, str):
        raise TypeError(f"{what} must be a str, got {type(s).__name__}")
    # surrogatepass: lone surrogates (possible in decoded model output) never raise
    return s.encode("utf-8", "surrogatepass")


def extract_answer(response):
    """The final answer a response commits to (last \\boxed{}, "answer is", ...), or None."""
    r = _impl().extract(_enc(response, "response"))
    return None if r is None else r.decode("utf-8", "replace")


def verify(response, gold):
    """True when the response's final answer equals the gold answer (response first, gold second)."""
    return bool(_impl().verify(_enc(response, "response"), _enc(gold, "gold")))


def verify_batch(responses, golds, num_threads=0):
    """verify() over pairs; the C++ backend releases the GIL and uses up to num_threads threads
    (0 = all cores; never more than the cores nor MAX_THREADS: the work is CPU-bound)."""
    if isinstance(responses, (str, bytes)) or isinstance(golds, (str, bytes)):
        raise TypeError("responses and golds must be sequences of str, not a single string")
    responses = list(responses)
    golds = list(golds)
    if len(responses) != len(golds):
        raise ValueError(f"responses has {len(responses)} items but golds has {len(golds)}")
    if not isinstance(num_threads, int) or isinstance(num_threads, bool) or num_threads < 0:
        raise ValueError(f"num_threads must be an int >= 0, got {num_threads!r}")
    rb = []
    for i, r in enumerate(responses):
        if not isinstance(r, str):
            raise TypeError(f"responses[{i}] must be a str, got {type(r).__name__}")
        rb.append(r.encode("utf-8", "surrogatepass"))
    gb = []
    for i, g in enumerate(golds):
        if not isinstance(g, str):
            raise TypeError(f"golds[{i}] must be a str, got {type(g).__name__}")
        gb.append(g.encode("utf-8", "surrogatepass"))
    impl = _impl()
    if impl is _cpp:
        return list(_cpp.verify_batch(rb, gb, num_threads))
    return [bool(_py.verify(r, g)) for r, g in zip(rb, gb)]


_env = os.environ.get("RLEV_FAST_VERIFY_BACKEND", "").strip().lower()
if _env:
    if _env not in _BACKENDS:
        warnings.warn(f"RLEV_FAST_VERIFY_BACKEND={_env!r} is not one of {_BACKENDS}; using auto", RuntimeWarning)
    elif _env == "cpp" and _cpp is None:
        warnings.warn("RLEV_FAST_VERIFY_BACKEND=cpp but the C++ verifier is not built; using python",
                      RuntimeWarning)
        _backend = "python"
    else:
        _backend = _env
