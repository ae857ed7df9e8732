import json
import threading
from typing import Any
from unittest import mock

import numpy as np
import pytest
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidProtobuf

from predictor import inference
from predictor.errors import IntegrityError, ModelNotFoundError, VersionMismatchError
from predictor.models.registry import (
    JOBLIB_ARTIFACT,
    MANIFEST_FILE,
    ONNX_ARTIFACT,
    check_name,
    sha256_hex,
)
from tests.helpers import MODEL_BUCKET, Artifacts
from training.registry_admin import AliasConflictError, ModelRegistry, NoEarlierVersionError


def test_publish_stores_artifacts_then_manifest_with_hashes(
    registry: ModelRegistry, s3: Any, wine_linear: Artifacts
) -> None:
    stored = wine_linear.publish(registry)
    version = stored["version"]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=MODEL_BUCKET)["Contents"]}
    assert keys == {f"models/wine/{version}/{f}" for f in (*wine_linear.files, MANIFEST_FILE)}
    assert {JOBLIB_ARTIFACT, ONNX_ARTIFACT} <= set(wine_linear.files)
    body = s3.get_object(Bucket=MODEL_BUCKET, Key=f"models/wine/{version}/{MANIFEST_FILE}")["Body"]
    manifest = json.loads(body.read())
    for name, data in wine_linear.files.items():
        assert manifest["artifacts"][name] == {"sha256": sha256_hex(data), "size": len(data)}
    assert manifest["name"] == "wine"
    assert registry.list_versions("wine") == [version]
    assert registry.list_models() == ["wine"]


def test_versions_sort_oldest_first(registry: ModelRegistry, wine_linear: Artifacts) -> None:
    published = [wine_linear.publish(registry)["version"] for _ in range(3)]
    assert registry.list_versions("wine") == sorted(published)
    assert len(set(published)) == 3


def test_alias_set_resolve_and_rollback(registry: ModelRegistry, wine_linear: Artifacts) -> None:
    first = wine_linear.publish(registry)["version"]
    second = wine_linear.publish(registry)["version"]
    with pytest.raises(ModelNotFoundError):
        registry.resolve("wine", "production")
    registry.set_alias("wine", "production", first)
    registry.set_alias("wine", "production", second)
    assert registry.resolve("wine", "production") == second
    assert registry.alias("wine", "production")["history"] == [first]
    assert registry.rollback("wine", "production") == first
    assert registry.resolve("wine", "production") == first
    with pytest.raises(NoEarlierVersionError, match="no earlier version"):
        registry.rollback("wine", "production")


class InterleavingS3:
    """An S3 client that lets another promotion write the alias between our read and our
    write, once: the race two concurrent ``promote`` runs meet."""

    def __init__(self, s3: Any, meanwhile: Any) -> None:
        self._s3, self._meanwhile, self.writes = s3, meanwhile, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def get_object(self, **kwargs: Any) -> Any:
        answer = self._s3.get_object(**kwargs)
        if kwargs["Key"].endswith("/aliases/production.json") and self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            meanwhile()  # another process promotes after we read the alias
        return answer

    def put_object(self, **kwargs: Any) -> Any:
        self.writes += 1
        return self._s3.put_object(**kwargs)


def test_a_promotion_racing_another_loses_neither_version(
    registry: ModelRegistry, s3: Any, wine_linear: Artifacts
) -> None:
    first, second, third = (wine_linear.publish(registry)["version"] for _ in range(3))
    registry.set_alias("wine", "production", first)
    other = ModelRegistry(s3, MODEL_BUCKET)
    racing = InterleavingS3(s3, lambda: other.set_alias("wine", "production", second))
    ModelRegistry(racing, MODEL_BUCKET).set_alias("wine", "production", third)
    # Our first write found the alias changed (If-Match failed), read it again, wrote on top.
    assert racing.writes == 2
    document = registry.alias("wine", "production")
    assert (document["version"], document["history"]) == (third, [second, first])


