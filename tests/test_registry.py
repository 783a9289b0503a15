"""rlev_fast.registry: one name, one entry; unknown names list the known ones; no silent overwrite."""
import pytest

from rlev_fast.advantages import ESTIMATORS
from rlev_fast.registry import Registry
from rlev_fast.rewards import SCALE_FORMS, value_scale


def test_register_get_and_read_as_a_tuple_of_names():
    r = Registry("widget")

    @r.register("a")
    def a():
        return 1

    r.register("b", "some.module:fn")
    assert r.get("a") is a and r.get("b") == "some.module:fn"
    assert r.names() == ("a", "b") and list(r) == ["a", "b"] and len(r) == 2 and "a" in r and "c" not in r
    assert repr(r) == "('a', 'b')"


def test_unknown_name_lists_the_known_ones():
    r = Registry("widget")
    r.register("a", 1)
    r.register("b", 2)
    with pytest.raises(ValueError, match=r"unknown widget 'c'; known: a, b"):
        r.get("c")
    with pytest.raises(ValueError, match=r"Cfg.kind must be one of a, b; got 'c'"):
        r.check("c", "Cfg.kind")
    with pytest.raises(ValueError, match="unknown widget"):
        r.get(None)


def test_duplicate_registration_is_an_error_unless_overridden():
    r = Registry("widget")
    r.register("a", 1)
    with pytest.raises(ValueError, match="'a' is already registered"):
        r.register("a", 2)
    r.register("a", 3, override=True)
    assert r.get("a") == 3
    r.unregister("a")
    assert "a" not in r
    with pytest.raises(ValueError, match="non-empty string"):
        r.register("", 1)


def test_builtin_registries_hold_the_papers_choices():
    assert ESTIMATORS.names() == ("grpo", "dr_grpo", "rloo", "reinforce_pp", "reinforce_pp_token", "reinforce_pp_baseline")
    assert SCALE_FORMS.names() == ("rlev", "correctness", "uniform", "shuffled", "multiplicative")


def test_a_user_scale_form_is_used_by_value_scale():
    @SCALE_FORMS.register("half")
    def half(v, alpha, seed):
        return 0.5 + v

    try:
        assert value_scale([0.1, 0.5], form="half").tolist() == pytest.approx([0.6, 1.0])
    finally:
        SCALE_FORMS.unregister("half")
    with pytest.raises(ValueError, match="form must be one of rlev, correctness"):
        value_scale([0.1], form="half")
