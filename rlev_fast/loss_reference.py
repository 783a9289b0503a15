"""The `reference` backend of `policy_loss`: materializes the fp32 [N, V] logits and lets autograd do
the rest. The ground truth every faster backend is tested against, and the baseline of benchmarks.
Memory: O(N * V) (16k tokens x 152k vocab in fp32 is 10 GB), which is what the fused backends avoid.
"""
from __future__ import annotations

import torch

from .loss import FlatInputs, PolicyLossConfig, PolicyLossOutput, check_outputs, masked_mean, token_objective


def reference_policy_loss(inputs: FlatInputs, config: PolicyLossConfig) -> PolicyLossOutput:
    # fp32 at least; a float64 input stays float64 (gradcheck, ground truth in tests).
    compute_dtype = torch.float64 if inputs.hidden.dtype == torch.float64 else torch.float32
    h = inputs.hidden.to(compute_dtype)
    w = inputs.weight.to(compute_dtype)
    raw_logits = h @ w.t()  # (N, V)
    want_eos = config.eos_token_id is not None
    if want_eos and not raw_logits.requires_grad:
        raw_logits = raw_logits.detach().requires_grad_(True)  # eos_grad is defined even without params
    z = raw_logits / config.temperature
    logsm = torch.log_softmax(z, dim=-1)
    logp = logsm.gather(1, inputs.targets[:, None]).squeeze(1)
    per_token, clipped, kl = token_objective(logp, inputs, config)
    entropy = None
    if config.needs_entropy:
        probs = logsm.exp()
        entropy = -(probs * logsm).sum(-1)
        per_token = per_token - config.entropy_coef * entropy
    weights = inputs.weights.to(per_token.dtype)
    loss = (weights * per_token).sum()
    check_outputs(inputs, config, logp.detach(), per_token.detach(), kl.detach() if kl is not None else None,
                  entropy.detach() if entropy is not None else None, loss.detach())

    m = inputs.mask
    out = PolicyLossOutput(
        loss=loss,
        logprobs=torch.where(inputs.target_valid, logp.detach(), torch.zeros_like(logp)).float(),
        clip_frac=masked_mean(clipped, m).detach().float(),
        kl=masked_mean(kl.detach(), m).float() if kl is not None else None,
        entropy=masked_mean(entropy.detach(), m).float() if entropy is not None else None,
    )
    if want_eos:
        eos = config.eos_token_id
        out.p_eos = logsm[:, eos].detach().exp().float()
        if loss.requires_grad:
            (g,) = torch.autograd.grad(loss, raw_logits, retain_graph=True)
            out.eos_grad = g[:, eos].float()
        else:
            out.eos_grad = torch.zeros_like(out.p_eos)
    return out

