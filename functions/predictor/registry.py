"""The model registry on S3: versions, manifests, aliases, and verified loading.

Layout under ``s3://<bucket>/models/<name>/``::

    <version>/model.joblib    the scikit-learn pipeline (canonical)
    <version>/model.onnx      the same pipeline converted for serving
    <version>/manifest.json   schema, metrics, library versions, SHA-256 of each artifact
    aliases/<alias>.json      {"version": ..., "updated_at": ..., "history": [...]}

The manifest is written last, so a version exists only once it is complete. Every
artifact is checked against the manifest's SHA-256 and size *before* anything
deserialises it; joblib artifacts are also refused when the installed scikit-learn
differs from the one that trained them.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from predictor.errors import IntegrityError, ModelNotFoundError, VersionMismatchError
from predictor.inference import JoblibPredictor, OnnxPredictor, Predictor
from predictor.schema import FeatureSchema

logger = logging.getLogger(__name__)

MODEL_PREFIX = "models"
JOBLIB_ARTIFACT = "model.joblib"
ONNX_ARTIFACT = "model.onnx"
MANIFEST_FILE = "manifest.json"
#: How many earlier versions an alias remembers for rollback.
ALIAS_HISTORY = 20

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_name(value: str, what: str = "name") -> str:
    """Refuse names that are not safe as one S3 key segment."""
    if not _NAME.match(value) or ".." in value:
        raise ValueError(
            f"invalid {what} {value!r}: use letters, digits, '.', '_' or '-' (at most 100)"
        )
    return value


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def new_version_id(now: datetime | None = None) -> str:
    """A sortable, unique version id: UTC timestamp plus random suffix."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S.%f")[:-3] + "Z-" + secrets.token_hex(3)


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A verified model ready to predict, with the manifest it was loaded from."""

    manifest: dict[str, Any]
    predictor: Predictor

    @property
    def name(self) -> str:
        """The model's name."""
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        """The model's version id."""
        return str(self.manifest["version"])


