"""The shared field checks of the config dataclasses, and the configs that use them."""
import math
from dataclasses import dataclass

import pytest

from rlev_fast.config_checks import check_int, check_number
from rlev_fast.rollout import RolloutConfig
from rlev_fast.warm_start import WarmStartConfig


@dataclass
class Box:
    x: object


@pytest.mark.parametrize("v,lo,ok", [(1, 1, True), (0, 0, True), (0, 1, False), (True, 0, False), (1.0, 1, False),
                                     ("2", 1, False), (None, 0, False)])
def test_check_int(v, lo, ok):
    if ok:
        check_int(Box(v), "x", lo)
    else:
        with pytest.raises(ValueError, match=rf"Box\.x must be an int >= {lo}, got"):
            check_int(Box(v), "x", lo)


@pytest.mark.parametrize("v,kw,msg", [
    (math.nan, {}, "a finite number"), (math.inf, {}, "a finite number"), (False, {}, "a finite number"), ("1", {}, "a finite number"),
    (0.0, dict(lo=0.0, strict_lo=True), "> 0.0"), (-1e-9, dict(lo=0.0), ">= 0.0"),
    (1.0, dict(hi=1.0, strict_hi=True), "< 1.0"), (1.5, dict(hi=1.0), "<= 1.0"),
])
def test_check_number_rejects(v, kw, msg):
    with pytest.raises(ValueError, match=rf"Box\.x must be {msg}"):
        check_number(Box(v), "x", **kw)


@pytest.mark.parametrize("v,kw", [(0.0, dict(lo=0.0)), (1.0, dict(hi=1.0)), (3, dict(lo=1.0, strict_lo=True)), (-2.5, {})])
def test_check_number_accepts(v, kw):
    check_number(Box(v), "x", **kw)


@pytest.mark.parametrize("kw,name", [
    (dict(steps=-1), "steps"), (dict(batch_size=0), "batch_size"), (dict(lr=0.0), "lr"), (dict(lr=math.nan), "lr"),
    (dict(worked_fraction=1.5), "worked_fraction"), (dict(mc_fraction=-0.1), "mc_fraction"),
    (dict(num_heads=0), "num_heads"), (dict(threads=-1), "threads"), (dict(seed=1.5), "seed"),
])
def test_warm_start_config_errors_name_the_field(kw, name):
    with pytest.raises(ValueError, match=rf"WarmStartConfig\.{name} must be"):
        WarmStartConfig(**kw)


@pytest.mark.parametrize("kw,name", [
    (dict(n=0), "n"), (dict(max_new_tokens=True), "max_new_tokens"), (dict(batch_size=-1), "batch_size"),
    (dict(temperature=0.0), "temperature"), (dict(top_p=1.01), "top_p"), (dict(top_p=0.0), "top_p"),
    (dict(vllm_gpu_memory_utilization=1.0), "vllm_gpu_memory_utilization"),
])
def test_rollout_config_errors_name_the_field(kw, name):
    with pytest.raises(ValueError, match=rf"RolloutConfig\.{name} must be"):
        RolloutConfig(**kw)


def test_warm_start_cli_rejects_a_bad_value_without_a_traceback(capsys):
    from rlev_fast.warm_start import main

    with pytest.raises(SystemExit) as e:
        main(["--steps", "-1", "--out", "/nonexistent/never-written"])
    assert e.value.code == 2
    assert "WarmStartConfig.steps must be an int >= 0, got -1" in capsys.readouterr().err
