"""The trainer's configs and its generated command line: defaults in one place, clear errors."""
import json

import pytest

import rlev_fast.train as T


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




# ----------------------------------------------------------------------------------------------
# One home per default, per choice list
# ----------------------------------------------------------------------------------------------
def test_python_config_equals_the_command_line_default_field_by_field():
    import dataclasses

    py, cli = T.TrainConfig(), T.parse_args([])
    for sec in dataclasses.fields(py):
        a, b = getattr(py, sec.name), getattr(cli, sec.name)
        for f in dataclasses.fields(a):
            assert getattr(a, f.name) == getattr(b, f.name), f"{sec.name}.{f.name}"
    assert py == cli
    assert py.optim.lr == 1e-4 and py.loss.compute_entropy is True  # the two defaults that used to differ


def test_every_flag_comes_from_a_config_field_and_keeps_its_name():
    from rlev_fast.trainer.cli import cli_fields

    flags = {a.option_strings[0] for a in T.build_parser()._actions if a.option_strings and a.dest != "help"}
    for flag in ("--model", "--device", "--dtype", "--bf16", "--gradient-checkpointing", "--data", "--eval-data",
                 "--eval-limit", "--eval-fraction", "--data-seed", "--rollout", "--n", "--max-new-tokens",
                 "--temperature", "--top-p", "--rollout-batch-size", "--vllm-gpu-memory-utilization", "--algo",
                 "--reward", "--alpha", "--prompts-per-step", "--ppo-epochs", "--mini-batches", "--grad-accum",
                 "--loss-backend", "--share-prompt", "--length-buckets", "--clip-low", "--clip-high", "--dual-clip",
                 "--kl-coef", "--kl-estimator", "--entropy-coef", "--loss-agg", "--lr", "--weight-decay",
                 "--schedule", "--warmup-steps", "--min-lr-ratio", "--grad-clip", "--steps", "--out", "--save-every",
                 "--keep-checkpoints", "--resume", "--seed", "--eval", "--eval-batch-size", "--eval-max-new-tokens",
                 "--dist", "--tensorboard", "--plots", "--progress", "--save-final", "--threads"):
        assert flag in flags, flag
    assert len(flags) == len(list(cli_fields()))
    cfg = T.parse_args(["--num-completions", "4", "--no-share-prompt", "--no-eval", "--no-save-final",
                        "--temperature", "0.7", "--dual-clip", "3"])
    assert cfg.rollout.n == 4 and cfg.algo.share_prompt is False and cfg.run.eval is False
    assert cfg.run.save_final_model is False and cfg.loss.temperature == cfg.rollout.temperature == 0.7
    assert cfg.loss.dual_clip == 3.0


def test_help_shows_each_default_once(capsys):
    with pytest.raises(SystemExit):
        T.parse_args(["--help"])
    text = capsys.readouterr().out
    assert "(default: None)" not in text
    joined = " ".join(text.split())
    assert joined.count("(default: 0.0001)") == 1  # --lr
    for block in joined.split(" --")[1:]:
        assert block.count("(default:") <= 1, block


@pytest.mark.parametrize("make, match", [
    (lambda: T.AlgoConfig(algo="ppo2"), r"AlgoConfig.algo must be one of grpo, dr_grpo, rloo"),
    (lambda: T.AlgoConfig(reward="additive"), r"AlgoConfig.reward must be one of rlev, correctness"),
    (lambda: T.AlgoConfig(loss_backend="cuda"), r"AlgoConfig.loss_backend must be one of auto, reference"),
    (lambda: T.ModelConfig(dtype="fp8"), r"ModelConfig.dtype must be one of auto, float32"),
    (lambda: T.OptimConfig(schedule="linear"), r"OptimConfig.schedule must be one of constant, cosine"),
    (lambda: T.RunConfig(dist="deepspeed"), r"RunConfig.dist must be one of auto, none, ddp, fsdp2"),
])
def test_unknown_names_list_the_known_ones(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_a_user_registered_estimator_is_accepted_by_the_configs_and_the_command_line():
    from rlev_fast.advantages import ESTIMATORS, compute_advantages

    @ESTIMATORS.register("mean_baseline_x2")
    def doubled(r, group_size, scale, eps):
        g = r.view(-1, group_size)
        return 2 * (g - g.mean(dim=1, keepdim=True)).reshape(-1)

    try:
        cfg = T.parse_args(["--algo", "mean_baseline_x2"])
        assert cfg.algo.algo == "mean_baseline_x2"
        out = compute_advantages([1.0, 0.0, 0.0, 0.0], 2, "mean_baseline_x2")
        assert out.tolist() == [1.0, -1.0, 0.0, 0.0]
        with pytest.raises(ValueError, match="already registered"):
            ESTIMATORS.register("mean_baseline_x2", doubled)
    finally:
        ESTIMATORS.unregister("mean_baseline_x2")
    with pytest.raises(SystemExit):
        T.parse_args(["--algo", "mean_baseline_x2"])
