"""The trainer's runtime pieces: the learning-rate schedule."""
import pytest
import torch

from rlev_fast.trainer.config import OptimConfig
from rlev_fast.trainer.runtime import make_scheduler


def test_scheduler_warmup_and_cosine():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    s = make_scheduler(opt, OptimConfig(lr=1.0, schedule="cosine", warmup_steps=2, min_lr_ratio=0.1), 10)
    lrs = []
    for _ in range(10):
        lrs.append(s.get_last_lr()[0])
        opt.step()
        s.step()
    assert lrs[0] == pytest.approx(0.5) and lrs[1] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:])) and lrs[-1] > 0.1


