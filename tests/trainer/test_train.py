"""The trainer: flags and configs, a tiny end-to-end run and its outputs, every estimator and reward
control, the PPO knobs, gradient accumulation, bad input, and a NaN loss."""
import importlib.util
import json
import math
import os

import pytest
import torch

import rlev_fast.distributed as D
import rlev_fast.train as T
from rlev_fast import checkpoint as ckpt


def tiny_args(model_dir, out, *extra):
    return ["--model", model_dir, "--out", str(out), "--steps", "2", "--prompts-per-step", "4", "--n", "2",
            "--max-new-tokens", "8", "--eval-limit", "8", "--no-progress", "--lr", "1e-3", *extra]


# ----------------------------------------------------------------------------------------------
# Flags and configs
# ----------------------------------------------------------------------------------------------
def test_defaults_parse_and_validate():
    cfg = T.parse_args([])
    assert cfg.model.name is None and cfg.data.data is None
    assert cfg.algo.algo == "grpo" and cfg.algo.reward == "rlev" and cfg.algo.alpha == 10.0
    assert cfg.loss.temperature == cfg.rollout.temperature
    assert T.config_from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


@pytest.mark.parametrize("argv, match", [
    (["--n", "0"], "n must be"),
    (["--lr", "-1"], "lr must be"),
    (["--clip-low", "1.5"], "clip_low"),
    (["--dual-clip", "0.5"], "dual_clip"),
    (["--resume"], "--resume needs --out"),
    (["--prompts-per-step", "3", "--n", "3", "--mini-batches", "2"], "split evenly"),
    (["--alpha", "nan"], "alpha"),
])
def test_bad_flags_are_clear_errors(argv, match, capsys):
    with pytest.raises(ValueError, match=match):
        T.parse_args(argv)
    assert T.main(argv) == 2


def test_unknown_choice_is_an_argparse_error():
    with pytest.raises(SystemExit):
        T.parse_args(["--algo", "ppo2"])


def test_scheduler_warmup_and_cosine():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    s = T.make_scheduler(opt, T.OptimConfig(lr=1.0, schedule="cosine", warmup_steps=2, min_lr_ratio=0.1), 10)
    lrs = []
    for _ in range(10):
        lrs.append(s.get_last_lr()[0])
        opt.step()
        s.step()
    assert lrs[0] == pytest.approx(0.5) and lrs[1] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:])) and lrs[-1] > 0.1


def test_data_stream_is_seeded_and_positional():
    a, b = T.DataStream(10, seed=3), T.DataStream(10, seed=3)
    first = a.take(7) + a.take(7)
    b.position = 7
    assert b.take(7) == first[7:]
    assert sorted(first[:10]) == list(range(10))  # an epoch is a permutation


