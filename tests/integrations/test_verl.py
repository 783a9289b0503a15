"""rlev_fast.integrations.verl on the real verl (0.9): its registry, compute_advantage, DataProto, ppo_loss,
monkey_patch.apply_monkey_patch and RLHFDataset. Skipped with the reason where verl is not installed;
.ci/run runs this folder in its side venv with trl and verl.
"""
import numpy as np
import pytest
import torch

pytest.importorskip("verl", reason="verl is not installed (pip install 'verl>=0.9'; .ci/run's side venv has it)")

import rlev_fast.integrations.verl as rv  # noqa: E402  (registers)
from verl import DataProto  # noqa: E402
from verl.trainer.config import AlgoConfig  # noqa: E402
from verl.trainer.ppo.core_algos import get_adv_estimator_fn, get_policy_loss_fn  # noqa: E402
from verl.trainer.ppo.ray_trainer import compute_advantage  # noqa: E402

from rlev_fast import compute_advantages, value_scale  # noqa: E402
from rlev_fast.advantages import ESTIMATORS  # noqa: E402

N_GROUPS, G, T = 6, 4, 12


def test_import_registers_every_estimator():
    for name in ESTIMATORS:
        fn = get_adv_estimator_fn(f"rlev_{name}")
        assert fn._rlev_name == name
    assert get_adv_estimator_fn("rlev_grpo") is get_adv_estimator_fn("rlev_grpo")  # idempotent
    rv.setup_worker()  # a second registration (a Ray worker importing again) changes nothing
    assert get_policy_loss_fn("rlev") is rv.rlev_policy_loss


def make_batch(seed=0, values=None, perm=True):
    """A verl batch: N_GROUPS prompts x G responses with rewards from compute_score on real strings (the
    reward sits on the last response token, as verl's reward managers put it), then shuffled as
    _balance_batch leaves it. Returns (DataProto, grouped rewards, grouped s(x), grouped lengths, perm)."""
    g = torch.Generator().manual_seed(seed)
    values = values if values is not None else (torch.rand(N_GROUPS, generator=g) * 0.2).tolist()
    rewards, scales, lengths, uids = [], [], [], []
    for k, v in enumerate(values):
        for j in range(G):
            right = bool(torch.rand(1, generator=g) > 0.5)
            res = rv.compute_score("rlev", f"so the answer is {7 if right else 8}", "7", {"value": v, "index": k})
            rewards.append(res["score"])
            scales.append(res["rlev_scale"])
            lengths.append(int(torch.randint(1, T + 1, (1,), generator=g)))
            uids.append(f"uid-{k}")
    S = len(rewards)
    order = torch.randperm(S, generator=g) if perm else torch.arange(S)
    lengths_t = torch.tensor(lengths)
    mask = (torch.arange(T)[None] < lengths_t[:, None]).float()
    tok = torch.zeros(S, T)
    tok[torch.arange(S), lengths_t - 1] = torch.tensor(rewards)
    data = DataProto.from_dict(tensors={"token_level_rewards": tok[order], "response_mask": mask[order]},
                               non_tensors={"uid": np.array(uids, dtype=object)[order.numpy()]})
    return data, torch.tensor(rewards, dtype=torch.float64), torch.tensor(scales, dtype=torch.float64), lengths_t, order


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_registered_estimator_on_shuffled_groups_equals_compute_advantages(name):
    data, r, s, lengths, order = make_batch(seed=1)
    out = compute_advantage(data, adv_estimator=f"rlev_{name}", config=AlgoConfig())
    adv = out.batch["advantages"]
    expected = compute_advantages(r, G, name, scale=s if name == "grpo" else None, lengths=lengths)[order]
    mask = data.batch["response_mask"]
    assert torch.allclose(adv, expected[:, None].float() * mask, rtol=1e-6, atol=1e-7)
    assert bool((adv[mask == 0] == 0).all())


