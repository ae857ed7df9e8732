"""The registry's write side: publish versions, move and roll back aliases, list, load joblib.

Only the training job and operators use it; the serving functions read through
:class:`predictor.models.registry.RegistryReader` and never write.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from predictor.errors import ModelNotFoundError, PredictorError, VersionMismatchError
from predictor.io.s3_store import NOT_FOUND, error_code
from predictor.models.registry import (
    JOBLIB_ARTIFACT,
    MANIFEST_FILE,
    LoadedModel,
    RegistryReader,
    sha256_hex,
)
from predictor.schema import FeatureSchema
from training.joblib_predictor import JoblibPredictor

logger = logging.getLogger(__name__)

#: How many earlier versions an alias remembers for rollback.
ALIAS_HISTORY = 20
#: How many times an alias write is tried when others keep writing it meanwhile.
ALIAS_WRITE_ATTEMPTS = 8
#: S3's answers to a conditional write whose condition no longer holds.
_LOST_RACE = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")


class AliasConflictError(PredictorError):
    """An alias kept changing while it was being written: nothing was changed."""


class NoEarlierVersionError(PredictorError):
    """A rollback of an alias whose history holds no version that still exists."""


def new_version_id(now: datetime | None = None) -> str:
    """A sortable, unique version id: UTC timestamp plus random suffix."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S.%f")[:-3] + "Z-" + secrets.token_hex(3)


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


#: Files a browser or a tool opens as themselves (the training report), by extension.
_CONTENT_TYPES = {"html": "text/html; charset=utf-8", "json": "application/json"}


class ModelRegistry(RegistryReader):
    """The registry with write access: everything the reader does, plus publishing."""

    def artifact_uri(self, manifest: Mapping[str, Any], filename: str) -> str:
        """The ``s3://`` address of one file of a published version."""
        key = self.artifact_key(manifest["name"], manifest["version"], filename)
        return f"s3://{self.bucket}/{key}"

    def _put(self, key: str, body: bytes, content_type: str, **extra: Any) -> None:
        self._s3.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, **extra
        )

    # ----- publishing --------------------------------------------------------------
    def publish(
        self,
        name: str,
        manifest: Mapping[str, Any],
        artifacts: Mapping[str, bytes],
        version: str | None = None,
    ) -> dict[str, Any]:
        """Upload ``artifacts`` and then the manifest (with their SHA-256 and sizes).

        Returns the manifest as stored, with ``name``, ``version`` (``version``, or a new
        one) and ``artifacts`` set.
        The manifest is written with ``If-None-Match: *``, so two publishers can never
        overwrite each other's version.
        """
        version = version or new_version_id()
        recorded = {}
        for filename, data in artifacts.items():
            content_type = _CONTENT_TYPES.get(
                filename.rpartition(".")[2], "application/octet-stream"
            )
            self._put(self.artifact_key(name, version, filename), data, content_type)
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

    # ----- listing -----------------------------------------------------------------
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

    def delete_version(self, name: str, version: str) -> int:
        """Remove a version: its manifest first (so it is gone at once), then its files.

        Returns how many objects were deleted. Refusing a version an alias points at is
        the caller's business (:mod:`training.registry_cli`).
        """
        manifest = self.manifest(name, version)
        keys = [self.artifact_key(name, version, MANIFEST_FILE)]
        keys += [self.artifact_key(name, version, f) for f in manifest.get("artifacts", {})]
        for key in keys:
            self._s3.delete_object(Bucket=self.bucket, Key=key)
        logger.info("deleted model %s version %s", name, version)
        return len(keys)

    # ----- aliases -----------------------------------------------------------------
    def aliases(self, name: str) -> dict[str, str]:
        """alias -> the version it points at, for every alias of ``name``."""
        return {alias: str(document["version"]) for alias, document in self._alias_documents(name)}

    def _alias_documents(self, name: str) -> list[tuple[str, dict[str, Any]]]:
        prefix = self.model_prefix(name) + "aliases/"
        found = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                alias = entry["Key"][len(prefix) :].removesuffix(".json")
                document = self.alias(name, alias)
                if document is not None:
                    found.append((alias, document))
        return found

    def set_alias(self, name: str, alias: str, version: str) -> dict[str, Any]:
        """Point ``alias`` at ``version`` (which must exist), remembering the previous one."""
        self.manifest(name, version)  # refuses unknown or inconsistent versions

        def point(current: dict[str, Any] | None) -> tuple[str, list[str]]:
            earlier = [] if current is None else [current["version"], *current.get("history", [])]
            return version, [v for v in earlier if v != version][:ALIAS_HISTORY]

        return self._update_alias(name, alias, point)

    def rollback(self, name: str, alias: str) -> str:
        """Point ``alias`` back at the version it held before; return that version.

        Versions deleted since they held the alias are passed over.
        """

        def back(current: dict[str, Any] | None) -> tuple[str, list[str]]:
            if current is None:
                raise ModelNotFoundError(f"model {name!r} has no alias {alias!r}")
            history = [v for v in current.get("history", []) if self.has_version(name, v)]
            if not history:
                raise NoEarlierVersionError(
                    f"{name}/{alias} has no earlier version to roll back to"
                )
            return history[0], history[1:]

        return str(self._update_alias(name, alias, back)["version"])

    def forget_version(self, name: str, version: str) -> list[str]:
        """Take ``version`` out of every alias's history (before deleting it); the aliases
        whose history held it. An alias that points at it is the caller's to refuse."""
        changed = []
        for alias, document in self._alias_documents(name):
            if version not in document.get("history", []):
                continue

            def without(current: dict[str, Any] | None) -> tuple[str, list[str]]:
                if current is None:  # removed meanwhile: no history left to clean
                    raise ModelNotFoundError(f"an alias of {name!r} was removed meanwhile")
                return current["version"], [v for v in current.get("history", []) if v != version]

            self._update_alias(name, alias, without)
            changed.append(alias)
        return changed

    def _update_alias(
        self,
        name: str,
        alias: str,
        change: Callable[[dict[str, Any] | None], tuple[str, list[str]]],
    ) -> dict[str, Any]:
        """Read the alias, ``change`` it, write it only if nobody wrote it meanwhile.

        The write is conditional (``If-Match`` the ETag read, or ``If-None-Match: *`` for a
        new alias): of two concurrent promotions, one write fails, reads the other's
        alias and applies its change on top, so neither version is lost from the alias
        and its history. After :data:`ALIAS_WRITE_ATTEMPTS` lost races, AliasConflictError.
        """
        key = self.alias_key(name, alias)
        for _ in range(ALIAS_WRITE_ATTEMPTS):
            current, etag = self._alias_with_etag(key)
            version, history = change(current)
            document = {"version": version, "updated_at": _utc_now(), "history": history}
            condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
            try:
                self._put(key, json.dumps(document).encode(), "application/json", **condition)
            except Exception as exc:
                if error_code(exc) in _LOST_RACE:
                    continue  # written by someone else since we read it: read again
                raise
            logger.info("alias %s/%s -> %s", name, alias, version)
            return document
        raise AliasConflictError(
            f"alias {name}/{alias} changed {ALIAS_WRITE_ATTEMPTS} times while it was being "
            "written; nothing was changed: try again"
        )

    def _alias_with_etag(self, key: str) -> tuple[dict[str, Any] | None, str | None]:
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if error_code(exc) in NOT_FOUND:
                return None, None
            raise
        return dict(json.loads(response["Body"].read())), str(response["ETag"])

    # ----- the scikit-learn pipeline -------------------------------------------------
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