# ----------------------------------------------------------------------------------------------
# End to end
# ----------------------------------------------------------------------------------------------
def test_tiny_run_writes_every_output(model_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert T.main(tiny_args(model_dir, out, "--save-every", "1")) == 0
    printed = capsys.readouterr().out
    assert "H-Acc (%)" in printed and "before" in printed and "after" in printed
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["algo"]["algo"] == "grpo" and cfg["resolved"]["device"] == "cpu" and cfg["run"]["out"] == str(out)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for key in ("reward", "acc", "h_acc", "len_mean", "len_top", "len_bottom", "clip_frac", "entropy",
                "eos_p_top", "eos_p_bottom", "eos_grad_top", "eos_profile_top", "tokens_per_s",
                "time_rollout_s", "time_verify_s", "time_train_s", "loss", "grad_norm", "lr"):
        assert key in rows[0], key
    assert len(rows[0]["eos_profile_top"]) == T.EOS_PROFILE_BINS
    for name in ("eval_before.json", "eval_after.json"):
        res = json.loads((out / name).read_text())
        assert res["n"] == 8 and 0 <= res["h_acc"] <= 1 and "top_acc" in res
    assert "H-Acc" in (out / "table.txt").read_text()
    assert [os.path.basename(p) for p in ckpt.list_checkpoints(str(out))] == ["step_000001", "step_000002"]
    from rlev_fast.policy import load_policy

    model, tok = load_policy(str(out / "final"))
    state = ckpt.load_file(ckpt.latest_checkpoint(str(out)), "model.pt")
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


@pytest.mark.parametrize("algo, reward", [
    ("grpo", "rlev"), ("dr_grpo", "correctness"), ("rloo", "uniform"), ("reinforce_pp", "shuffled"),
    ("reinforce_pp_baseline", "multiplicative"),
])
def test_every_estimator_and_reward_control_runs(model_dir, tmp_path, algo, reward):
    out = tmp_path / algo
    args = tiny_args(model_dir, out, "--algo", algo, "--reward", reward, "--no-eval", "--no-save-final")
    assert T.main(args[:args.index("--steps") + 1] + ["1"] + args[args.index("--steps") + 2:]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["algo"]["algo"], cfg["algo"]["reward"]) == (algo, reward)


def test_ppo_epochs_minibatches_accumulation_kl_and_schedule(model_dir, tmp_path):
    out = tmp_path / "ppo"
    args = tiny_args(model_dir, out, "--ppo-epochs", "2", "--mini-batches", "2", "--grad-accum", "2",
                     "--kl-coef", "0.05", "--kl-estimator", "k2", "--entropy-coef", "0.01", "--dual-clip", "3",
                     "--clip-high", "0.28", "--schedule", "cosine", "--warmup-steps", "1", "--no-eval",
                     "--no-save-final")
    assert T.main(args) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["kl"] is not None and rows[-1]["kl"] >= 0
    assert rows[0]["lr"] < rows[-1]["lr"] or rows[0]["lr"] > 0  # warmup then cosine


def _fixed_update(model_dir, grad_accum):
    from rlev_fast.policy import load_policy
    from rlev_fast.rollout import RolloutConfig, assemble_batch, encode_prompts

    torch.manual_seed(0)
    model, tok = load_policy(model_dir)
    model.train()
    g = torch.Generator().manual_seed(0)
    ids, mask = encode_prompts(tok, ["Q (1 of 9 points): 1+2 = ?", "Q (3 of 9 points): 12+2-5 = ?"], "cpu")
    ids, mask = ids.repeat_interleave(4, 0), mask.repeat_interleave(4, 0)
    resp = [torch.randint(5, len(tok), (int(torch.randint(2, 9, (1,), generator=g)),), generator=g).tolist()
            for _ in range(8)]
    batch = assemble_batch(ids, mask, resp, tok.eos_token_id, tok.pad_token_id, tok, 4)
    adv = torch.randn(8, generator=g)
    cfg = T.TrainConfig(rollout=RolloutConfig(n=4), algo=T.AlgoConfig(prompts_per_step=2, grad_accum=grad_accum))
    trunk = T.PolicyTrunk(model)
    opt = torch.optim.AdamW(trunk.parameters(), lr=1e-3)
    upd = T.rl_update(trunk, batch, adv, opt, T.make_scheduler(opt, cfg.optim, 1), cfg, D.DistInfo())
    return upd, model.state_dict()


def test_gradient_accumulation_uses_the_global_token_count(model_dir):
    a, sa = _fixed_update(model_dir, 1)
    b, sb = _fixed_update(model_dir, 4)
    assert b["loss"] == pytest.approx(a["loss"], rel=1e-5, abs=1e-7)
    assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-4)
    for k in sa:
        torch.testing.assert_close(sb[k], sa[k], rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not os.path.isfile(os.path.join(os.path.dirname(T.__file__), "assets", "tiny_policy",
                                                    "model.safetensors")), reason="warm-start assets not built")
def test_default_policy_and_data_smoke(tmp_path):
    out = tmp_path / "default"
    args = ["--out", str(out), "--steps", "1", "--prompts-per-step", "2", "--n", "2", "--max-new-tokens", "8",
            "--eval-limit", "4", "--no-progress", "--no-save-final"]
    assert T.main(args) == 0


