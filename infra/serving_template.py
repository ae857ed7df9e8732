"""Write the template without its container-image functions, for Docker-less builds.

`sam build` builds every function of a template, and the training job is a container
image that needs Docker. `make build` proves the zip-packaged serving functions on
machines without Docker by building this reduced copy (same resources otherwise, code
paths made absolute). Deploying uses the full template.yaml.

Usage: serving_template.py TEMPLATE OUTPUT   (run with the tools virtualenv's Python)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from samcli.yamlhelper import yaml_dump, yaml_parse


def _mentions(node: Any, names: set[str]) -> bool:
    if isinstance(node, dict):
        return any(_mentions(k, names) or _mentions(v, names) for k, v in node.items())
    if isinstance(node, list):
        return any(_mentions(item, names) for item in node)
    return isinstance(node, str) and any(name in node for name in names)


def serving_only(template: dict[str, Any], base: Path) -> dict[str, Any]:
    """The template minus image functions and whatever refers to them."""
    resources = template["Resources"]
    images = {
        name
        for name, resource in resources.items()
        if resource.get("Properties", {}).get("PackageType") == "Image"
    }
    for name in list(resources):
        if name in images or _mentions(resources[name], images):
            del resources[name]
    outputs = template.get("Outputs", {})
    for name in list(outputs):
        if _mentions(outputs[name], images):
            del outputs[name]
    for resource in resources.values():
        properties = resource.get("Properties", {})
        for path in ("CodeUri", "DefinitionUri"):  # the functions' code, the state machine's
            if isinstance(properties.get(path), str):
                properties[path] = str((base / properties[path]).resolve())
    return template


def main() -> int:
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    template = serving_only(yaml_parse(source.read_text()), source.parent)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml_dump(template))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
