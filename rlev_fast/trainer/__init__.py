"""The RLEV trainer's pieces; `python -m rlev_fast.train` (rlev_fast/train.py) is the loop around them.

    config          the dataclasses: one home for every default, help text and choice list
    cli             the command line, generated from config
    data            the training / held-out sets of a DataConfig, the seeded prompt stream
    trunk           PolicyTrunk: final hidden states for the fused loss (packed rows; padded fallback)
    update          rl_update: PPO epochs x mini-batches x micro-batches of the fused loss
    step            rl_step: rollout -> verify -> rewards -> advantages -> update -> metrics row
    batch_metrics   the step's metrics and EOS statistics by value bucket
    evaluation      greedy held-out evaluation and the before / after table
    metrics_log     metrics.jsonl and TensorBoard
    state           TrainState: what a checkpoint holds (checkpoint.py writes and reads it)
    runtime         device, processes, threads, seeds, schedule, Ctrl-C
"""
from .cli import build_parser, parse_args
from .config import AlgoConfig, DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig, config_from_dict
from .step import Policy, TrainSet, rl_step
from .update import rl_update

__all__ = ["AlgoConfig", "DataConfig", "ModelConfig", "OptimConfig", "Policy", "RunConfig", "TrainConfig", "TrainSet",
           "build_parser", "config_from_dict", "parse_args", "rl_step", "rl_update"]