def test_concurrent_promotions_keep_every_version(
    registry: ModelRegistry, s3: Any, wine_linear: Artifacts
) -> None:
    """The issue's 10 trials of two threads promoting at once: neither version is lost."""
    for _ in range(10):
        base, a, b = (wine_linear.publish(registry)["version"] for _ in range(3))
        registry.set_alias("wine", "production", base)
        barrier = threading.Barrier(2)

        def promote(version: str, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            ModelRegistry(s3, MODEL_BUCKET).set_alias("wine", "production", version)

        threads = [threading.Thread(target=promote, args=(v,)) for v in (a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        document = registry.alias("wine", "production")
        kept = [document["version"], *document["history"]]
        assert sorted(kept[:2]) == sorted([a, b])
        assert kept[2] == base


def test_an_alias_that_keeps_changing_is_refused_unchanged(
    registry: ModelRegistry, s3: Any, wine_linear: Artifacts
) -> None:
    first, second = (wine_linear.publish(registry)["version"] for _ in range(2))
    registry.set_alias("wine", "production", first)

    class AlwaysRacing(InterleavingS3):
        def put_object(self, **kwargs: Any) -> Any:
            self.writes += 1  # someone else's write before each of ours: another ETag each time
            other = kwargs["Body"] + b" " * self.writes
            s3.put_object(Bucket=MODEL_BUCKET, Key=kwargs["Key"], Body=other)
            return super().put_object(**kwargs)

    with pytest.raises(AliasConflictError, match="nothing was changed"):
        ModelRegistry(AlwaysRacing(s3, None), MODEL_BUCKET).set_alias("wine", "production", second)


def test_rollback_passes_over_deleted_versions_and_delete_cleans_histories(
    registry: ModelRegistry, wine_linear: Artifacts
) -> None:
    first, second, third = (wine_linear.publish(registry)["version"] for _ in range(3))
    for version in (first, second, third):
        registry.set_alias("wine", "production", version)
    registry.set_alias("wine", "staging", second)
    # A history written before histories were cleaned may name a deleted version.
    registry.delete_version("wine", second)
    assert registry.rollback("wine", "production") == first
    # delete through forget_version: the version leaves every history first
    registry.set_alias("wine", "production", third)
    assert registry.alias("wine", "production")["history"] == [first]
    assert registry.forget_version("wine", first) == ["production"]
    assert registry.alias("wine", "production")["history"] == []


def test_alias_to_unknown_version_is_refused(registry: ModelRegistry) -> None:
    with pytest.raises(ModelNotFoundError):
        registry.set_alias("wine", "production", "20990101T000000.000Z-abcdef")


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", "-x", "x" * 101])
def test_unsafe_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        check_name(bad)


def test_loaded_onnx_predicts_like_the_pipeline(
    registry: ModelRegistry, wine_linear: Artifacts
) -> None:
    version = wine_linear.publish(registry)["version"]
    served = registry.load_onnx("wine", version)
    canonical = registry.load_joblib("wine", version)
    assert served.version == version
    rng = np.random.default_rng(0)
    features = {
        c.name: rng.uniform(c.minimum, c.maximum, size=(50, 1)).astype(np.float32)
        for c in served.predictor.schema.columns
    }
    np.testing.assert_allclose(
        served.predictor.predict(features).values,
        canonical.predictor.predict(features).values,
        rtol=1e-5,
    )


def _flip_one_byte(s3: Any, key: str) -> None:
    data = bytearray(s3.get_object(Bucket=MODEL_BUCKET, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0x01
    s3.put_object(Bucket=MODEL_BUCKET, Key=key, Body=bytes(data))


@pytest.mark.parametrize("artifact", [ONNX_ARTIFACT, JOBLIB_ARTIFACT])
def test_tampered_artifact_is_refused_before_deserialising(
    registry: ModelRegistry, s3: Any, wine_linear: Artifacts, artifact: str
) -> None:
    version = wine_linear.publish(registry)["version"]
    _flip_one_byte(s3, f"models/wine/{version}/{artifact}")
    load = registry.load_onnx if artifact == ONNX_ARTIFACT else registry.load_joblib
    with (
        mock.patch("joblib.load") as joblib_load,
        mock.patch.object(inference.ort, "InferenceSession") as onnx_session,
        pytest.raises(IntegrityError, match="does not match its manifest"),
    ):
        load("wine", version)
    joblib_load.assert_not_called()
    onnx_session.assert_not_called()


def test_manifest_copied_from_another_version_is_refused(
    registry: ModelRegistry, s3: Any, wine_linear: Artifacts
) -> None:
    first = wine_linear.publish(registry)["version"]
    second = wine_linear.publish(registry)["version"]
    copied = s3.get_object(Bucket=MODEL_BUCKET, Key=f"models/wine/{first}/{MANIFEST_FILE}")
    s3.put_object(
        Bucket=MODEL_BUCKET, Key=f"models/wine/{second}/{MANIFEST_FILE}", Body=copied["Body"].read()
    )
    with pytest.raises(IntegrityError, match="refusing"):
        registry.load_onnx("wine", second)


@pytest.mark.parametrize("artifact", [JOBLIB_ARTIFACT, ONNX_ARTIFACT])
def test_manifest_holding_another_versions_hash_is_refused(
    registry: ModelRegistry,
    s3: Any,
    wine_linear: Artifacts,
    wine_boosting: Artifacts,
    artifact: str,
) -> None:
    other = wine_boosting.publish(registry)
    version = wine_linear.publish(registry)["version"]
    key = f"models/wine/{version}/{MANIFEST_FILE}"
    manifest = json.loads(s3.get_object(Bucket=MODEL_BUCKET, Key=key)["Body"].read())
    manifest["artifacts"][artifact] = other["artifacts"][artifact]
    s3.put_object(Bucket=MODEL_BUCKET, Key=key, Body=json.dumps(manifest).encode())
    load = registry.load_onnx if artifact == ONNX_ARTIFACT else registry.load_joblib
    with mock.patch("joblib.load") as joblib_load, pytest.raises(IntegrityError):
        load("wine", version)
    joblib_load.assert_not_called()


def _rewrite_manifest(s3: Any, version: str, **changes: Any) -> None:
    key = f"models/wine/{version}/{MANIFEST_FILE}"
    manifest = json.loads(s3.get_object(Bucket=MODEL_BUCKET, Key=key)["Body"].read())
    manifest["versions"].update(changes)
    s3.put_object(Bucket=MODEL_BUCKET, Key=key, Body=json.dumps(manifest).encode())


def test_scikit_learn_version_mismatch_is_refused(
    registry: ModelRegistry, s3: Any, wine_linear: Artifacts
) -> None:
    version = wine_linear.publish(registry)["version"]
    _rewrite_manifest(s3, version, **{"scikit-learn": "0.24.2"})
    with (
        mock.patch("joblib.load") as joblib_load,
        pytest.raises(VersionMismatchError, match=r"0\.24\.2"),
    ):
        registry.load_joblib("wine", version)
    joblib_load.assert_not_called()


def test_version_mismatch_can_be_overridden_loudly(
    registry: ModelRegistry, s3: Any, wine_linear: Artifacts, caplog: pytest.LogCaptureFixture
) -> None:
    version = wine_linear.publish(registry)["version"]
    _rewrite_manifest(s3, version, **{"scikit-learn": "0.24.2"})
    loaded = registry.load_joblib("wine", version, allow_version_mismatch=True)
    assert loaded.version == version
    assert "0.24.2" in caplog.text


class _Payload:
    """Unpickling this creates a marker file: what a malicious model.joblib would do."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.marker, "w"))


def test_pickle_payload_is_never_deserialised(
    registry: ModelRegistry, s3: Any, wine_linear: Artifacts, tmp_path: Any
) -> None:
    import pickle

    marker = tmp_path / "owned"
    payload = pickle.dumps(_Payload(str(marker)))
    version = wine_linear.publish(registry)["version"]
    for artifact in (JOBLIB_ARTIFACT, ONNX_ARTIFACT):
        s3.put_object(Bucket=MODEL_BUCKET, Key=f"models/wine/{version}/{artifact}", Body=payload)
    with pytest.raises(IntegrityError):
        registry.load_joblib("wine", version)
    with pytest.raises(IntegrityError):
        registry.load_onnx("wine", version)
    # Even with the manifest rewritten to match it, the serving path only ever hands the
    # bytes to onnxruntime, which parses a protobuf graph and refuses a pickle.
    key = f"models/wine/{version}/{MANIFEST_FILE}"
    manifest = json.loads(s3.get_object(Bucket=MODEL_BUCKET, Key=key)["Body"].read())
    manifest["artifacts"][ONNX_ARTIFACT] = {"sha256": sha256_hex(payload), "size": len(payload)}
    s3.put_object(Bucket=MODEL_BUCKET, Key=key, Body=json.dumps(manifest).encode())
    with pytest.raises(InvalidProtobuf, match="protobuf parsing failed"):
        registry.load_onnx("wine", version)
    assert not marker.exists()
