"""Reading template.yaml with CloudFormation's short tags (!Ref, !Sub, ...) in long form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_TAGS = (
    "Ref",
    "Condition",
    "Sub",
    "GetAtt",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "Join",
    "Select",
    "Split",
)


class CfnLoader(yaml.SafeLoader):
    """A SafeLoader that also understands CloudFormation's short-form intrinsics."""


def _construct(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value} if name in ("Ref", "Condition") else {f"Fn::{name}": value}

    return construct


for _tag in _TAGS:
    CfnLoader.add_constructor(f"!{_tag}", _construct(_tag))


def load_template(path: Path) -> dict[str, Any]:
    """The template as plain data, intrinsics as ``{"Ref": ...}`` / ``{"Fn::...": ...}``."""
    return dict(yaml.load(path.read_text(), Loader=CfnLoader))  # noqa: S506 (SafeLoader subclass)