def test_rlev_grpo_keeps_s_and_equals_verls_grpo_when_s_is_1():
    data, r, s, lengths, order = make_batch(seed=2)
    ours = compute_advantage(data, adv_estimator="rlev_grpo", config=AlgoConfig()).batch["advantages"].clone()
    verl = compute_advantage(data, adv_estimator="grpo", config=AlgoConfig()).batch["advantages"]
    # verl's grpo standardizes s(x) c, which divides s out: ours = s * verl's (up to eps / std)
    assert torch.allclose(ours, s[order][:, None].float() * verl, rtol=1e-5, atol=1e-6)
    ones, *_ = make_batch(seed=2, values=[0.0] * N_GROUPS)  # s = 1 everywhere: the same numbers
    a = compute_advantage(ones, adv_estimator="rlev_grpo", config=AlgoConfig()).batch["advantages"].clone()
    b = compute_advantage(ones, adv_estimator="grpo", config=AlgoConfig()).batch["advantages"]
    assert torch.allclose(a, b, rtol=1e-6, atol=1e-7)


def test_groups_of_different_sizes_and_explicit_scale():
    fn = get_adv_estimator_fn("rlev_grpo")
    r = torch.tensor([1.5, 0.0, 1.5, 2.0, 0.0, 0.0, 0.0, 2.0, 2.0])  # group a: 3, group b: 6
    uid = np.array(["a", "b", "a", "b", "a", "b", "b", "b", "b"], dtype=object)
    mask = torch.ones(9, 2)
    tok = torch.stack([torch.zeros(9), r], 1)
    adv, _ = fn(tok, mask, index=uid)
    a = compute_advantages([1.5, 1.5, 0.0], 3, "grpo", scale=[1.5] * 3)
    b = compute_advantages([0.0, 2.0, 0.0, 0.0, 2.0, 2.0], 6, "grpo", scale=[2.0] * 6)
    assert torch.allclose(adv[[0, 2, 4], 0], a) and torch.allclose(adv[[1, 3, 5, 6, 7, 8], 0], b)
    # partial credit with the scale passed explicitly (compute_score's rlev_scale, non_tensor_batch)
    part = torch.stack([torch.zeros(4), torch.tensor([0.9, 0.3, 1.5, 0.0])], 1)
    adv, _ = fn(part, torch.ones(4, 2), index=np.array(["x"] * 4, dtype=object),
                non_tensor_batch={"rlev_scale": np.array([1.5] * 4)})
    assert torch.allclose(adv[:, 0], compute_advantages([0.9, 0.3, 1.5, 0.0], 4, "grpo", scale=[1.5] * 4))
    with pytest.raises(ValueError, match=r"group 'x' has rewards \[0, 0.3, 0.9, 1.5\]"):
        fn(part, torch.ones(4, 2), index=np.array(["x"] * 4, dtype=object))
    with pytest.raises(ValueError, match=r"whitens over the batch and needs one group size; groups here have sizes \[3, 6\]"):
        get_adv_estimator_fn("rlev_reinforce_pp")(tok, mask, index=uid)


def test_compute_score_reads_extra_info():
    assert rv.compute_score("rlev", "Answer: 4", "4", {"value": 0.05}) == {
        "score": 1.5, "acc": 1.0, "rlev_scale": 1.5, "rlev_value": 0.05}
    assert rv.compute_score("rlev", "Answer: 4", "4", {"score": 20, "total": 100})["score"] == 2.0
    assert rv.compute_score("rlev", "Answer: 5", "4", {"value": 0.05})["score"] == 0.0
    assert rv.compute_score("rlev", "Answer: 4", "4", {"value": 0.05}, alpha=1.0)["score"] == pytest.approx(1.05)
    with pytest.raises(ValueError, match="scale form 'uniform' is defined over the whole training set"):
        rv.compute_score("rlev", "Answer: 4", "4", {"value": 0.05}, form="uniform")
    with pytest.raises(ValueError, match="row 3: extra_info needs 'value' or 'score' and 'total'"):
        rv.compute_score("rlev", "Answer: 4", "4", {"index": 3})