# ----------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lines, match", [
    (['{"query": "Q: 1+1", "label": "2", "score": 1, "total": 10}', '{"query": "Q: 2+2", "label": '],
     "line 2"),
    (['{"query": "Q: 1+1", "label": "2", "score": 12, "total": 10}'], "score 12 > total 10"),
    (['{"query": "Q: 1+1", "score": 1, "total": 10}'], "missing field 'label'"),
    ([""], "no examples"),
])
def test_bad_data_names_file_and_line(model_dir, tmp_path, capsys, lines, match):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert T.main(tiny_args(model_dir, tmp_path / "out", "--data", str(path))) == 1
    err = capsys.readouterr().err
    assert match in err and "bad.jsonl" in err


def test_missing_data_file(model_dir, tmp_path, capsys):
    assert T.main(tiny_args(model_dir, tmp_path / "out", "--data", str(tmp_path / "nope.jsonl"))) == 2
    assert "no such file" in capsys.readouterr().err


def test_real_run_flags_with_jsonl_data(model_dir, tmp_path):
    """--data in the RLEV format with a held-out --eval-data in the {prompt, answer, value} format."""
    rows = [{"query": f"Q ({s} of 20 points): {a}+{a} = ?", "label": str(2 * a), "score": s, "total": 20,
             "exam_id": f"e{a % 3}"} for a, s in zip(range(10, 22), [1, 2, 5, 8] * 3)]
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    ev = [{"prompt": "Q (4 of 20 points): 30+30 = ?", "answer": "60", "value": 0.2},
          {"prompt": "Q (1 of 20 points): 31+31 = ?", "answer": "62", "value": 0.05}]
    (tmp_path / "eval.jsonl").write_text("\n".join(json.dumps(r) for r in ev) + "\n")
    out = tmp_path / "real"
    args = tiny_args(model_dir, out, "--data", str(tmp_path / "train.jsonl"), "--eval-data",
                     str(tmp_path / "eval.jsonl"), "--no-save-final")
    assert T.main(args) == 0
    assert json.loads((out / "eval_after.json").read_text())["n"] == 2


def test_nan_loss_stops_with_the_last_checkpoint_intact(model_dir, tmp_path, capsys, monkeypatch):
    real = T.policy_loss
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        out = real(*args, **kwargs)
        if torch.is_grad_enabled():
            calls["n"] += 1
            if calls["n"] == 3:  # the third training step
                out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(T, "policy_loss", flaky)
    out = tmp_path / "nan"
    # one length bucket: one training policy_loss call per step, so call 3 is step 3
    args = tiny_args(model_dir, out, "--save-every", "1", "--no-eval", "--keep-checkpoints", "0", "--length-buckets", "1")
    args[args.index("--steps") + 1] = "5"
    assert T.main(args) == 1
    err = capsys.readouterr().err
    assert "loss is nan at step 3" in err and "step_000002" in err
    last = ckpt.latest_checkpoint(str(out))
    assert os.path.basename(last) == "step_000002"
    for name in ("model.pt", "optimizer.pt", "trainer.pt"):
        ckpt.load_file(last, name)


def test_gradient_checkpointing_runs_without_the_shared_prompt(model_dir, tmp_path):
    """Checkpointed layers cannot take the shared prompt cache: the run turns it off, says so in the
    resolved config, and trains (finite losses)."""
    out = tmp_path / "gc"
    assert T.main(tiny_args(model_dir, out, "--gradient-checkpointing", "--no-eval", "--no-save-final")) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"]["gradient_checkpointing"] is True and cfg["algo"]["share_prompt"] is False
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(math.isfinite(r["loss"]) for r in rows)


def test_resume_with_other_seed_is_refused(model_dir, tmp_path, capsys):
    out = tmp_path / "r"
    assert T.main(tiny_args(model_dir, out, "--no-eval", "--no-save-final")) == 0
    assert T.main(tiny_args(model_dir, out, "--no-eval", "--resume", "--seed", "7")) == 1
    assert "run.seed was 0" in capsys.readouterr().err
    assert T.main(tiny_args(model_dir, out, "--no-eval")) == 1  # a fresh run would mix with its checkpoints
    assert "pass --resume" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# Optional outputs
