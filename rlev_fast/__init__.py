"""rlev_fast: fast training for Reinforcement Learning with Explicit Human Values (RLEV).

Rewards that respect what each question is worth, fused policy-loss kernels that never hold the
[tokens x vocab] logits, a C++ answer verifier, and a trainer (`python -m rlev_fast.train`).
"""
__version__ = "0.1.0"

from .advantages import ESTIMATORS, compute_advantages
from .loss import PolicyLossConfig, PolicyLossOutput, policy_loss
from .loss_module import FusedPolicyLoss
from .metrics import accuracy, by_value_bucket, h_acc, mean_length, value_density
from .verify import extract_answer, verify, verify_batch
from .rewards import SCALE_FORMS, difficulty_values, exam_values, rlev_reward, value_scale
from . import metrics

__all__ = [
    "ESTIMATORS",
    "FusedPolicyLoss",
    "SCALE_FORMS",
    "PolicyLossConfig",
    "PolicyLossOutput",
    "accuracy",
    "by_value_bucket",
    "compute_advantages",
    "difficulty_values",
    "exam_values",
    "extract_answer",
    "h_acc",
    "mean_length",
    "metrics",
    "policy_loss",
    "rlev_reward",
    "value_density",
    "value_scale",
    "verify",
    "verify_batch",
]
