"""The model registry on S3, as serving reads it: aliases, manifests, verified artifacts.

Layout under ``s3://<bucket>/models/<name>/``::

    <version>/model.joblib    the scikit-learn pipeline (canonical)
    <version>/model.onnx      the same pipeline converted for serving
    <version>/manifest.json   schema, metrics, library versions, SHA-256 of each artifact
    aliases/<alias>.json      {"version": ..., "updated_at": ..., "history": [...]}

The manifest is written last, so a version exists only once it is complete. Every
artifact is checked against the manifest's SHA-256 and size *before* anything
deserialises it. Publishing, moving aliases and listing are the training job's and the
operator's business: :mod:`training.registry_admin`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from predictor.errors import IntegrityError, ModelNotFoundError
from predictor.inference import OnnxPredictor, Predictor
from predictor.io import s3_store
from predictor.profiling.baseline import (
    CONSTRAINTS_FILE,
    STATISTICS_FILE,
    Baseline,
    baseline_from_documents,
)
from predictor.schema import FeatureSchema
from predictor.settings import MODEL_PREFIX, RegistryLocation

__all__ = ["MODEL_PREFIX", "LoadedModel", "RegistryReader", "check_name", "sha256_hex"]

JOBLIB_ARTIFACT = "model.joblib"
ONNX_ARTIFACT = "model.onnx"
MANIFEST_FILE = "manifest.json"

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_name(value: str, what: str = "name") -> str:
    """Refuse names that are not safe as one S3 key segment."""
    if not _NAME.fullmatch(value) or ".." in value:
        raise ValueError(
            f"invalid {what} {value!r}: use letters, digits, '.', '_' or '-' (at most 100)"
        )
    return value


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A verified model ready to predict, with the manifest it was loaded from."""

    manifest: dict[str, Any]
    predictor: Predictor
    #: The monitoring baseline (None for a version published without one).
    baseline: Baseline | None = None

    @property
    def name(self) -> str:
        """The model's name."""
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        """The model's version id."""
        return str(self.manifest["version"])

    @property
    def size_bytes(self) -> int:
        """The size of the served artifact (the ONNX graph): its weight in a model cache."""
        artifact = self.manifest.get("artifacts", {}).get(ONNX_ARTIFACT, {})
        return int(artifact.get("size", 0))


