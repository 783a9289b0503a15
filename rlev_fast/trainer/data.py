"""The trainer's questions: the training and held-out sets of a DataConfig, and the seeded stream of
training prompts whose state is one integer."""
from __future__ import annotations

from typing import Any, Dict, List

import torch

from ..data import DataError, default_dataset, read_jsonl, split_by_exam
from .config import DataConfig


def load_data(cfg: DataConfig):
    """(train, test) lists of Examples. DataError / FileNotFoundError name the file and line."""
    if cfg.data is None:
        train, test = default_dataset(seed=cfg.data_seed)
        if cfg.eval_data is not None:
            test = read_jsonl(cfg.eval_data)
    else:
        train = read_jsonl(cfg.data)
        if cfg.eval_data is not None:
            test = read_jsonl(cfg.eval_data)
        else:
            try:
                train, test = split_by_exam(train, cfg.eval_fraction, cfg.data_seed)
            except ValueError as exc:
                raise DataError(f"{cfg.data}: {exc}") from None
    if not train:
        raise DataError("the training set is empty")
    if not test:
        raise DataError("the held-out set is empty")
    if cfg.eval_limit:
        test = test[: cfg.eval_limit]
    return train, test


class DataStream:
    """Prompts in a seeded order, epoch after epoch; the state is one integer (prompts consumed),
    saved in checkpoints, so a resumed run neither repeats nor skips a prompt."""

    def __init__(self, size: int, seed: int):
        if size < 1:
            raise ValueError("the training set is empty")
        self.size, self.seed, self.position = size, seed, 0
        self._perm_epoch, self._perm = -1, None

    def _order(self, epoch: int) -> List[int]:
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 100003 + epoch)
            self._perm, self._perm_epoch = torch.randperm(self.size, generator=g).tolist(), epoch
        return self._perm

    def take(self, k: int) -> List[int]:
        out = []
        for p in range(self.position, self.position + k):
            out.append(self._order(p // self.size)[p % self.size])
        self.position += k
        return out

    def state_dict(self) -> Dict[str, Any]:
        return {"data_position": self.position}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.position = int(state["data_position"])