def _ppo_loss_inputs(seed=0, B=5, P=3, R=7):
    """verl's ppo_loss inputs: the model output (log-probs over the packed sequences, nnz) and the
    micro-batch TensorDict (prompts, responses, masks, old log-probs, advantages, global batch info)."""
    from tensordict import TensorDict
    from verl.utils import tensordict_utils as tu

    g = torch.Generator().manual_seed(seed)
    resp_len = torch.tensor([R, 2, 5, 1, 6])[:B]
    attention = torch.cat([torch.ones(B, P, dtype=torch.long), (torch.arange(R)[None] < resp_len[:, None]).long()], 1)
    logp_resp = -torch.rand(B, R, generator=g) * 3
    nnz = []
    for i in range(B):
        seq = torch.zeros(P + int(resp_len[i]))
        seq[P - 1:P - 1 + int(resp_len[i])] = logp_resp[i, :int(resp_len[i])]  # left-shifted by one, as verl's
        nnz.append(seq)
    log_probs = torch.cat(nnz).requires_grad_(True)
    data = TensorDict({
        "prompts": torch.ones(B, P, dtype=torch.long), "responses": torch.ones(B, R, dtype=torch.long),
        "attention_mask": attention, "response_mask": attention[:, P:],
        "old_log_probs": logp_resp + 0.3 * torch.randn(B, R, generator=g),
        "advantages": torch.randn(B, generator=g)[:, None].expand(B, R).clone(),
    }, batch_size=[B])
    tu.assign_non_tensor(data, dp_size=1, batch_num_tokens=None, global_batch_size=None)
    return log_probs, data


@pytest.mark.parametrize("agg", ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"])
def test_policy_loss_equals_verls_ppo_loss(agg):
    """verl's own ppo_loss with loss_mode='rlev' (our objective) equals loss_mode='vanilla': loss, metrics
    and the gradient for the log-probs. The advantages here are per-sequence (s = 1: plain rewards)."""
    from verl.workers.config.actor import ActorConfig
    from verl.workers.utils.losses import ppo_loss

    results = {}
    for mode in ("vanilla", "rlev"):
        log_probs, data = _ppo_loss_inputs()
        cfg = ActorConfig(strategy="fsdp", ppo_micro_batch_size_per_gpu=1, use_dynamic_bsz=False, loss_agg_mode=agg,
                          clip_ratio_low=0.2, clip_ratio_high=0.28, clip_ratio_c=3.0, rollout_n=1,
                          policy_loss={"loss_mode": mode})
        loss, metrics = ppo_loss(cfg, {"log_probs": log_probs}, data)
        loss.backward()
        results[mode] = (loss.detach(), {k: [float(x) for x in v.values] for k, v in metrics.items() if k.startswith("actor/pg") or k == "actor/ppo_kl"},
                         log_probs.grad)
    (l0, m0, g0), (l1, m1, g1) = results["vanilla"], results["rlev"]
    assert l1.item() == pytest.approx(l0.item(), rel=1e-6, abs=1e-8)
    assert torch.allclose(g1, g0, rtol=1e-6, atol=1e-9)
    for k in ("actor/pg_clipfrac", "actor/ppo_kl", "actor/pg_clipfrac_lower"):
        assert m1[k] == pytest.approx(m0[k], rel=1e-6, abs=1e-9) and m0[k], k


def test_fused_forward_backend_matches_verls_torch_backend():
    """verl's patch_forward_with_backends (the last step of apply_monkey_patch) with fused_kernels_backend
    'rlev_fast' on the tiny Llama: log-probs and entropy, and their gradients, equal verl's own 'torch'
    fused backend. (apply_monkey_patch itself fails beside TRL >= 1: verl 0.9.1 imports TRL's removed
    AutoModelForCausalLMWithValueHead when trl is installed.)"""
    from verl.models.transformers import monkey_patch

    from rlev_fast.policy import build_tiny_model, build_tokenizer

    tok = build_tokenizer()
    out = {}
    for backend in ("torch", "rlev_fast"):
        model = build_tiny_model(len(tok), hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, seed=0)
        model.__class__ = type(f"Llama_{backend}", (model.__class__,), {})  # verl patches the class: one each
        monkey_patch.patch_forward_with_backends(model, use_fused_kernels=True, fused_kernels_backend=backend)
        ids = torch.randint(0, len(tok), (2, 9), generator=torch.Generator().manual_seed(0))
        o = model(input_ids=ids, attention_mask=torch.ones_like(ids), temperature=0.8, return_dict=True)
        (o.log_probs.sum() + 0.5 * o.entropy.sum()).backward()
        out[backend] = (o.log_probs.detach(), o.entropy.detach(), model.lm_head.weight.grad.clone())
    for a, b in zip(out["rlev_fast"], out["torch"]):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)


