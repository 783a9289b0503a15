"""Field checks for the config dataclasses' __post_init__: one wording for every config, naming the
class and the field ("RolloutConfig.n must be an int >= 1, got 0").

A field's choice list lives in its metadata (`field(..., metadata={"choices": ...})`: a tuple, a
`Registry` or a zero-argument callable returning names), so that `check_choice` here and the
generated command line (rlev_fast/trainer/cli.py) read the same list.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional, Sequence


def check_int(obj, name: str, lo: int = 1) -> None:
    """obj.name is an int (not a bool) >= lo."""
    v = getattr(obj, name)
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ValueError(f"{type(obj).__name__}.{name} must be an int >= {lo}, got {v!r}")


def check_number(obj, name: str, lo: Optional[float] = None, hi: Optional[float] = None,
                 strict_lo: bool = False, strict_hi: bool = False) -> None:
    """obj.name is a finite int or float (not a bool) within [lo, hi]; strict_lo / strict_hi make
    that end open."""
    v = getattr(obj, name)
    where = f"{type(obj).__name__}.{name}"
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{where} must be a finite number, got {v!r}")
    if lo is not None and (v <= lo if strict_lo else v < lo):
        raise ValueError(f"{where} must be {'>' if strict_lo else '>='} {lo}, got {v!r}")
    if hi is not None and (v >= hi if strict_hi else v > hi):
        raise ValueError(f"{where} must be {'<' if strict_hi else '<='} {hi}, got {v!r}")


F32_TINY = 1.1754943508222875e-38  # the smallest normal float32


def check_temperature(obj, name: str = "temperature") -> None:
    """obj.name is a finite number >= the smallest normal float32 (the logits h W^T / temperature are
    computed in float32: a subnormal temperature has lost precision, its reciprocal, which the Triton
    kernels multiply by, overflows below 2.9e-39, and log-probs of -gap / temperature with gradients of
    1 / temperature carry no usable signal)."""
    check_number(obj, name, 0.0, strict_lo=True)
    if getattr(obj, name) < F32_TINY:
        raise ValueError(
            f"{type(obj).__name__}.{name} must be >= {F32_TINY:.8g} (the smallest normal float32: the "
            f"logits h W^T / temperature are computed in float32), got {getattr(obj, name)!r}")


def field_choices(obj_or_cls, name: str) -> Optional[Sequence[str]]:
    """The allowed values of a dataclass field, from its metadata (None: any value)."""
    for f in dataclasses.fields(obj_or_cls):
        if f.name == name:
            c = f.metadata.get("choices")
            return tuple(c()) if callable(c) else (tuple(c) if c is not None else None)
    raise KeyError(name)


def check_choice(obj, name: str) -> None:
    """obj.name is one of the field's choices (metadata); the error lists them."""
    v = getattr(obj, name)
    choices = field_choices(obj, name)
    if v not in choices:
        raise ValueError(f"{type(obj).__name__}.{name} must be one of {', '.join(map(str, choices))}; got {v!r}")
