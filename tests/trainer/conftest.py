"""Helpers shared by the trainer tests, as fixtures: fixed rollout batches and one rl_update on them."""
import contextlib
import functools

import pytest
import torch

import rlev_fast.distributed as D
from rlev_fast.trainer import AlgoConfig, TrainConfig, rl_update
from rlev_fast.trainer.runtime import make_scheduler
from rlev_fast.trainer.trunk import PolicyTrunk


def _fixed_update(model_dir, grad_accum):
    from rlev_fast.policy import load_policy
    from rlev_fast.rollout import RolloutConfig, assemble_batch, encode_prompts

    torch.manual_seed(0)
    model, tok = load_policy(model_dir)
    # float64: the comparison of two updates is about the token count, not float32 rounding, which
    # AdamW's first step (g / |g|) amplifies on near-zero gradient entries: in float32 with 1 CPU
    # thread one weight of 2048 differed by 1.3e-6 between 1 and 4 micro-batches.
    model.double().train()
    g = torch.Generator().manual_seed(0)
    ids, mask = encode_prompts(tok, ["Q (1 of 9 points): 1+2 = ?", "Q (3 of 9 points): 12+2-5 = ?"], "cpu")
    ids, mask = ids.repeat_interleave(4, 0), mask.repeat_interleave(4, 0)
    resp = [torch.randint(5, len(tok), (int(torch.randint(2, 9, (1,), generator=g)),), generator=g).tolist()
            for _ in range(8)]
    batch = assemble_batch(ids, mask, resp, tok.eos_token_id, tok.pad_token_id, tok, 4)
    adv = torch.randn(8, generator=g)
    cfg = TrainConfig(rollout=RolloutConfig(n=4), algo=AlgoConfig(prompts_per_step=2, grad_accum=grad_accum))
    trunk = PolicyTrunk(model)
    opt = torch.optim.AdamW(trunk.parameters(), lr=1e-3)
    upd = rl_update(trunk, batch, adv, opt, make_scheduler(opt, cfg.optim, 1), cfg, D.DistInfo())
    return upd, model.state_dict()


def _two_prompt_update(model_dir, share, buckets, device="cpu", autocast=None, packing="auto"):
    """One rl_update (2 PPO epochs, so old log-probs are recomputed too) of a fixed 2-prompt x 4
    batch of random responses of 0 to 11 tokens; returns (stats, state dict on the CPU in fp32).
    packing: the trunk's mode (buckets apply to padded micro-batches only). Used by test_update.py
    and test_train_gpu.py (fixture two_prompt_update)."""
    from rlev_fast.policy import load_policy
    from rlev_fast.rollout import RolloutConfig, assemble_batch, encode_prompts

    torch.manual_seed(0)
    model, tok = load_policy(model_dir, device, torch.float32)
    model.train()
    ids, mask = encode_prompts(tok, ["Q (1 of 9 points): 1+2 = ?", "Q (3 of 9 points): 12+2-5 = ?"], device)
    ids, mask = ids.repeat_interleave(4, 0), mask.repeat_interleave(4, 0)
    g = torch.Generator().manual_seed(5)
    resp = [torch.randint(5, len(tok), (int(torch.randint(0, 12, (1,), generator=g)),), generator=g).tolist()
            for _ in range(8)]
    batch = assemble_batch(ids, mask, resp, tok.eos_token_id, tok.pad_token_id, tok, 4)
    adv = torch.randn(8, generator=g)
    cfg = TrainConfig(rollout=RolloutConfig(n=4),
                        algo=AlgoConfig(prompts_per_step=2, ppo_epochs=2, share_prompt=share, length_buckets=buckets,
                                        packing=packing))
    trunk = PolicyTrunk(model, packing)
    opt = torch.optim.AdamW(trunk.parameters(), lr=1e-3)
    upd = rl_update(trunk, batch, adv, opt, make_scheduler(opt, cfg.optim, 2), cfg, D.DistInfo(),
                      autocast=autocast or contextlib.nullcontext)
    return upd, {k: v.float().cpu() for k, v in model.state_dict().items()}, batch



@pytest.fixture
def fixed_update(model_dir):
    """fixed_update(grad_accum) -> (stats, state dict): one rl_update of a fixed 2-prompt x 4 batch."""
    return functools.partial(_fixed_update, model_dir)


@pytest.fixture
def two_prompt_update(model_dir):
    """two_prompt_update(share, buckets, device="cpu", autocast=None, packing="auto") -> (stats, state dict, batch)."""
    return functools.partial(_two_prompt_update, model_dir)