# The config lines of docs/integrations.md and examples/verl_rlev.md, exactly.
DOC_OVERRIDES = [
    "algorithm.adv_estimator=rlev_grpo",
    "reward.custom_reward_function.path=pkg://rlev_fast.integrations.verl",
    "reward.custom_reward_function.name=compute_score",
    "+reward.custom_reward_function.reward_kwargs.alpha=10",
    "actor_rollout_ref.actor.policy_loss.loss_mode=rlev",
    "actor_rollout_ref.model.use_fused_kernels=True",
    "actor_rollout_ref.model.fused_kernel_options.impl_backend=rlev_fast",
    "+ray_kwargs.ray_init.runtime_env.worker_process_setup_hook=rlev_fast.integrations.verl.setup_worker",
]


def test_documented_config_lines_compose_in_verls_config():
    """The overrides compose against verl's own ppo_trainer config, verl loads our compute_score from the
    pkg:// path with the reward_kwargs, and the actor config keeps loss_mode=rlev."""
    import os

    from hydra import compose, initialize_config_module
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.utils.config import omega_conf_to_dataclass

    doc = open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "integrations.md")).read()
    for line in DOC_OVERRIDES:
        assert line in doc, line
    with initialize_config_module("verl.trainer.config", version_base=None):
        cfg = compose("ppo_trainer", overrides=DOC_OVERRIDES + ["actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=1"])
    assert cfg.algorithm.adv_estimator == "rlev_grpo" and get_adv_estimator_fn(cfg.algorithm.adv_estimator)
    fn = get_custom_reward_fn(cfg)
    assert fn("rlev", "Answer: 4", "4", {"value": 0.05})["score"] == pytest.approx(1.5)
    assert fn("rlev", "Answer: 4", "4", {"value": 0.2})["score"] == pytest.approx(2.0)  # alpha = 10 reached it
    assert omega_conf_to_dataclass(cfg.actor_rollout_ref.actor).policy_loss.loss_mode == "rlev"
    assert cfg.actor_rollout_ref.model.fused_kernel_options.impl_backend == rv.FUSED_BACKEND
    assert cfg.ray_kwargs.ray_init.runtime_env.worker_process_setup_hook == "rlev_fast.integrations.verl.setup_worker"


@pytest.mark.slow
def test_ray_worker_setup_hook_registers_in_workers():
    """verl's trainer and workers are Ray actors: the documented worker_process_setup_hook makes a fresh
    Ray worker (that never imported rlev_fast) see our estimators and policy loss. A local Ray, ~15 s."""
    ray = pytest.importorskip("ray", reason="ray is not installed (it comes with verl)")

    @ray.remote
    def probe():
        import sys

        from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, POLICY_LOSS_REGISTRY

        return "rlev_grpo" in ADV_ESTIMATOR_REGISTRY, "rlev" in POLICY_LOSS_REGISTRY, sys.modules.get(rv.__name__) is not None

    hook = DOC_OVERRIDES[-1].split("=", 1)[1]
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, runtime_env={"worker_process_setup_hook": hook})
    try:
        assert ray.get(probe.remote(), timeout=240) == (True, True, True)
    finally:
        ray.shutdown()
