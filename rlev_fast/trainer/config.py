"""The trainer's configuration: one dataclass per component, validated in `__post_init__`.

Each field is the one home of its default, its help text (`metadata["help"]`) and, for named
choices, its choice list (`metadata["choices"]`, usually a registry, so that a user-registered
estimator is accepted everywhere). The command line is generated from these fields
(rlev_fast/trainer/cli.py): `TrainConfig()` and `python -m rlev_fast.train` with no arguments are the
same run. Fields without a help text are Python-only.

Metadata keys read by the CLI generator: help, choices, flag (the flag's name when it is not
`--field-name`), aliases (more names for the same flag).
"""
from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from .. import distributed as D
from ..advantages import ESTIMATORS
from ..config_checks import check_choice, check_int, check_number
from ..loss import LOSS_BACKENDS, PolicyLossConfig
from ..rewards import SCALE_FORMS
from ..rollout import RolloutConfig
from ..varlen_attention import VARLEN_BACKENDS
from .trunk import PACKING_MODES


def opt(default, help: str, **meta):
    """A config field with its CLI metadata (help text, choices, flag name)."""
    return field(default=default, metadata=dict(help=help, **meta))


def _loss_backends():
    return ("auto", *LOSS_BACKENDS)


def _varlen_backends():
    return ("auto", *VARLEN_BACKENDS)


@dataclass
class ModelConfig:
    """The policy: which model, on which device, in which precision."""

    name: Optional[str] = opt(None, "local folder or hub id (none: the shipped warm-started tiny policy)", flag="--model")
    device: str = opt("auto", "training device (auto: cuda when available)", choices=("auto", "cpu", "cuda"))
    dtype: str = opt("auto", "parameter dtype (auto: float32; bf16 autocast on GPU does the fast math)",
                     choices=("auto", "float32", "bfloat16", "float16"))
    bf16: str = opt("auto", "bf16 autocast on GPU (auto: on where CUDA supports bf16)", choices=("auto", "on", "off"))
    gradient_checkpointing: bool = opt(False, "recompute activations in backward (turns the shared prompt off)")

    def __post_init__(self):
        for name in ("device", "dtype", "bf16"):
            check_choice(self, name)
        if self.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise ValueError("ModelConfig.device is 'cuda' but no CUDA device is available")


@dataclass
class DataConfig:
    """Training and held-out questions. The shipped warm start holds out the test problems of the
    embedded exam of data_seed 0."""

    data: Optional[str] = opt(None, "training JSONL: {query,label,score,total} | {prompt,answer,value} | "
                                    "{prompt,answer,score,total} (none: the embedded synthetic exam)")
    eval_data: Optional[str] = opt(None, "held-out JSONL (none: the embedded test split, or a split of --data)")
    eval_limit: int = opt(0, "evaluate on the first N held-out questions (0: all)")
    eval_fraction: float = opt(0.1, "held-out fraction of the exams (or rows) of --data when --eval-data is absent")
    data_seed: int = opt(0, "seed of the embedded synthetic exam and of the held-out split of --data")

    def __post_init__(self):
        for name in ("data", "eval_data"):
            p = getattr(self, name)
            if p is None:
                continue
            if os.path.isdir(p):
                raise ValueError(f"DataConfig.{name}: {p!r} is a folder, not a JSONL file")
            if not os.path.exists(p):  # not isfile: a pipe (--data <(zcat x.jsonl.gz)) reads fine
                raise ValueError(f"DataConfig.{name}: no such file {p!r}")
        check_int(self, "eval_limit", 0)
        check_number(self, "eval_fraction", 0.0, 0.9, strict_lo=True)
        check_int(self, "data_seed", 0)


