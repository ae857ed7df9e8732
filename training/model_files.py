"""A fitted model from the file its user saved: joblib or pickle, skops, an MLflow directory.

Unpickling runs whatever code the file names: load only files you made yourself (or
trust as much). It happens here, once, in the environment the model was made in; the
serving functions only ever load the ONNX graph. A skops file loads without running
code, trusting only the types skops trusts by default and those named with ``trusted``.
An MLflow model directory (scikit-learn flavour) brings its signature (the columns and
their types) and its input example (a sample, when none is given).
"""

from __future__ import annotations

import json
import pickle
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

#: Suffixes read as a skops file; every other file is read with joblib (which also reads
#: plain pickles).
SKOPS_SUFFIXES = (".skops",)


class ModelFileError(Exception):
    """The file cannot be read as a fitted model; the message says why and what to do."""


@dataclass(slots=True)
class ModelFile:
    """A loaded model, what its file said about its input, and where it came from."""

    model: Any
    source: dict[str, Any]
    #: column -> "numeric" or "categorical", from an MLflow signature.
    signature: dict[str, str] | None = None
    #: An MLflow directory's input example.
    example: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


def load_model_file(path: str | Path, trusted: tuple[str, ...] = ()) -> ModelFile:
    """The fitted model saved at ``path`` (a file, or an MLflow model directory)."""
    location = Path(path)
    if not location.exists():
        raise ModelFileError(f"{location}: no such file or directory")
    if location.is_dir():
        return _mlflow_directory(location, trusted)
    if location.suffix.lower() in SKOPS_SUFFIXES:
        model = _skops(location, trusted)
        return ModelFile(_fitted(model, location), {"file": str(location), "format": "skops"})
    model = _fitted(_joblib(location), location)
    return ModelFile(model, {"file": str(location), "format": "joblib/pickle"})


def _fitted(model: Any, path: Path) -> Any:
    """``model``, or ModelFileError when the file holds no fitted model."""
    from training.sklearn_steps import unfitted_reason

    reason = unfitted_reason(model)
    if reason is not None:
        raise ModelFileError(f"{path}: {reason}")
    return model


def _joblib(path: Path) -> Any:
    import joblib

    try:
        with warnings.catch_warnings():
            # scikit-learn's InconsistentVersionWarning is recorded, not hidden: the manifest
            # names the version that made the model and the one that converts it.
            warnings.simplefilter("ignore", UserWarning)
            return joblib.load(path)
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, IndexError) as exc:
        raise ModelFileError(
            f"{path}: not a joblib or pickle file of a fitted model ({type(exc).__name__}: {exc})"
        ) from exc
    except (ModuleNotFoundError, AttributeError) as exc:
        raise ModelFileError(
            f"{path}: the model needs code this environment does not have ({exc}); publish "
            "from the environment the model was made in"
        ) from exc


def _skops(path: Path, trusted: tuple[str, ...], listed: tuple[str, ...] = ()) -> Any:
    try:
        import skops.io as sio
    except ImportError as exc:
        raise ModelFileError(
            f"{path}: reading a skops file needs skops (pip install skops)"
        ) from exc
    allowed = (*listed, *trusted)
    untrusted = [t for t in _skops_types(path) if t not in allowed]
    if untrusted:
        raise ModelFileError(
            f"{path}: the skops file holds types skops does not trust by default: "
            + ", ".join(untrusted)
            + ". Review them, then name each with --trust TYPE (trusted=(...) in Python)"
        )
    return sio.load(path, trusted=list(allowed) or None)


def _skops_types(path: Path) -> list[str]:
    import skops.io as sio

    try:
        return list(sio.get_untrusted_types(file=path))
    except zipfile.BadZipFile as exc:
        raise ModelFileError(f"{path}: not a skops file ({exc})") from exc


def _mlflow_directory(path: Path, trusted: tuple[str, ...]) -> ModelFile:
    import yaml

    mlmodel = path / "MLmodel"
    if not mlmodel.exists():
        raise ModelFileError(f"{path}: a directory without an MLmodel file is not an MLflow model")
    description = yaml.safe_load(mlmodel.read_text()) or {}
    flavors = description.get("flavors") or {}
    flavor = flavors.get("sklearn")
    if flavor is None:
        raise ModelFileError(
            f"{path}: an MLflow model of flavour(s) {', '.join(flavors) or '(none)'}; only the "
            "sklearn flavour can be published"
        )
    model_file = path / str(flavor.get("pickled_model", "model.pkl"))
    serialization = str(flavor.get("serialization_format", "cloudpickle"))
    if serialization == "skops":
        listed = tuple(flavor.get("skops_trusted_types") or ())
        model = _skops(model_file, trusted, listed)
    else:  # pickle or cloudpickle: a pickle stream cloudpickle's module can read back
        model = _joblib(model_file)
    source = {
        "file": str(path),
        "format": f"mlflow ({serialization})",
        "sklearn_version": flavor.get("sklearn_version"),
        "mlflow_version": description.get("mlflow_version"),
        "run_id": description.get("run_id"),
    }
    loaded = ModelFile(model, source)
    signature = (description.get("signature") or {}).get("inputs")
    if signature:
        loaded.signature = _signature_kinds(json.loads(signature))
    example = (description.get("saved_input_example_info") or {}).get("artifact_path")
    if example and (path / example).exists():
        loaded.example = _input_example(json.loads((path / example).read_text()))
    return loaded


#: MLflow column types read as numbers; every other type (string, boolean, ...) as text.
_NUMERIC_TYPES = {"double", "float", "long", "integer"}


def _signature_kinds(inputs: list[dict[str, Any]]) -> dict[str, str]:
    kinds = {}
    for column in inputs:
        if "name" not in column:
            raise ModelFileError(
                "the MLflow signature describes a tensor, not named columns: publish with "
                "--sample (a CSV with a header)"
            )
        kinds[str(column["name"])] = (
            "numeric" if column.get("type") in _NUMERIC_TYPES else "categorical"
        )
    return kinds


def _input_example(document: Any) -> pd.DataFrame:
    if isinstance(document, dict) and "dataframe_split" in document:
        document = document["dataframe_split"]
    if isinstance(document, dict) and "data" in document:
        return pd.DataFrame(document["data"], columns=document.get("columns"))
    if isinstance(document, list):
        return pd.DataFrame(document)
    raise ModelFileError("the MLflow input example is not a table (dataframe_split or records)")
