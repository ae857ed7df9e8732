"""The lock check, resolving with uv from .venv-tools (the slow tier makes it): a lock
missing a transitive dependency fails and the real locks pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra import lock_check
from tests.helpers import ROOT, copy_locks

UV = ROOT / ".venv-tools" / "bin" / "uv"


def test_a_lock_missing_a_dependency_fails_and_the_real_locks_pass(tmp_path: Path) -> None:
    root = copy_locks(tmp_path)
    # Given the serving lock without one of its transitive dependencies (jmespath, boto3's)
    lines = (root / "requirements.txt").read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("jmespath=="))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" "))
    (root / "requirements.txt").write_text("".join(lines[:start] + lines[end:]))
    # Then the check names it; and the real serving lock passes
    with pytest.raises(lock_check.LockError, match="missing jmespath"):
        lock_check.check(str(UV), "requirements", root)
    lock_check.check(str(UV), "requirements", ROOT)
