"""The command line of `python -m rlev_fast.train`, generated from the config dataclasses.

One argument group per section of `TrainConfig` (its field's metadata "title"), one flag per field
that carries a help text, in field order. Defaults, help texts and choice lists are read from the
fields (torchtitan's config manager does the same), so the CLI and `TrainConfig()` cannot disagree:

    --field-name         from the field name (metadata "flag" overrides, "aliases" adds names)
    type                 from the annotation: int, float, str, Optional[...] of those
    bool                 --name / --no-name (argparse.BooleanOptionalAction)
    choices              metadata "choices" (a registry: user-registered names are accepted)

Fields tied to another field (config.TIED_FIELDS, e.g. the loss temperature) get no flag of their
own: they take the value of the field they follow.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple

from ..config_checks import field_choices
from .config import TIED_FIELDS, TrainConfig


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: X)" except where the default is None: the help text says what None means."""

    def _get_help_string(self, action):
        if action.default is None or "%(default)" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _base_type(annotation) -> type:
    """int / float / str / bool from an annotation such as Optional[float]."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Union and len(args) == 1:
        return args[0]
    return annotation


def cli_fields(config_cls=TrainConfig) -> Iterator[Tuple[str, str, dataclasses.Field, type]]:
    """(section, section title, field, base type) for every field that has a flag."""
    section_types = typing.get_type_hints(config_cls)
    for sec in dataclasses.fields(config_cls):
        cls = section_types[sec.name]
        types = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if "help" in f.metadata and (sec.name, f.name) not in TIED_FIELDS:
                yield sec.name, sec.metadata.get("title", sec.name), f, _base_type(types[f.name])


def _dest(section: str, name: str) -> str:
    return f"{section}.{name}"


def build_parser(config_cls=TrainConfig) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rlev_fast.train",
        description="RLEV: RL with value-scaled rewards. No arguments: the CPU default run on the embedded exam.",
        formatter_class=_HelpFormatter,
    )
    defaults = config_cls()
    groups: Dict[str, argparse._ArgumentGroup] = {}
    for sec, title, f, typ in cli_fields(config_cls):
        group = groups.get(sec) or groups.setdefault(sec, p.add_argument_group(title))
        names = [f.metadata.get("flag", "--" + f.name.replace("_", "-")), *f.metadata.get("aliases", ())]
        kwargs: Dict[str, Any] = dict(dest=_dest(sec, f.name), default=getattr(getattr(defaults, sec), f.name),
                                      help=f.metadata["help"])
        if typ is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = typ
            choices = field_choices(type(getattr(defaults, sec)), f.name)
            if choices is not None:
                kwargs["choices"] = list(choices)
        group.add_argument(*names, **kwargs)
    return p


def parse_args(argv: Optional[Sequence[str]] = None, config_cls=TrainConfig) -> TrainConfig:
    """The TrainConfig of a command line. A bad value is a ValueError naming the field (from the
    configs' checks); an unknown flag or choice is argparse's usage error (SystemExit 2)."""
    ns = vars(build_parser(config_cls).parse_args(argv))
    section_types = typing.get_type_hints(config_cls)
    values: Dict[str, Dict[str, Any]] = {sec.name: {} for sec in dataclasses.fields(config_cls)}
    for sec, _, f, _ in cli_fields(config_cls):
        values[sec][f.name] = ns[_dest(sec, f.name)]
    for (sec, name), (src_sec, src_name) in TIED_FIELDS.items():
        values[sec][name] = values[src_sec][src_name]
    # Fields without a flag keep the default of the section as TrainConfig() builds it.
    defaults = config_cls()
    sections = {}
    for sec, vals in values.items():
        base = dataclasses.asdict(getattr(defaults, sec))
        sections[sec] = section_types[sec](**{**base, **vals})
    return config_cls(**sections)
