"""RLEVGRPOTrainer and rlev_reward on TRL's real GRPOTrainer (TRL 1.16), the shipped tiny policy, CPU.

Skipped with the reason where trl is not installed; .ci/run runs this folder in its side venv with
trl and verl. No mocks: the trainers generate with the model, the reward functions are real ones (the
verifier, or a fixed correctness pattern where a test needs identical patterns across groups).
"""
import math

import pytest
import torch

trl = pytest.importorskip("trl", reason="trl is not installed (pip install 'trl>=1.16'; .ci/run's side venv has it)")
datasets = pytest.importorskip("datasets", reason="datasets is not installed")

from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from rlev_fast.data import default_dataset  # noqa: E402
from rlev_fast.integrations.trl import RLEVGRPOTrainer, make_rlev_reward, rlev_reward, rows_for_trl  # noqa: E402
from rlev_fast.policy import load_default_policy  # noqa: E402
from rlev_fast.rewards import value_scale  # noqa: E402

G = 4  # completions per prompt


def config(tmp_path, **kw):
    base = dict(output_dir=str(tmp_path / "trl"), max_steps=2, per_device_train_batch_size=8, num_generations=G,
                max_completion_length=24, learning_rate=1e-3, use_cpu=True, report_to=[], logging_steps=1,
                save_strategy="no", gradient_checkpointing=False, beta=0.0, bf16=False, disable_tqdm=True, seed=0)
    base.update(kw)
    return GRPOConfig(**base)


@pytest.fixture
def policy():
    torch.manual_seed(0)
    return load_default_policy()


@pytest.fixture(scope="module")
def exam_rows():
    train, _ = default_dataset(0)
    return rows_for_trl(train[:32])


def test_train_two_steps_on_cpu(tmp_path, policy, exam_rows):
    model, tok = policy
    before = {k: v.clone() for k, v in model.named_parameters()}
    trainer = RLEVGRPOTrainer(model=model, args=config(tmp_path), train_dataset=datasets.Dataset.from_list(exam_rows),
                              processing_class=tok)
    trainer.train()
    logs = [row for row in trainer.state.log_history if "loss" in row]
    assert len(logs) == 2 and all(math.isfinite(row["loss"]) for row in logs)
    for key in ("rlev/reward", "rlev/acc", "rlev/scale", "rlev/eos_p_top", "rlev/eos_p_bottom", "rlev/eos_grad_top",
                "entropy"):
        assert key in logs[0], key
    assert 1.0 <= logs[0]["rlev/scale"] <= 2.0
    assert any(not torch.equal(before[k], v) for k, v in model.named_parameters())


def fixed_batch(trainer, tok, exam_rows, B=6, T=9, seed=0):
    """A generation batch as _generate_and_score_completions returns it: left-padded prompts, completions
    with right padding (some length 1), old / ref log-probs near the model's, advantages of both signs."""
    g = torch.Generator().manual_seed(seed)
    enc = tok([r["prompt"] for r in exam_rows[:B]], return_tensors="pt", padding=True, add_special_tokens=False)
    V = trainer.model.config.vocab_size
    completion_ids = torch.randint(5, V, (B, T), generator=g)
    lengths = torch.tensor([T, 1, 5, T - 2, 3, 7])[:B]
    completion_mask = (torch.arange(T)[None] < lengths[:, None]).long()
    return {
        "prompt_ids": enc["input_ids"], "prompt_mask": enc["attention_mask"], "completion_ids": completion_ids,
        "completion_mask": completion_mask, "advantages": torch.randn(B, generator=g),
        "num_items_in_batch": completion_mask.sum(), "_lengths": lengths,
    }


def with_logps(trainer, batch, seed=1):
    """old and ref per-token log-probs: the model's own, jittered (ratios on both sides of the clip)."""
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], 1)
    mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], 1)
    with torch.no_grad():
        logps, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, input_ids, mask,
                                                                 batch["completion_ids"].size(1))
    out = dict(batch)
    out["old_per_token_logps"] = logps + 0.3 * torch.randn(logps.shape, generator=g)
    out["ref_per_token_logps"] = logps + 0.5 * torch.randn(logps.shape, generator=g)
    out.pop("_lengths")
    return out


