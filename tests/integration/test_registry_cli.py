"""The registry command line against moto: each subcommand, its refusals, its exit status."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.local_env import MODEL_BUCKET
from tests.helpers import Artifacts
from training import registry_cli
from training.registry_admin import ModelRegistry


def run(s3: Any, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    """Exit status, the JSON answer (or the text), and stderr."""
    status = registry_cli.main(["--registry", f"s3://{MODEL_BUCKET}", *argv], s3=s3)
    out, err = capsys.readouterr()
    try:
        return status, json.loads(out), err
    except ValueError:
        return status, out, err


@pytest.fixture
def two(registry: ModelRegistry, wine_linear: Artifacts, wine_boosting: Artifacts) -> list[str]:
    """A linear and a better (boosting) version of "wine"; production holds the linear."""
    linear = wine_linear.publish(registry)["version"]
    boosting = wine_boosting.publish(registry)["version"]
    registry.set_alias("wine", "production", linear)
    return [linear, boosting]


def test_listing_showing_and_comparing(
    s3: Any, two: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    linear, boosting = two
    assert run(s3, capsys, "models", "--json")[:2] == (0, {"models": ["wine"]})
    status, listed, _ = run(s3, capsys, "versions", "wine", "--json")
    assert status == 0
    assert [(r["version"], r["aliases"]) for r in listed["versions"]] == [
        (linear, ["production"]),
        (boosting, []),
    ]
    assert all(r["metric"] == "mse" and r["holdout"] > 0 for r in listed["versions"])
    status, shown, _ = run(s3, capsys, "show", "wine", linear, "--json")
    assert shown["manifest"]["version"] == linear
    assert shown["files"]["model.onnx"].endswith(f"/models/wine/{linear}/model.onnx")
    status, compared, _ = run(s3, capsys, "compare", "wine", linear, boosting, "--json")
    assert status == 0
    assert compared["better"] == boosting  # lower mse
    assert compared["same_inputs"] is True
    status, text, _ = run(s3, capsys, "versions", "wine")
    assert f"{linear}" in text
    assert "[production]" in text


def test_promotion_is_gated_and_rollback_and_delete_respect_aliases(
    s3: Any, registry: ModelRegistry, two: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    linear, boosting = two
    # the better model goes through the gate
    status, moved, _ = run(s3, capsys, "promote", "wine", boosting, "--json")
    assert (status, moved["was"]) == (0, linear)
    assert registry.resolve("wine", "production") == boosting
    # a worse one does not, unless forced
    status, _, err = run(s3, capsys, "promote", "wine", linear)
    assert status == registry_cli.REFUSED
    assert "is worse than" in err
    assert registry.resolve("wine", "production") == boosting
    # deleting the aliased version is refused; the other one goes
    status, _, err = run(s3, capsys, "delete", "wine", boosting)
    assert status == registry_cli.REFUSED
    assert "production" in err
    status, deleted, _ = run(s3, capsys, "delete", "wine", linear, "--json")
    # manifest, joblib, onnx, baseline x2, report x2
    assert (status, deleted["objects"]) == (0, 7)
    assert registry.list_versions("wine") == [boosting]
    # rollback: a third version forced onto the alias, then the alias back to the second
    third = registry.publish("wine", {k: v for k, v in registry.manifest("wine", boosting).items()
                                      if k not in ("name", "version", "artifacts")},
                             {"model.onnx": b"x"})["version"]  # fmt: skip
    assert run(s3, capsys, "promote", "wine", third, "--force")[0] == 0
    status, back, _ = run(s3, capsys, "rollback", "wine", "--json")
    assert (status, back["version"], back["was"]) == (0, boosting, third)


def test_delete_takes_a_version_out_of_alias_histories_so_rollback_still_works(
    s3: Any, registry: ModelRegistry, two: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    linear, boosting = two
    third = registry.publish("wine", {k: v for k, v in registry.manifest("wine", boosting).items()
                                      if k not in ("name", "version", "artifacts")},
                             {"model.onnx": b"x"})["version"]  # fmt: skip
    for version in (boosting, third):
        assert run(s3, capsys, "promote", "wine", version, "--force")[0] == 0
    # production: third, history [boosting, linear]; boosting goes
    status, deleted, _ = run(s3, capsys, "delete", "wine", boosting, "--json")
    assert (status, deleted["removed_from_history_of"]) == (0, ["production"])
    assert registry.alias("wine", "production")["history"] == [linear]
    status, back, _ = run(s3, capsys, "rollback", "wine", "--json")
    assert (status, back["version"]) == (0, linear)
    status, _, err = run(s3, capsys, "rollback", "wine")
    assert status == registry_cli.REFUSED
    assert "no earlier version" in err


def test_a_malformed_manifest_is_named_with_its_own_exit_status(
    s3: Any, registry: ModelRegistry, two: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    linear, boosting = two
    key = f"models/wine/{boosting}/manifest.json"
    manifest = json.loads(s3.get_object(Bucket=MODEL_BUCKET, Key=key)["Body"].read())
    del manifest["metrics"]
    s3.put_object(Bucket=MODEL_BUCKET, Key=key, Body=json.dumps(manifest).encode())
    # The listing names the malformed version and still lists the others.
    status, listed, _ = run(s3, capsys, "versions", "wine", "--json")
    assert status == 0
    rows = {row["version"]: row for row in listed["versions"]}
    assert rows[linear]["metric"] == "mse"
    assert "is malformed: no usable metrics" in rows[boosting]["problem"]
    status, text, _ = run(s3, capsys, "versions", "wine")
    assert f"{boosting}  the manifest of wine {boosting} is malformed" in text
    # What needs its metrics says which manifest is malformed: 4, not "unreachable".
    status, _, err = run(s3, capsys, "compare", "wine", linear, boosting)
    assert status == registry_cli.MALFORMED == 4
    assert f"the manifest of wine {boosting} is malformed" in err
    assert "KeyError" in err


def test_unknown_names_and_bad_arguments(
    s3: Any, two: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(s3, capsys, "versions", "nosuch")[0] == registry_cli.UNKNOWN
    assert run(s3, capsys, "show", "wine", "20990101T000000.000Z-000000")[0] == 2
    status, _, err = run(s3, capsys, "promote", "wine", "../x")
    assert status == registry_cli.UNKNOWN
    assert "invalid version" in err
    status, _, err = run(s3, capsys, "rollback", "wine", "--alias", "staging")
    assert status == registry_cli.UNKNOWN
    assert "no alias 'staging'" in err
    status = registry_cli.main(["--registry", "s3://no-such-bucket", "models"], s3=s3)
    assert status == registry_cli.UNREACHABLE
    assert "NoSuchBucket" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        registry_cli.main(["frobnicate"], s3=s3)
    assert usage.value.code == 2
