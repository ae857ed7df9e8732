"""What the function packages keep of their dependencies is what the code needs."""

from __future__ import annotations

import re

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
