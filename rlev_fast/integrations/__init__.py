"""rlev_fast inside the trainers people already use.

    rlev_fast.integrations.trl        RLEVGRPOTrainer (a TRL GRPOTrainer) and rlev_reward (a TRL reward function)
    rlev_fast.integrations.verl       verl estimators (rlev_grpo, ...), compute_score, the fused forward backend
    rlev_fast.integrations.verl_data  python -m rlev_fast.integrations.verl_data in.jsonl out.parquet

Each submodule imports its trainer (trl, verl) and fails with an ImportError naming the package when it
is missing; importing this package imports neither. docs/integrations.md has the walk-through.
"""