@dataclass
class AlgoConfig:
    """The RL algorithm: estimator, reward form, batch and update structure."""

    algo: str = opt("grpo", "advantage estimator (grpo keeps s(x): A = s (c - mean c) / (std c + eps))",
                    choices=ESTIMATORS)
    reward: str = opt("rlev", "reward scale: rlev, or one of the paper's controls", choices=SCALE_FORMS)
    alpha: float = opt(10.0, "s(x) = 1 + min(alpha v(x), 1)")
    prompts_per_step: int = opt(16, "global prompts per RL step")
    ppo_epochs: int = opt(1, "passes over each rollout batch")
    mini_batches: int = opt(1, "optimizer updates per PPO epoch")
    grad_accum: int = opt(1, "micro-batches per mini-batch, at least (the token budget may add more; the loss "
                             "divides by the mini-batch's global token / sequence counts, so accumulation does not "
                             "change it)")
    loss_backend: str = opt("auto", "policy_loss backend (auto: triton on CUDA, chunked elsewhere)",
                            choices=_loss_backends)
    packing: str = opt("auto", "pack each micro-batch's sequences into one row without padding, attention by "
                               "variable-length kernels (auto: where the model's attention takes it, checked at "
                               "startup, padded micro-batches otherwise; on: an error where it cannot; off: padded)",
                       choices=PACKING_MODES)
    varlen_attention: str = opt("auto", "attention kernel of packed rows (auto: flash_attn on CUDA for bf16 / fp16 "
                                        "when flash-attn is installed, else flex on CUDA, per_sequence on CPU)",
                                choices=_varlen_backends)
    max_tokens_per_micro_batch: int = opt(16384, "token budget of a micro-batch: its packed row (prompts once, "
                                                 "responses but their last token) at most this long; more "
                                                 "micro-batches where needed (0: --grad-accum micro-batches of "
                                                 "equal size)")
    share_prompt: bool = opt(True, "run each prompt once per micro-batch for all its completions (packed: in one "
                                   "row; padded: a shared KV cache, off under gradient checkpointing and FSDP2)")
    length_buckets: int = opt(4, "padded micro-batches only: response forward passes per micro-batch, by response "
                                 "length (1: off); same gradient, less padding")
    rollout_is: str = opt("none", "rollout importance sampling: weight the policy-gradient term by "
                                  "min(pi_old / pi_sampler, cap) per token (token) or per sequence, the product "
                                  "over its tokens (sequence); corrects sampler / trainer mismatch (verl's TIS)",
                          choices=("none", "token", "sequence"))
    rollout_is_cap: float = opt(2.0, "upper bound of the rollout importance weights (--rollout-is)")

    def __post_init__(self):
        for name in ("algo", "reward", "loss_backend", "rollout_is", "packing", "varlen_attention"):
            check_choice(self, name)
        check_int(self, "max_tokens_per_micro_batch", 0)
        check_number(self, "alpha", 0.0)
        check_number(self, "rollout_is_cap", 0.0, strict_lo=True)
        for name in ("prompts_per_step", "ppo_epochs", "mini_batches", "grad_accum", "length_buckets"):
            check_int(self, name)


@dataclass
class OptimConfig:
    """AdamW with a constant or cosine schedule after a linear warmup; the schedule counts
    optimizer updates."""

    # 1e-4 is what the default run was tuned and measured with (docs, README); the paper's 7B runs
    # use 5e-7 (--lr 5e-7).
    lr: float = opt(1e-4, "AdamW learning rate")
    weight_decay: float = opt(0.0, "AdamW weight decay")
    beta1: float = 0.9
    beta2: float = 0.99
    schedule: str = opt("constant", "learning-rate schedule", choices=("constant", "cosine"))
    warmup_steps: int = opt(0, "linear warmup, in optimizer updates")
    min_lr_ratio: float = opt(0.1, "cosine floor as a fraction of --lr")
    grad_clip: float = opt(1.0, "max global gradient norm (0: off)")

    def __post_init__(self):
        check_number(self, "lr", 0.0, strict_lo=True)
        check_number(self, "weight_decay", 0.0)
        check_number(self, "beta1", 0.0, 1.0)
        check_number(self, "beta2", 0.0, 1.0)
        check_choice(self, "schedule")
        check_int(self, "warmup_steps", 0)
        check_number(self, "min_lr_ratio", 0.0, 1.0)
        check_number(self, "grad_clip", 0.0)