# ----------------------------------------------------------------------------------------------
@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="matplotlib is not installed")
def test_plots(model_dir, tmp_path):
    from rlev_fast.plots import plot_run

    out = tmp_path / "p"
    assert T.main(tiny_args(model_dir, out, "--no-save-final", "--no-plots")) == 0
    paths = plot_run(str(out))
    assert sorted(os.path.basename(p) for p in paths) == ["eos_profile.png", "hacc_acc.png", "length_by_value.png"]
    assert all(os.path.getsize(p) > 1000 for p in paths)


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="tensorboard is not installed")
def test_tensorboard_events(model_dir, tmp_path):
    out = tmp_path / "tb"
    assert T.main(tiny_args(model_dir, out, "--no-save-final", "--no-eval")) == 0
    assert any(n.startswith("events.") for n in os.listdir(out / "tensorboard"))


def test_shared_prompt_forward_matches_the_full_forward(model_dir):
    """PolicyTrunk with share=(rep, inv) runs each prompt once; hidden states and gradients equal
    those of the plain forward over (prompt + response) rows."""
    from rlev_fast.policy import load_policy
    from rlev_fast.rollout import assemble_batch, encode_prompts

    model, tok = load_policy(model_dir)
    model.train()
    trunk = T.PolicyTrunk(model)
    ids, mask = encode_prompts(tok, ["Q (1 of 9 points): 1+2 = ?", "Q (3 of 9 points): 12+2-5 = ?"], "cpu")
    ids, mask = ids.repeat_interleave(3, 0), mask.repeat_interleave(3, 0)
    g = torch.Generator().manual_seed(1)
    resp = [torch.randint(5, len(tok), (int(torch.randint(1, 7, (1,), generator=g)),), generator=g).tolist() + [1]
            for _ in range(6)]
    b = assemble_batch(ids, mask, resp, tok.eos_token_id, tok.pad_token_id, tok, 3)
    rows = [0, 2, 3, 4, 5]  # a partial group and a full one
    mb = b.select(rows)
    share = T.share_index(rows, 3)
    assert share is not None and share[0].tolist() == [0, 2] and share[1].tolist() == [0, 0, 1, 1, 1]
    outs = []
    for sh in (None, share):
        model.zero_grad()
        h, W = trunk(mb.input_ids, mb.attention_mask, mb.prompt_width, sh)
        mk = mb.response_mask
        ((h * mk[..., None]).pow(2).sum() + ((h @ W.t()).logsumexp(-1) * mk).sum()).backward()
        outs.append((h.detach(), {k: p.grad.clone() for k, p in model.named_parameters()}))
    m = mb.response_mask.bool()
    torch.testing.assert_close(outs[1][0][m], outs[0][0][m], rtol=1e-4, atol=1e-5)
    for k, grad in outs[0][1].items():
        torch.testing.assert_close(outs[1][1][k], grad, rtol=1e-3, atol=1e-5, msg=k)
    assert T.share_index([0, 3], 3) is None


