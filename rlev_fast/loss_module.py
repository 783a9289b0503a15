"""`FusedPolicyLoss`: the policy loss as an nn.Module a trainer can drop in.

    loss_fn = FusedPolicyLoss(PolicyLossConfig(clip_high=0.28, eos_token_id=tok.eos_token_id))
    out = loss_fn(hidden, model.lm_head.weight, targets, advantages, mask, old_logprobs)
    out.loss.backward()

It holds no parameters (the lm_head weight is passed in, so it stays tied to the model) and only
forwards to `policy_loss`; the backend is resolved per call ("auto": triton on CUDA, chunked
elsewhere).
"""
from __future__ import annotations

from typing import Optional, Union

import torch
from torch import nn

from .loss import PolicyLossConfig, PolicyLossOutput, policy_loss, resolve_backend


class FusedPolicyLoss(nn.Module):
    def __init__(self, config: Optional[PolicyLossConfig] = None, backend: str = "auto"):
        super().__init__()
        if config is None:
            config = PolicyLossConfig()
        elif not isinstance(config, PolicyLossConfig):
            raise TypeError(f"config must be a PolicyLossConfig, got {type(config).__name__}")
        if not isinstance(backend, str):
            raise TypeError(f"backend must be a str, got {type(backend).__name__}")
        resolve_backend(backend, torch.device("cpu"))  # unknown names fail here, not at the first step
        self.config = config
        self.backend = backend

    def forward(
        self,
        hidden: torch.Tensor,
        lm_head_weight: torch.Tensor,
        targets: torch.Tensor,
        advantages: torch.Tensor,
        mask: torch.Tensor,
        old_logprobs: Optional[torch.Tensor] = None,
        ref_logprobs: Optional[torch.Tensor] = None,
        seq_ids: Optional[torch.Tensor] = None,
        num_tokens: Optional[Union[int, float, torch.Tensor]] = None,
    ) -> PolicyLossOutput:
        return policy_loss(
            hidden, lm_head_weight, targets, advantages, mask,
            old_logprobs=old_logprobs, ref_logprobs=ref_logprobs, seq_ids=seq_ids, num_tokens=num_tokens,
            config=self.config, backend=self.backend,
        )

    def extra_repr(self) -> str:
        return f"backend={self.backend!r}, config={self.config}"
