"""Named choices: one name, one function (verl's `register_adv_est` is the model).

Every choice the library offers by name (advantage estimators, reward-scale forms, KL estimators,
loss aggregations, loss backends, rollout backends) lives in a `Registry`. Looking up a name that
was never registered is a ValueError that lists the known names; registering a name twice is an
error (pass `override=True` to replace an entry on purpose). The registry also reads as the tuple
of its names (iteration, `in`, `len`, `repr`), so it serves directly as an argparse choice list:
a name a user registers shows up in `--help` and is accepted by the configs.

    ESTIMATORS = Registry("advantage estimator")

    @ESTIMATORS.register("grpo")
    def grpo(rewards, group_size, scale, eps): ...

    ESTIMATORS.get("grpo")      # the function
    ESTIMATORS.get("ppo2")      # ValueError: unknown advantage estimator 'ppo2'; known: grpo, ...
"""
from __future__ import annotations

import importlib
import os
from typing import Any, Dict, Iterator, Optional, Tuple


class Registry:
    """An ordered map from names to objects (functions, classes, lazy "module:attr" paths)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: Dict[str, Any] = {}

    def register(self, name: str, obj: Any = None, *, override: bool = False):
        """Registers `obj` under `name`; without `obj`, returns a decorator that does."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")

        def add(o):
            if name in self._entries and not override:
                raise ValueError(f"{self.kind} {name!r} is already registered (pass override=True to replace it)")
            self._entries[name] = o
            return o

        return add if obj is None else add(obj)

    def unregister(self, name: str) -> None:
        self.check(name)
        del self._entries[name]

    def check(self, name: Any, where: Optional[str] = None) -> str:
        """`name` itself when registered, else a ValueError naming `where` (e.g. the config field)."""
        if isinstance(name, str) and name in self._entries:
            return name
        prefix = f"{where} must be one of {', '.join(self._entries)}; got {name!r}" if where else \
            f"unknown {self.kind} {name!r}; known: {', '.join(self._entries)}"
        raise ValueError(prefix)

    def get(self, name: Any, where: Optional[str] = None) -> Any:
        return self._entries[self.check(name, where)]

    def set(self, name: str, obj: Any) -> None:
        """Replaces the object of an already registered name (a lazily imported entry, resolved)."""
        self.check(name)
        self._entries[name] = obj

    def load(self, name: str) -> Any:
        """The object of `name`, importing a lazy "module:attr" entry on first use (and caching it);
        None when that module does not import (e.g. triton missing): the path stays, so a later call
        tries again."""
        entry = self.get(name)
        if isinstance(entry, str) and entry.count(":") == 1:
            module, attr = entry.split(":")
            try:
                entry = getattr(importlib.import_module(module), attr)
            except ImportError:
                return None
            self._entries[name] = entry
        return entry

    def names(self) -> Tuple[str, ...]:
        return tuple(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._entries))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return repr(self.names())



def pick_backend(registry: Registry, backend: str, device: Any, env_var: str) -> str:
    """The concrete backend name of a compute registry (reference / chunked / triton entries) for
    `backend` on `device`: an explicit name is checked and returned; "auto" is the env var `env_var`
    when set (and not "auto"), else triton on CUDA, chunked elsewhere, reference when neither loads."""
    if backend != "auto":
        return registry.check(backend)
    env = os.environ.get(env_var, "auto")
    if env != "auto":
        return registry.check(env, env_var)
    order = ("triton", "chunked", "reference") if getattr(device, "type", device) == "cuda" else ("chunked", "reference")
    for name in order:
        if name in registry and registry.load(name) is not None:
            return name
    return "reference"