class ModelRegistry:
    """Publish, list, alias and load models under one S3 bucket."""

    def __init__(self, s3: Any, bucket: str, prefix: str = MODEL_PREFIX) -> None:
        self._s3 = s3
        self.bucket = bucket
        self.prefix = prefix.strip("/")

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

    # ----- S3 helpers ------------------------------------------------------------
    def _get(self, key: str) -> bytes | None:
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=key)
        except self._s3.exceptions.NoSuchKey:
            return None
        return bytes(response["Body"].read())

    def _put(self, key: str, body: bytes, content_type: str, **extra: Any) -> None:
        self._s3.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, **extra
        )

    # ----- publishing --------------------------------------------------------------
    def publish(
        self, name: str, manifest: Mapping[str, Any], artifacts: Mapping[str, bytes]
    ) -> dict[str, Any]:
        """Upload ``artifacts`` and then the manifest (with their SHA-256 and sizes).

        Returns the manifest as stored, with ``name``, ``version`` and ``artifacts`` set.
        The manifest is written with ``If-None-Match: *``, so two publishers can never
        overwrite each other's version.
        """
        version = new_version_id()
        recorded = {}
        for filename, data in artifacts.items():
            self._put(self.artifact_key(name, version, filename), data, "application/octet-stream")
            recorded[filename] = {"sha256": sha256_hex(data), "size": len(data)}
        stored = {**manifest, "name": name, "version": version, "artifacts": recorded}
        self._put(
            self.artifact_key(name, version, MANIFEST_FILE),
            json.dumps(stored, indent=2, sort_keys=True).encode(),
            "application/json",
            IfNoneMatch="*",
        )
        logger.info("published model %s version %s", name, version)
        return stored

    # ----- reading -----------------------------------------------------------------
    def list_models(self) -> list[str]:
        """Names of every model in the registry."""
        found = []
        paginator = self._s3.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/", Delimiter="/")
        for page in pages:
            for entry in page.get("CommonPrefixes", []):
                found.append(entry["Prefix"][len(self.prefix) + 1 : -1])
        return sorted(found)

    def list_versions(self, name: str) -> list[str]:
        """Complete versions (those with a manifest) of model ``name``, oldest first."""
        prefix = self.model_prefix(name)
        versions = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                rest = entry["Key"][len(prefix) :]
                version, _, filename = rest.partition("/")
                if filename == MANIFEST_FILE and version != "aliases":
                    versions.append(version)
        return sorted(versions)

    def manifest(self, name: str, version: str) -> dict[str, Any]:
        """The manifest of one version; it must name that very model and version."""
        raw = self._get(self.artifact_key(name, version, MANIFEST_FILE))
        if raw is None:
            raise ModelNotFoundError(f"model {name!r} has no version {version!r}")
        try:
            manifest = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise IntegrityError(f"manifest of {name} {version} is not JSON: {exc}") from exc
        if manifest.get("name") != name or manifest.get("version") != version:
            raise IntegrityError(
                f"manifest stored at {name}/{version} describes "
                f"{manifest.get('name')}/{manifest.get('version')}: refusing it"
            )
        return dict(manifest)

    # ----- aliases -----------------------------------------------------------------
    def alias(self, name: str, alias: str) -> dict[str, Any] | None:
        """The alias document, or None when the alias was never set."""
        raw = self._get(self.alias_key(name, alias))
        return None if raw is None else dict(json.loads(raw))

    def resolve(self, name: str, alias: str) -> str:
        """The version an alias points at."""
        document = self.alias(name, alias)
        if document is None:
            raise ModelNotFoundError(f"model {name!r} has no alias {alias!r}")
        return str(document["version"])

    def set_alias(self, name: str, alias: str, version: str) -> dict[str, Any]:
        """Point ``alias`` at ``version`` (which must exist), remembering the previous one."""
        self.manifest(name, version)  # refuses unknown or inconsistent versions
        current = self.alias(name, alias)
        earlier = [] if current is None else [current["version"], *current.get("history", [])]
        history = [v for v in earlier if v != version][:ALIAS_HISTORY]
        document = {"version": version, "updated_at": _utc_now(), "history": history}
        self._put(self.alias_key(name, alias), json.dumps(document).encode(), "application/json")
        logger.info("alias %s/%s -> %s", name, alias, version)
        return document

    def rollback(self, name: str, alias: str) -> str:
        """Point ``alias`` back at the version it held before; return that version."""
        current = self.alias(name, alias)
        if current is None or not current.get("history"):
            raise ModelNotFoundError(f"alias {name}/{alias} has no earlier version to roll back to")
        previous, *older = current["history"]
        self.manifest(name, previous)
        document = {"version": previous, "updated_at": _utc_now(), "history": older}
        self._put(self.alias_key(name, alias), json.dumps(document).encode(), "application/json")
        logger.info("alias %s/%s rolled back to %s", name, alias, previous)
        return str(previous)

    # ----- verified loading --------------------------------------------------------
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

    def load_onnx(self, name: str, version: str, intra_op_threads: int = 1) -> LoadedModel:
        """Load the serving form of a version: the verified ONNX graph in onnxruntime.

        ``intra_op_threads``: 1 for latency (one small request at a time), 0 for every
        core (large batches).
        """
        manifest = self.manifest(name, version)
        data = self.read_artifact(manifest, ONNX_ARTIFACT)
        predictor = OnnxPredictor(
            data,
            FeatureSchema.from_dict(manifest["schema"]),
            manifest["task"],
            manifest.get("classes"),
            intra_op_threads=intra_op_threads,
        )
        return LoadedModel(manifest=manifest, predictor=predictor)

    def load_joblib(
        self, name: str, version: str, *, allow_version_mismatch: bool = False
    ) -> LoadedModel:
        """Load the scikit-learn pipeline of a version, verified before unpickling.

        Refuses (:class:`VersionMismatchError`) when the installed scikit-learn is not
        the one recorded in the manifest, unless ``allow_version_mismatch`` is set, in
        which case it logs a warning.
        """
        manifest = self.manifest(name, version)
        trained_with = manifest.get("versions", {}).get("scikit-learn")
        installed = metadata.version("scikit-learn")
        if trained_with != installed:
            message = (
                f"{name} {version} was trained with scikit-learn {trained_with}, "
                f"but {installed} is installed"
            )
            if not allow_version_mismatch:
                raise VersionMismatchError(message + "; refusing to unpickle it")
            logger.warning("%s; loading anyway as asked", message)
        data = self.read_artifact(manifest, JOBLIB_ARTIFACT)
        import joblib

        pipeline = joblib.load(io.BytesIO(data))
        predictor = JoblibPredictor(
            pipeline, FeatureSchema.from_dict(manifest["schema"]), manifest["task"]
        )
        return LoadedModel(manifest=manifest, predictor=predictor)