class RegistryReader:
    """Resolve aliases, read manifests and load verified models from one registry."""

    def __init__(self, s3: Any, bucket: str | RegistryLocation, prefix: str = MODEL_PREFIX) -> None:
        location = (
            bucket if isinstance(bucket, RegistryLocation) else RegistryLocation(bucket, prefix)
        )
        self._s3 = s3
        self.bucket = location.bucket
        self.prefix = location.prefix.strip("/")

    @property
    def s3(self) -> Any:
        """The S3 client the registry is read through."""
        return self._s3

    # ----- keys ------------------------------------------------------------------
    def model_prefix(self, name: str) -> str:
        """The key prefix of every object of model ``name``."""
        return f"{self.prefix}/{check_name(name, 'model name')}/"

    def artifact_key(self, name: str, version: str, filename: str) -> str:
        """The key of one file of one version."""
        return f"{self.model_prefix(name)}{check_name(version, 'version')}/{filename}"

    def alias_key(self, name: str, alias: str) -> str:
        """The key of an alias document."""
        return f"{self.model_prefix(name)}aliases/{check_name(alias, 'alias')}.json"

    def _get(self, key: str) -> bytes | None:
        return s3_store.get_bytes(self._s3, self.bucket, key)

    # ----- reading -----------------------------------------------------------------
    def manifest(self, name: str, version: str) -> dict[str, Any]:
        """The manifest of one version; it must name that very model and version."""
        raw = self._get(self.artifact_key(name, version, MANIFEST_FILE))
        if raw is None:
            raise ModelNotFoundError(f"model {name!r} has no version {version!r}")
        try:
            manifest = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IntegrityError(f"manifest of {name} {version} is not JSON: {exc}") from exc
        if not isinstance(manifest, dict):
            raise IntegrityError(f"manifest of {name} {version} is not a JSON object")
        if manifest.get("name") != name or manifest.get("version") != version:
            raise IntegrityError(
                f"manifest stored at {name}/{version} describes "
                f"{manifest.get('name')}/{manifest.get('version')}: refusing it"
            )
        return dict(manifest)

    def has_version(self, name: str, version: str) -> bool:
        """Whether the version's manifest is still there (one HEAD request)."""
        key = self.artifact_key(name, version, MANIFEST_FILE)
        return s3_store.object_size(self._s3, self.bucket, key) is not None

    def alias(self, name: str, alias: str) -> dict[str, Any] | None:
        """The alias document, or None when the alias was never set."""
        raw = self._get(self.alias_key(name, alias))
        return None if raw is None else dict(json.loads(raw))

    def model_names(self) -> list[str]:
        """The names of the registry's models (one S3 list call per thousand names)."""
        folders = s3_store.list_folders(self._s3, self.bucket, f"{self.prefix}/")
        return sorted(name for name in folders if _NAME.fullmatch(name))

    def resolve(self, name: str, alias: str) -> str:
        """The version an alias points at."""
        document = self.alias(name, alias)
        if document is None:
            raise ModelNotFoundError(f"model {name!r} has no alias {alias!r}")
        return str(document["version"])

    def read_artifact(self, manifest: Mapping[str, Any], filename: str) -> bytes:
        """The bytes of one artifact, after checking its size and SHA-256 against the manifest."""
        expected = manifest.get("artifacts", {}).get(filename)
        if expected is None:
            raise IntegrityError(f"manifest of {manifest['version']} lists no {filename}")
        data = self._get(self.artifact_key(manifest["name"], manifest["version"], filename))
        if data is None:
            raise IntegrityError(f"{filename} of {manifest['version']} is missing")
        digest = sha256_hex(data)
        if len(data) != expected["size"] or digest != expected["sha256"]:
            raise IntegrityError(
                f"{filename} of {manifest['name']} {manifest['version']} does not match its "
                f"manifest (sha256 {digest[:12]}..., expected {expected['sha256'][:12]}...): "
                "refusing to load it"
            )
        return data

    def load_onnx(
        self, name: str, version: str, inference_threads: int = 1, *, with_baseline: bool = True
    ) -> LoadedModel:
        """Load the serving form of a version: the verified ONNX graph in onnxruntime, and
        (``with_baseline``) its monitoring baseline.
        """
        manifest = self.manifest(name, version)
        data = self.read_artifact(manifest, ONNX_ARTIFACT)
        predictor = OnnxPredictor(
            data,
            FeatureSchema.from_dict(manifest["schema"]),
            manifest["task"],
            manifest.get("classes"),
            intra_op_threads=inference_threads,
            labels_from_graph=(manifest.get("onnx") or {}).get("labels") == "graph",
        )
        baseline = None
        if with_baseline:
            try:
                baseline = self.baseline(manifest)
            except IntegrityError:  # a broken baseline never keeps a model from serving
                logger.warning("the baseline of %s %s is unusable", name, version, exc_info=True)
            # Any other error (a throttled GET) fails this load, which is tried again, so a
            # model is never kept for good without the baseline it has.
        return LoadedModel(manifest=manifest, predictor=predictor, baseline=baseline)

    def baseline(self, manifest: Mapping[str, Any]) -> Baseline | None:
        """The version's monitoring baseline; None when it was published without one.

        A listed baseline that is missing, altered or malformed is an IntegrityError.
        """
        artifacts = manifest.get("artifacts")
        if not isinstance(artifacts, dict):
            raise IntegrityError(f"the manifest of {manifest.get('version')} lists no artifacts")
        if STATISTICS_FILE not in artifacts or CONSTRAINTS_FILE not in artifacts:
            return None
        documents = []
        for filename in (STATISTICS_FILE, CONSTRAINTS_FILE):
            try:
                documents.append(json.loads(self.read_artifact(manifest, filename)))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise IntegrityError(f"{filename} of {manifest['version']} is not JSON") from exc
        try:
            return baseline_from_documents(documents[0], documents[1])
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(
                f"the baseline of {manifest['name']} {manifest['version']} is malformed: {exc!r}"
            ) from exc