def test_segments_with_a_shared_prompt_match_the_full_forward(model_dir):
    """One trunk call with length-bucket segments (one of width 1, so no response forward) and the
    shared prompt: every segment's hidden states and the summed gradients equal the plain forward's."""
    from rlev_fast.policy import load_policy
    from rlev_fast.rollout import assemble_batch, encode_prompts

    model, tok = load_policy(model_dir)
    # float64, except that HF's LlamaRMSNorm computes in float32 whatever the model dtype: the paths sum
    # the prompt's gradient over its rows before or after that norm, so they agree to float32
    # rounding (measured: 1.3e-4 on a gradient entry of 22.5, relative 6e-6), not to float64's.
    model.double().train()
    trunk = T.PolicyTrunk(model)
    ids, mask = encode_prompts(tok, ["Q (1 of 9 points): 1+2 = ?", "Q (3 of 9 points): 12+2-5 = ?",
                                     "Q (2 of 9 points): 7*3 = ?"], "cpu")
    ids, mask = ids.repeat_interleave(3, 0), mask.repeat_interleave(3, 0)
    g = torch.Generator().manual_seed(3)
    resp = [torch.randint(5, len(tok), (int(torch.randint(0, 9, (1,), generator=g)),), generator=g).tolist() + [1]
            for _ in range(9)]
    b = assemble_batch(ids, mask, resp, tok.eos_token_id, tok.pad_token_id, tok, 3)
    lengths = b.response_lengths.tolist()
    groups = [[r for r in range(9) if lo <= lengths[r] <= hi] for lo, hi in ((1, 1), (2, 5), (6, 99))]
    assert all(groups), lengths
    order, segments = T.bucket_segments(groups, lengths)
    assert segments[0][2] == 1 and sorted(order) == list(range(9))
    mb = b.select(order)

    def run(share, segs):
        model.zero_grad()
        hs, W = trunk(mb.input_ids, mb.attention_mask, mb.prompt_width, share, segs)
        hs = hs if segs is not None else [hs[a:z, :w] for a, z, w in segments]
        loss = 0.0
        for (a, z, w), h in zip(segments, hs):
            mk = mb.response_mask[a:z, :w]
            loss = loss + (h * mk[..., None]).pow(2).sum() + ((h @ W.t()).logsumexp(-1) * mk).sum()
        loss.backward()
        return [h.detach() for h in hs], {k: p.grad.clone() for k, p in model.named_parameters()}

    full_h, full_g = run(None, None)
    for share in (None, T.share_index(order, 3)):
        hs, grads = run(share, segments)
        for (a, z, w), h, ref in zip(segments, hs, full_h):
            assert h.shape == (z - a, w, ref.shape[-1])
            m = mb.response_mask[a:z, :w].bool()
            torch.testing.assert_close(h[m], ref[m], rtol=1e-6, atol=1e-6)
        for k, grad in full_g.items():
            torch.testing.assert_close(grads[k], grad, rtol=1e-5, atol=1e-5, msg=lambda m, k=k: f"{k}: {m}")


def two_prompt_update(model_dir, share, buckets, device="cpu", autocast=None):
    """One rl_update (2 PPO epochs, so old log-probs are recomputed too) of a fixed 2-prompt x 4
    batch of random responses of 0 to 11 tokens; returns (stats, state dict on the CPU in fp32).
    Also used by tests/test_train_gpu.py."""
    import contextlib

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
    cfg = T.TrainConfig(rollout=RolloutConfig(n=4),
                        algo=T.AlgoConfig(prompts_per_step=2, ppo_epochs=2, share_prompt=share, length_buckets=buckets))
    trunk = T.PolicyTrunk(model)
    opt = torch.optim.AdamW(trunk.parameters(), lr=1e-3)
    upd = T.rl_update(trunk, batch, adv, opt, T.make_scheduler(opt, cfg.optim, 2), cfg, D.DistInfo(),
                      autocast=autocast or contextlib.nullcontext)
    return upd, {k: v.float().cpu() for k, v in model.state_dict().items()}, batch


@pytest.mark.parametrize("share_prompt,buckets", [(False, 1), (False, 4), (True, 4)])
def test_update_is_the_same_with_or_without_prompt_sharing_and_buckets(model_dir, monkeypatch, share_prompt, buckets):
    """rl_update's parameters after its updates do not depend on how the micro-batch is cut into
    length buckets or whether prompts are shared."""
    monkeypatch.setattr(T, "BUCKET_OVERHEAD_TOKENS", 0)  # 8 short rows: cut them into real buckets

    def update(share, nb):
        upd, state, batch = two_prompt_update(model_dir, share, nb)
        assert len(T.length_buckets(list(range(8)), batch.response_lengths.tolist(), nb)) == min(nb, 4)
        return upd, state

    ref, ref_state = update(False, 1)
    got, state = update(share_prompt, buckets)
    assert got["losses"] == pytest.approx(ref["losses"], rel=1e-5, abs=1e-7)
    assert got["grad_norm"] == pytest.approx(ref["grad_norm"], rel=1e-4)
    for k in ref_state:
        torch.testing.assert_close(state[k], ref_state[k], rtol=1e-5, atol=1e-6, msg=k)
