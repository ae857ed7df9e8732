"""The lock files pin every package to one version with its hashes, consistently, and the
lock check finds a lock that is incomplete or drifted without asking the index for news."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra import lock_check
from tests.helpers import ROOT, copy_locks


@pytest.mark.parametrize("lock", lock_check.lock_names())
def test_each_lock_pins_what_its_input_asks_for_with_hashes(lock: str) -> None:
    versions = lock_check.check_consistency(lock)
    assert versions, lock


def test_each_environment_contains_the_one_below_at_the_same_versions() -> None:
    serving, batch, training, dev = (
        lock_check.read_lock(ROOT / f"{name}.txt")
        for name in ("requirements", "requirements-batch", "requirements-train", "requirements-dev")
    )
    assert serving.items() <= batch.items() <= training.items()
    assert training.items() <= dev.items()
    # Nothing of the training or test tools reaches the Lambda package.
    assert not {"scikit-learn", "scipy", "skl2onnx", "pytest", "moto"} & serving.keys()


def test_a_pin_the_lock_does_not_honour_is_named(tmp_path: Path) -> None:
    root = copy_locks(tmp_path)
    text = (root / "requirements-train.in").read_text()
    (root / "requirements-train.in").write_text(text.replace("joblib==1.6.0", "joblib==1.5.0"))
    with pytest.raises(lock_check.LockError, match=r"joblib 1\.6\.0; requirements-train\.in pins"):
        lock_check.check_consistency("requirements-train", root)


def test_an_entry_without_hashes_is_named(tmp_path: Path) -> None:
    root = copy_locks(tmp_path)
    lines = (root / "requirements.txt").read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith("boto3=="))
    del lines[first + 1 : first + 3]  # its two hash lines
    (root / "requirements.txt").write_text("".join(lines))
    with pytest.raises(lock_check.LockError, match="boto3 has no hashes"):
        lock_check.read_lock(root / "requirements.txt")


def test_locks_that_disagree_with_their_constraint_are_named(tmp_path: Path) -> None:
    root = copy_locks(tmp_path)
    text = (root / "requirements-train.txt").read_text()
    (root / "requirements-train.txt").write_text(text.replace("jmespath==1.1.0", "jmespath==1.0.1"))
    with pytest.raises(lock_check.LockError, match=r"differ on jmespath 1\.0\.1 vs 1\.1\.0"):
        lock_check.check_consistency("requirements-train", root)
