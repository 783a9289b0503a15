"""rlev_fast: fast training for Reinforcement Learning with Explicit Human Values (RLEV).

Rewards that respect what each question is worth, fused policy-loss kernels that never hold the
[tokens x vocab] logits, a C++ answer verifier, and a trainer (`python -m rlev_fast.train`).
"""
__version__ = "0.1.0"


def _alias_source_tree_kernels() -> None:
    """Run from a source checkout without `pip install` (PYTHONPATH=., as on a bare GPU box), the
    Triton kernels sit in kernels/ beside this package: make them importable as rlev_fast.kernels,
    as setup.py's package_dir mapping does for an install. Importing kernels/__init__ is cheap (no triton)."""
    import importlib.util
    import os
    import sys

    if importlib.util.find_spec(__name__ + ".kernels") is not None:
        return
    init = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kernels", "__init__.py")
    if not os.path.isfile(init):
        return
    spec = importlib.util.spec_from_file_location(
        __name__ + ".kernels", init, submodule_search_locations=[os.path.dirname(init)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)


_alias_source_tree_kernels()

try:
    from .advantages import ESTIMATORS, compute_advantages
    from .loss import PolicyLossConfig, PolicyLossOutput, policy_loss
    from .loss_module import FusedPolicyLoss
    from .logprobs import LogProbOutput, fused_logprobs
    from .metrics import accuracy, by_value_bucket, h_acc, mean_length, value_density
    from .verify import extract_answer, verify, verify_batch
    from .rewards import SCALE_FORMS, difficulty_values, exam_values, rlev_reward, value_scale
    from . import metrics
except KeyboardInterrupt:
    # `python -m rlev_fast.train` (or another tool) imports this package, and torch with it, before
    # the tool's own Ctrl-C handling exists; Python sets sys.argv[0] to "-m" while it does. A library
    # user's import keeps the plain KeyboardInterrupt.
    import sys as _sys

    if _sys.argv[:1] == ["-m"]:
        print("[rlev_fast] interrupted during startup; nothing written", file=_sys.stderr, flush=True)
        raise SystemExit(130) from None
    raise

__all__ = [
    "ESTIMATORS",
    "FusedPolicyLoss",
    "LogProbOutput",
    "SCALE_FORMS",
    "PolicyLossConfig",
    "PolicyLossOutput",
    "accuracy",
    "by_value_bucket",
    "compute_advantages",
    "difficulty_values",
    "exam_values",
    "extract_answer",
    "fused_logprobs",
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
