"""Fused linear + log-softmax gather in Triton: the `triton` backend of `rlev_fast.fused_logprobs`.

From final hidden states h [N, H] and the lm_head weight W [V, H] to logp_t = log softmax(h_t W^T / T)[y_t],
the entropy H_t and p(EOS)_t, and the gradients of any sum_t (g_t logp_t + gH_t H_t) for h and W, without
the [N, V] logits. The kernels are those of the fused policy loss (kernels/fused_policy_loss.py), whose
forward already produces (lse, logp, entropy, z_eos) per token and whose backward takes per-token
weights (g, ge) of sum_t [g_t logp_t - ge_t H_t]: here g = d out / d logp and ge = -d out / d H, the
upstream gradients. Nothing is computed twice and no second kernel family is maintained.

Layout: reference, @triton.jit kernels (imported), host launchers, autograd.Function, functional entry.
Precision: as the policy-loss kernels (fp32 accumulation; fp64 inputs computed in fp32).
"""
from __future__ import annotations

import torch

from rlev_fast.kernels.fused_policy_loss import _interpret, fused_policy_backward, fused_policy_forward
from rlev_fast.logprobs import LogProbConfig, reference_logprobs  # noqa: F401  (tests import the reference here)

__all__ = ["reference_logprobs", "TritonLogProbFunction", "triton_logprobs"]


# The @triton.jit kernels and their host launchers (fused_policy_forward, fused_policy_backward) are
# imported from kernels/fused_policy_loss.py above.


# ----------------------------------------------------------------------------------------------
# autograd.Function
# ----------------------------------------------------------------------------------------------
class TritonLogProbFunction(torch.autograd.Function):
    """(logp [N], entropy [N] or empty, p_eos [N] or empty) = apply(hidden, weight, targets, config)."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, config: LogProbConfig):
        ctx.set_materialize_grads(False)
        lse, logp, ent, z_eos = fused_policy_forward(hidden, weight, targets, config.temperature,
                                                     config.eos_token_id, config.return_entropy)
        p_eos = (z_eos - lse).exp() if z_eos is not None else logp.new_empty(0)
        if ent is None:
            ent = logp.new_empty(0)
            ctx.mark_non_differentiable(ent)
        ctx.mark_non_differentiable(p_eos)
        ctx.save_for_backward(hidden, weight, targets, lse, ent)
        ctx.config = config
        return logp, ent, p_eos

    @staticmethod
    def backward(ctx, g_logp, g_ent, _g_eos):
        hidden, weight, targets, lse, ent = ctx.saved_tensors
        cfg = ctx.config
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if not cfg.return_entropy:
            g_ent = None
        if (g_logp is None and g_ent is None) or not (need_h or need_w):
            return None, None, None, None
        g = g_logp.float() if g_logp is not None else torch.zeros_like(lse)
        ge = -g_ent.float() if g_ent is not None else None  # the kernels take sum g logp - ge H
        dh, dw = fused_policy_backward(hidden, weight, targets, lse, g, ge, ent if ge is not None else None,
                                       cfg.temperature, need_h, need_w, cfg.deterministic)
        return dh, dw, None, None


# ----------------------------------------------------------------------------------------------
# Functional entry point (the registry's "triton" backend)
# ----------------------------------------------------------------------------------------------
def triton_logprobs(hidden, weight, targets, config: LogProbConfig):
    if hidden.device.type != "cuda" and not _interpret():
        raise RuntimeError("triton log-prob backend needs a CUDA tensor, or TRITON_INTERPRET=1 for the CPU interpreter")
    logp, ent, p_eos = TritonLogProbFunction.apply(hidden.contiguous(), weight.contiguous(), targets.contiguous(),
                                                   config)
    return logp, (ent if config.return_entropy else None), (p_eos if config.eos_token_id is not None else None)
