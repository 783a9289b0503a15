"""The `chunked` backend of `policy_loss`: pure PyTorch, any device, the CPU default.

Chunked over tokens. Per chunk of `config.chunk_size` tokens the forward pass computes the logits,
log-probs, the per-token objective *and* the gradients, so that the [N, V] logits never exist:

    raw   = h_c W^T                      (fp32 accumulate; bf16/fp16 inputs are upcast per chunk)
    z     = raw / T;  p = softmax(z);  logp = z[y] - lse(z)
    g     = d loss / d logp              (autograd of `token_objective` on the [chunk] logp vector,
                                          so the PPO/GSPO/KL semantics are those of loss.py exactly)
    dz    = g (onehot(y) - p) + w entropy_coef p (log p + H)
    draw  = dz / T
    grad_h[c] = draw W;   grad_W += draw^T h_c

grad_h and grad_W are kept for backward, which only scales them by grad_output. GSPO
(ratio_level="sequence") needs every token's logp before any per-token term: a first chunked pass
computes logp (max and log-sum-exp only), then `sequence_log_ratio`, then the gradient pass.

Peak memory above the inputs: one [chunk, V] buffer in the compute dtype (two when entropy is
needed: log p and p must coexist), grad_W [V, H] and grad_h [N, H] in fp32. The softmax, its
gradient and the entropy term are done in place on that buffer; it is reused by every chunk.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import torch

from .loss import (FlatInputs, PolicyLossConfig, PolicyLossOutput, check_outputs, masked_mean, sequence_log_ratio,
                   token_objective)


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------
def _slice_inputs(inputs: FlatInputs, s: int, e: int) -> FlatInputs:
    """The per-token fields of `inputs` restricted to tokens [s, e) (per-sequence advantages stay [S])."""

    def sl(t):
        return None if t is None else t[s:e]

    return dataclasses.replace(
        inputs,
        hidden=inputs.hidden[s:e],
        targets=inputs.targets[s:e],
        target_valid=inputs.target_valid[s:e],
        mask=inputs.mask[s:e],
        advantages=inputs.advantages if inputs.adv_per_seq else inputs.advantages[s:e],
        seq_ids=sl(inputs.seq_ids),
        old_logprobs=sl(inputs.old_logprobs),
        ref_logprobs=sl(inputs.ref_logprobs),
        weights=inputs.weights[s:e],
        logit_bound=sl(inputs.logit_bound),
    )


def _chunk_softmax(x: torch.Tensor, tgt: torch.Tensor, temperature: float, exp_out: Optional[torch.Tensor]):
    """In place on the raw logits x [n, V]. Returns (logp [n], log_sum [n], p).

    Without `exp_out`: x ends holding p (exp_ in place). With `exp_out` [n, V]: x ends holding the
    shifted logits z - max(z) and exp_out holds p (both are needed for the entropy).
    """
    if temperature != 1.0:
        x.div_(temperature)  # the reference divides too: same rounding
    x.sub_(x.amax(dim=1, keepdim=True))  # shifted: max is 0, exp cannot overflow (all-negative logits fine)
    z_t = x.gather(1, tgt[:, None]).squeeze(1)
    if exp_out is None:
        p = x.exp_()
    else:
        p = torch.exp(x, out=exp_out)
    s = p.sum(dim=1)
    log_s = torch.log(s)
    return z_t - log_s, log_s, s, p


# ----------------------------------------------------------------------------------------------
# The chunked computation (forward values and gradients in one pass)
# ----------------------------------------------------------------------------------------------
def _chunked_forward(inputs: FlatInputs, config: PolicyLossConfig, need_gh: bool, need_gw: bool, need_eos_grad: bool):
    h, W = inputs.hidden, inputs.weight
    N, H = h.shape
    V = W.shape[0]
    device = h.device
    cdtype = torch.float64 if h.dtype == torch.float64 else torch.float32
    # Upcast W once (O(V H), what the reference does too); h is upcast per chunk. bf16 x bf16
    # products are exact in fp32, so this matches an fp32-output bf16 GEMM; rounding the logits
    # or the logit gradients to bf16 instead would cost the accuracy the tests demand.
    Wc = W.detach() if W.dtype == cdtype else W.detach().to(cdtype)
    T = float(config.temperature)
    sequence = config.ratio_level == "sequence"
    want_entropy = config.needs_entropy
    eos = config.eos_token_id
    need_dz = need_gh or need_gw or need_eos_grad

    C = min(config.chunk_size, N)
    buf = torch.empty(C, V, dtype=cdtype, device=device)
    buf2 = torch.empty(C, V, dtype=cdtype, device=device) if want_entropy else None

    def hchunk(s, e):
        hc = h[s:e].detach()
        return hc if hc.dtype == cdtype else hc.to(cdtype)

    seq_lr = None
    if sequence:
        # Pass 1 (GSPO): every token's logp, for the per-sequence mean log-ratio.
        logp_all = torch.empty(N, dtype=cdtype, device=device)
        for s in range(0, N, C):
            e = min(s + C, N)
            x = torch.mm(hchunk(s, e), Wc.t(), out=buf[: e - s])
            logp_all[s:e] = _chunk_softmax(x, inputs.targets[s:e], T, None)[0]
        seq_lr = sequence_log_ratio(logp_all, inputs)
        del logp_all

    logp_out = torch.empty(N, dtype=cdtype, device=device)
    per_token = torch.empty(N, dtype=cdtype, device=device)
    clipped_out = torch.empty(N, dtype=torch.bool, device=device)
    kl_out = torch.empty(N, dtype=cdtype, device=device) if inputs.ref_logprobs is not None else None
    ent_out = torch.empty(N, dtype=cdtype, device=device) if want_entropy else None
    p_eos = torch.empty(N, dtype=cdtype, device=device) if eos is not None else None
    eos_grad = torch.empty(N, dtype=cdtype, device=device) if need_eos_grad else None
    grad_h = torch.empty(N, H, dtype=cdtype, device=device) if need_gh else None
    grad_w = torch.zeros(V, H, dtype=cdtype, device=device) if need_gw else None
    weights = inputs.weights.to(cdtype)
    ent_coef = float(config.entropy_coef)

    for s in range(0, N, C):
        e = min(s + C, N)
        n = e - s
        hc = hchunk(s, e)
        tgt = inputs.targets[s:e]
        x = torch.mm(hc, Wc.t(), out=buf[:n])
        logp, log_s, sums, p = _chunk_softmax(x, tgt, T, buf2[:n] if want_entropy else None)
        p.mul_((1.0 / sums)[:, None])  # e -> p
        if want_entropy:
            # H = -sum p log p = log_s - sum(p * shifted); a batched dot avoids a [n, V] temporary.
            ent = log_s - torch.bmm(p[:, None, :], x[:, :, None]).view(n)
            ent_out[s:e] = ent
        if eos is not None:
            p_eos[s:e] = p[:, eos]

        # Per-token objective and d(sum_t w_t obj_t)/d logp_t on the [n] logp vector.
        sub = _slice_inputs(inputs, s, e)
        w = weights[s:e]
        with torch.enable_grad():
            lp = logp.detach().requires_grad_(need_dz)
            pg, clipped, kl = token_objective(lp, sub, config, seq_lr[s:e] if sequence else None)
            g = torch.autograd.grad((w * pg).sum(), lp)[0] if need_dz else None
        logp_out[s:e] = logp
        clipped_out[s:e] = clipped
        if kl is not None:
            kl_out[s:e] = kl.detach()
        per_token[s:e] = pg.detach() - ent_coef * ent if want_entropy else pg.detach()
        if not need_dz:
            continue

        # d loss / d raw = dz / T, written over x (the chunk's buffer).
        g_t = g / T
        if want_entropy and ent_coef != 0.0:
            c_t = w * (ent_coef / T)
            # x holds z - max: log p + H = x - log_s + H
            x.add_((ent - log_s)[:, None]).mul_(c_t[:, None]).sub_(g_t[:, None]).mul_(p)
        else:
            torch.mul(p, (-g_t)[:, None], out=x)
        x.scatter_add_(1, tgt[:, None], g_t[:, None])
        if need_eos_grad:
            eos_grad[s:e] = x[:, eos]
        if need_gh:
            torch.mm(x, Wc, out=grad_h[s:e])
        if need_gw:
            grad_w.addmm_(x.t(), hc)

    del buf, buf2
    loss = (weights * per_token).sum()
    # Overflow in what was computed (logits beyond float32 where logit_bound allows it, a KL term, the
    # per-token loss, the sum): a ValueError naming the first masked-in token. O(N), one sync.
    check_outputs(inputs, config, logp_out, per_token, kl_out, ent_out, loss)
    m = inputs.mask
    out = PolicyLossOutput(
        loss=loss,
        logprobs=torch.where(inputs.target_valid, logp_out, torch.zeros_like(logp_out)).float(),
        clip_frac=masked_mean(clipped_out, m).float(),
        kl=masked_mean(kl_out, m).float() if kl_out is not None else None,
        entropy=masked_mean(ent_out, m).float() if ent_out is not None else None,
    )
    if eos is not None:
        out.p_eos = p_eos.float()
        # The reference reports zeros when autograd is off (torch.no_grad): same here.
        out.eos_grad = eos_grad.float() if eos_grad is not None else torch.zeros_like(out.p_eos)
    if grad_h is not None and grad_h.dtype != h.dtype:
        grad_h = grad_h.to(h.dtype)
    if grad_w is not None and grad_w.dtype != W.dtype:
        grad_w = grad_w.to(W.dtype)
    return out, grad_h, grad_w


# ----------------------------------------------------------------------------------------------
# autograd.Function and the backend entry point
# ----------------------------------------------------------------------------------------------
class ChunkedPolicyLossFunction(torch.autograd.Function):
    """loss = f(hidden, weight); the gradients are computed in forward and scaled in backward."""

    @staticmethod
    def forward(ctx, hidden, weight, inputs, config, need_eos_grad, stash):
        need_gh, need_gw = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        out, grad_h, grad_w = _chunked_forward(inputs, config, need_gh, need_gw, need_eos_grad)
        ctx.grad_h, ctx.grad_w = grad_h, grad_w
        stash["out"] = out
        return out.loss

    @staticmethod
    def backward(ctx, grad_output):
        gh = gw = None
        if ctx.grad_h is not None:
            gh = ctx.grad_h * grad_output.to(ctx.grad_h.dtype)
        if ctx.grad_w is not None:
            gw = ctx.grad_w * grad_output.to(ctx.grad_w.dtype)
        return gh, gw, None, None, None, None


def chunked_policy_loss(inputs: FlatInputs, config: PolicyLossConfig) -> PolicyLossOutput:
    grad_on = torch.is_grad_enabled()
    need_gh = grad_on and inputs.hidden.requires_grad
    need_gw = grad_on and inputs.weight.requires_grad
    need_eos_grad = grad_on and config.eos_token_id is not None
    if not (need_gh or need_gw):
        out, _, _ = _chunked_forward(inputs, config, False, False, need_eos_grad)
        return out
    stash = {}
    loss = ChunkedPolicyLossFunction.apply(inputs.hidden, inputs.weight, inputs, config, need_eos_grad, stash)
    out = stash["out"]
    out.loss = loss
    return out
