"""What is packaged: the functions keep the dependencies the code needs, pyproject every package."""

from __future__ import annotations

import re
import tomllib

from tests.helpers import ROOT


def test_every_aws_client_the_functions_create_is_packaged() -> None:
    """The build keeps only BOTOCORE_SERVICES of botocore's service models."""
    makefile = (ROOT / "functions" / "Makefile").read_text()
    setting = re.search(r"^BOTOCORE_SERVICES := (.*)$", makefile, re.MULTILINE)
    assert setting is not None
    kept = set(setting[1].split())
    created = set()
    for path in (ROOT / "functions").rglob("*.py"):
        created |= set(re.findall(r"""\.client\(\s*["']([a-z0-9-]+)["']""", path.read_text()))
    assert "s3" in created
    assert created <= kept, f"clients whose service model the build drops: {created - kept}"


def test_pyproject_lists_every_package_and_subpackage() -> None:
    """A non-editable install (``pip install "serverless-predictor[publish] @ ..."``) ships
    only the packages pyproject names: every folder with an ``__init__.py`` must be one."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(project["packages"])
    found = set()
    for top, folder in project["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            inner = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((top, *inner)))
    assert listed == found