def loss_and_grads(fn, trainer, inputs):
    trainer.model.zero_grad()
    loss = fn(trainer.model, inputs)
    loss.backward()
    return loss.detach(), {k: p.grad.clone() for k, p in trainer.model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo"])
@pytest.mark.parametrize("beta", [0.0, 0.04])
def test_fused_loss_equals_stock_grpo_loss(tmp_path, policy, exam_rows, loss_type, beta):
    """Same trainer, same batch, same loss_type: our _compute_loss (hidden states -> policy_loss) equals
    TRL's own GRPOTrainer._compute_loss in the loss and every parameter's gradient."""
    model, tok = policy
    trainer = RLEVGRPOTrainer(model=model, args=config(tmp_path, loss_type=loss_type, beta=beta, epsilon_high=0.28,
                                                       gradient_accumulation_steps=2, use_bias_correction_kl=False),
                              train_dataset=datasets.Dataset.from_list(exam_rows), processing_class=tok)
    model.train()
    trainer.current_gradient_accumulation_steps = 2
    inputs = with_logps(trainer, fixed_batch(trainer, tok, exam_rows))
    ours, g_ours = loss_and_grads(trainer._compute_loss, trainer, inputs)
    stock, g_stock = loss_and_grads(lambda m, x: GRPOTrainer._compute_loss(trainer, m, x), trainer, inputs)
    assert ours.item() == pytest.approx(stock.item(), rel=1e-5, abs=1e-7)
    assert g_ours.keys() == g_stock.keys()
    for k in g_stock:
        scale = g_stock[k].abs().max().item()
        assert (g_ours[k] - g_stock[k]).abs().max().item() <= 1e-5 * scale + 1e-8, k


def pattern_reward(prompts, completions, **kwargs):
    """Correct on every other completion: the same correctness pattern in every group."""
    return [float(i % 2) for i in range(len(completions))]


def test_advantages_keep_the_value_ratio(tmp_path, policy, exam_rows):
    model, tok = policy
    rows = [dict(r, value=v) for r, v in zip(exam_rows[:2], (0.02, 0.08))]  # s = 1.2 and 1.8
    trainer = RLEVGRPOTrainer(model=model, reward_funcs=[pattern_reward], args=config(tmp_path),
                              train_dataset=datasets.Dataset.from_list(exam_rows), processing_class=tok)
    model.train()
    batch = [r for r in rows for _ in range(G)]  # what TRL's RepeatSampler yields: G copies, consecutive
    torch.manual_seed(0)
    ours = trainer._generate_and_score_completions([dict(r) for r in batch])["advantages"]
    torch.manual_seed(0)
    stock = GRPOTrainer._generate_and_score_completions(trainer, [dict(r) for r in batch])["advantages"]
    s = value_scale([0.02, 0.08]).double()
    assert (ours[G:] / ours[:G]).tolist() == pytest.approx([float(s[1] / s[0])] * G, rel=1e-6)  # s(x) kept
    assert (stock[G:] / stock[:G]).tolist() == pytest.approx([1.0] * G, rel=1e-6)  # TRL divides it out
    # ours = s * (c - mean c) / (std c + 1e-6); TRL's (c - mean c) / (std c + 1e-4): equal up to eps
    expected = torch.cat([s[0].repeat(G), s[1].repeat(G)]) * stock.double()
    assert torch.allclose(ours.double(), expected, rtol=2e-4)


def test_equal_values_give_trls_advantages(tmp_path, policy, exam_rows):
    """With s = 1 for every prompt (scale_form='correctness') our GRPO advantages are TRL's (up to eps)."""
    model, tok = policy
    trainer = RLEVGRPOTrainer(model=model, args=config(tmp_path), train_dataset=datasets.Dataset.from_list(exam_rows),
                              processing_class=tok, scale_form="correctness")
    model.train()
    batch = [dict(r) for r in exam_rows[:2] for _ in range(G)]
    torch.manual_seed(3)
    ours = trainer._generate_and_score_completions([dict(r) for r in batch])["advantages"]
    torch.manual_seed(3)
    stock = GRPOTrainer._generate_and_score_completions(trainer, [dict(r) for r in batch])["advantages"]
    assert torch.allclose(ours, stock, rtol=2e-4, atol=1e-6)


def test_rlev_reward_in_trls_own_trainer(tmp_path, policy, exam_rows):
    # the plain reward function: hand-checked values, then one real step of the stock trainer with it
    r = rlev_reward(prompts=["a", "b", "c"], completions=["Answer: 4", "Answer: 5", [{"role": "assistant",
                    "content": "so the answer is 7"}]], label=["4", "4", "7"], score=[5, 20, 2], total=[100, 100, 100])
    assert r == pytest.approx([1.5, 0.0, 1.2])
    assert make_rlev_reward(alpha=1.0)(prompts=["a"], completions=["Answer: 4"], answer=["4"], value=[0.5]) == [1.5]
    model, tok = policy
    trainer = GRPOTrainer(model=model, reward_funcs=rlev_reward, args=config(tmp_path, max_steps=1, scale_rewards="none"),
                          train_dataset=datasets.Dataset.from_list(exam_rows), processing_class=tok)
    trainer.train()
    assert "rewards/rlev_reward/mean" in trainer.state.log_history[0]


@pytest.mark.parametrize("kwargs, match", [
    ({"value": [0.1, 1.5]}, r"column 'value', row 1: 1.5 is not a number in \[0, 1\]"),
    ({"score": [5, 120], "total": [100, 100]}, r"scores\[1\] = 120.0 exceeds totals\[1\]"),
    ({}, "the dataset needs a 'value' column"),
])
def test_rlev_reward_names_bad_columns(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rlev_reward(prompts=["a", "b"], completions=["Answer: 1", "Answer: 2"], answer=["1", "2"], **kwargs)
    with pytest.raises(ValueError, match="needs an 'answer' column"):
        rlev_reward(prompts=["a"], completions=["x"], value=[0.1])


def test_set_level_scale_forms_use_the_whole_train_set(tmp_path, policy, exam_rows):
    # uniform: one s for every row, the mean over the train set (not over a batch)
    model, tok = policy
    trainer = RLEVGRPOTrainer(model=model, args=config(tmp_path), train_dataset=datasets.Dataset.from_list(exam_rows),
                              processing_class=tok, scale_form="uniform")
    col = trainer.train_dataset["rlev_scale"]
    expected = float(value_scale([r["value"] for r in exam_rows]).double().mean())
    assert col == pytest.approx([expected] * len(exam_rows))
    with pytest.raises(ValueError, match="scale form 'shuffled' is defined over the whole training set"):
        make_rlev_reward(form="shuffled")


def test_unsupported_settings_are_refused(tmp_path, policy, exam_rows):
    model, tok = policy
    ds = datasets.Dataset.from_list(exam_rows)
    with pytest.raises(ValueError, match=r"does not implement: loss_type='cispo' \(supported: grpo, bnpo, dr_grpo, dapo\)"):
        RLEVGRPOTrainer(model=model, args=config(tmp_path, loss_type="cispo"), train_dataset=ds, processing_class=tok)
    with pytest.raises(ValueError, match="use_bias_correction_kl"):
        RLEVGRPOTrainer(model=model, args=config(tmp_path, beta=0.1), train_dataset=ds, processing_class=tok)
    with pytest.raises(ValueError, match="estimator must be one of grpo"):
        RLEVGRPOTrainer(model=model, args=config(tmp_path), train_dataset=ds, processing_class=tok, estimator="ppo")
    # TRL's loss with our advantages stays available
    RLEVGRPOTrainer(model=model, args=config(tmp_path, loss_type="cispo"), train_dataset=ds, processing_class=tok,
                    fused_loss=False)