@dataclass
class RunConfig:
    """Length, outputs, checkpoints, evaluation and processes of a run."""

    steps: int = opt(60, "RL steps")
    out: Optional[str] = opt(None, "output folder (none: runs/<timestamp>)")
    save_every: int = opt(20, "checkpoint every K steps (0: only at the end)")
    keep_checkpoints: int = opt(2, "newest checkpoints kept (0: all)")
    resume: bool = opt(False, "continue from the latest checkpoint in --out")
    seed: int = opt(0, "RL seed: sampling and data order")
    eval: bool = opt(True, "the before / after evaluation on the held-out split")
    eval_batch_size: int = opt(64, "prompts per greedy generate call in evaluation")
    eval_max_new_tokens: int = opt(0, "evaluation length cap (0: --max-new-tokens)")
    dist: str = opt("auto", "multi-process mode under torchrun (auto: ddp with several processes)",
                    choices=D.DIST_MODES)
    tensorboard: bool = opt(True, "TensorBoard events (when tensorboard is installed)")
    plots: bool = opt(True, "PNG plots at the end (when matplotlib is installed)")
    progress: bool = opt(True, "tqdm progress bar")
    save_final_model: bool = opt(True, "save_pretrained the final model into <out>/final", flag="--save-final")
    threads: int = opt(0, "CPU threads for torch (0: auto: cores / processes, 1 on a busy machine)")

    def __post_init__(self):
        check_int(self, "steps")
        check_int(self, "threads", 0)
        for name in ("save_every", "keep_checkpoints", "seed", "eval_max_new_tokens"):
            check_int(self, name, 0)
        check_int(self, "eval_batch_size")
        check_choice(self, "dist")
        if self.resume and not self.out:
            raise ValueError("--resume needs --out: the run folder to continue")


def _trainer_loss() -> PolicyLossConfig:
    # The trainer reports the policy's entropy every step (one more pass over the vocabulary in the
    # fused backends; the loss and gradients are unchanged): it is the first sign of a collapsing policy.
    return PolicyLossConfig(compute_entropy=True)


# Fields that one flag sets together: the loss's log-probs must be those of the distribution the
# rollout sampled from, so --temperature sets both (and TrainConfig refuses them unequal).
TIED_FIELDS = {("loss", "temperature"): ("rollout", "temperature")}

# Estimators whose baseline is a statistic of the prompt's own group of n completions (its mean, and
# for grpo its std): with n = 1 every advantage is 0 and nothing trains, so TrainConfig refuses n < 2
# for them. reinforce_pp whitens over the whole batch and takes n = 1. The one home of this rule (an
# estimator registered elsewhere is not in it: add its name here if it needs a group).
GROUP_BASELINE_ESTIMATORS = frozenset({"grpo", "dr_grpo", "rloo", "reinforce_pp_baseline"})

# What decides which data a run draws, in which order: a resumed run must keep them.
RESUME_KEYS = (("run", "seed"), ("algo", "prompts_per_step"), ("rollout", "n"), ("data", "data"),
               ("data", "data_seed"), ("model", "name"))


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig, metadata={"title": "model"})
    data: DataConfig = field(default_factory=DataConfig, metadata={"title": "data"})
    rollout: RolloutConfig = field(default_factory=RolloutConfig, metadata={"title": "rollout"})
    algo: AlgoConfig = field(default_factory=AlgoConfig, metadata={"title": "algorithm"})
    loss: PolicyLossConfig = field(default_factory=_trainer_loss, metadata={"title": "loss"})
    optim: OptimConfig = field(default_factory=OptimConfig, metadata={"title": "optimizer"})
    run: RunConfig = field(default_factory=RunConfig, metadata={"title": "run"})

    def __post_init__(self):
        if self.algo.algo in GROUP_BASELINE_ESTIMATORS and self.rollout.n < 2:
            raise ValueError(
                f"--algo {self.algo.algo} needs --n 2 or more: its baseline is the mean reward of the prompt's own group "
                f"of n completions, and a group of one has no baseline (every advantage would be 0 and nothing would "
                f"train); use --n 2 or more, or --algo reinforce_pp (whitened over the batch)")
        for (sec, name), (src_sec, src_name) in TIED_FIELDS.items():
            a, b = getattr(getattr(self, sec), name), getattr(getattr(self, src_sec), src_name)
            if a != b:
                raise ValueError(f"{sec}.{name} = {a} differs from {src_sec}.{src_name} = {b}: log-probs must be "
                                 "those of the sampling distribution (set both, or use --temperature)")
        if self.algo.prompts_per_step * self.rollout.n % (self.algo.mini_batches * self.algo.grad_accum):
            raise ValueError(
                f"prompts_per_step * n = {self.algo.prompts_per_step * self.rollout.n} sequences must split "
                f"evenly into mini_batches x grad_accum = {self.algo.mini_batches * self.algo.grad_accum} micro-batches"
            )

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def config_from_dict(d: Dict[str, Any]) -> TrainConfig:
    """The inverse of `TrainConfig.to_dict` (e.g. a run's config.json; extra top-level keys such as
    "resolved" are ignored)."""
    types = typing.get_type_hints(TrainConfig)
    return TrainConfig(**{f.name: types[f.name](**d[f.name]) for f in dataclasses.fields(TrainConfig) if f.name in d})
