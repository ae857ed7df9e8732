"""``python -m training.registry_cli``: the model registry from a terminal.

Subcommands (each with ``--json`` for a machine-readable answer):

- ``models``: the registry's models.
- ``versions NAME``: each version, oldest first, with when it was made, its primary
  metric and the aliases that point at it.
- ``show NAME VERSION``: the manifest, and where the version's files are.
- ``compare NAME A B``: two versions' metrics, estimators and inputs side by side.
- ``promote NAME VERSION [--alias production] [--force]``: move an alias, only to a
  version whose holdout score is not worse than the holder's (``--force`` skips that).
- ``rollback NAME [--alias production]``: the alias back to the version it held before.
- ``delete NAME VERSION``: remove a version no alias points at (manifest first, so the
  version is gone at once, then its files).
- ``publish NAME MODEL --sample CSV [--target COL] [--promote ALIAS] [--force]``: publish a
  model fitted elsewhere (a joblib or pickle file, a skops file, an MLflow directory), its
  ONNX graph proven to answer as the model does on the sample (:mod:`training.publish`).

The registry is ``--registry s3://bucket[/prefix]`` or ``$MODEL_BUCKET``; S3 access uses
the usual AWS settings (``AWS_ENDPOINT_URL`` points it at the local stack).

Exit status: 0 done; 1 refused (a worse model without --force, deleting an aliased
version, nothing to roll back to, an alias that kept changing while being written, a
model that cannot be converted or whose graph answers otherwise; ``publish --promote``
whose promotion is refused: the version is published, the alias unchanged); 2 bad
arguments, an unknown model, version or alias, or a model file or sample that cannot be
read (or holds no fitted model); 3 the
registry could not be reached; 4 the registry holds a malformed or altered manifest (the
message names it); 5 an internal error (a defect: the traceback says where).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from predictor.errors import IntegrityError, ModelNotFoundError, VersionMismatchError
from predictor.models.registry import MANIFEST_FILE, check_name
from predictor.settings import RegistryLocation
from training.model_files import SKOPS_SUFFIXES
from training.pipelines import is_not_worse
from training.registry_admin import AliasConflictError, ModelRegistry, NoEarlierVersionError
from training.report import REPORT_HTML

REFUSED, UNKNOWN, UNREACHABLE, MALFORMED, INTERNAL = 1, 2, 3, 4, 5


class Refused(Exception):
    """The registry said no, for a reason the message gives (exit status 1)."""


class Unreadable(Exception):
    """A model file, sample or argument that cannot be read (exit status 2)."""


def _primary(manifest: dict[str, Any]) -> tuple[str, float | None, bool]:
    """The primary metric's name, holdout value (None for a model published without
    labels) and direction; IntegrityError naming what the manifest lacks."""
    try:
        metrics = manifest["metrics"]
        name = metrics["primary"]
        value = metrics["holdout"].get(name)
        return name, None if value is None else float(value), bool(metrics["higher_is_better"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise IntegrityError(
            f"the manifest of {manifest.get('name')} {manifest.get('version')} is malformed: "
            f"no usable metrics ({type(exc).__name__}: {exc})"
        ) from exc


def models(registry: ModelRegistry, args: argparse.Namespace) -> dict[str, Any]:
    return {"models": registry.list_models()}


def versions(registry: ModelRegistry, args: argparse.Namespace) -> dict[str, Any]:
    found = registry.list_versions(args.name)
    if not found:
        raise ModelNotFoundError(f"the registry has no model {args.name!r}")
    aliases = registry.aliases(args.name)
    rows = []
    for version in found:
        row: dict[str, Any] = {
            "version": version,
            "aliases": sorted(a for a, v in aliases.items() if v == version),
        }
        try:  # one malformed version is named in its row; the others are still listed
            manifest = registry.manifest(args.name, version)
            metric, value, _ = _primary(manifest)
            row.update(
                created_at=manifest.get("created_at"),
                estimator=manifest.get("estimator"),
                metric=metric,
                holdout=value,
            )
        except IntegrityError as exc:
            row["problem"] = str(exc)
        rows.append(row)
    return {"model": args.name, "versions": rows}


def show(registry: ModelRegistry, args: argparse.Namespace) -> dict[str, Any]:
    manifest = registry.manifest(args.name, args.version)
    base = f"s3://{registry.bucket}/{registry.model_prefix(args.name)}{args.version}/"
    files = {name: base + name for name in [*manifest.get("artifacts", {}), MANIFEST_FILE]}
    return {"manifest": manifest, "files": files, "report": files.get(REPORT_HTML)}


def compare(registry: ModelRegistry, args: argparse.Namespace) -> dict[str, Any]:
    sides = [registry.manifest(args.name, v) for v in (args.a, args.b)]
    for side in sides:
        _primary(side)  # each has usable metrics, or IntegrityError names the one without
    metric, _, higher = _primary(sides[0])
    values = [float(m["metrics"]["holdout"].get(metric, float("nan"))) for m in sides]
    if any(np.isnan(v) for v in values):  # published without labels: nothing to compare
        values = [0.0, 0.0]
    inputs = [[c["name"] for c in m["schema"]] for m in sides]
    better = args.b if (values[1] > values[0]) == higher and values[0] != values[1] else args.a
    return {
        "model": args.name,
        "metric": metric,
        "higher_is_better": higher,
        "versions": [
            {
                "version": v,
                "created_at": m["created_at"],
                "estimator": m.get("estimator"),
                "holdout": m["metrics"]["holdout"],
                "baseline": m["metrics"].get("baseline"),
            }
            for v, m in zip((args.a, args.b), sides, strict=True)
        ],
        "better": better if values[0] != values[1] else None,
        "same_inputs": inputs[0] == inputs[1],
    }


def promote(registry: ModelRegistry, args: argparse.Namespace) -> dict[str, Any]:
    manifest = registry.manifest(args.name, args.version)
    holder = registry.alias(args.name, args.alias)
    if holder is not None and not args.force:
        current = registry.manifest(args.name, str(holder["version"]))
        metric, new, _ = _primary(manifest)
        _, old, _ = _primary(current)
        if new is None or old is None:
            unmeasured = args.version if new is None else current["version"]
            raise Refused(
                f"not promoted: {unmeasured} has no holdout {metric} (published without "
                f"labelled rows), so it cannot be compared with the other (use --force)"
            )
        if not is_not_worse(manifest["task"], new, old):
            raise Refused(
                f"not promoted: {metric} {new:.4f} of {args.version} is worse than {old:.4f} "
                f"of {current['version']}, which stays on {args.alias} (use --force)"
            )
    registry.set_alias(args.name, args.alias, args.version)
    was = holder["version"] if holder else None
    return {"model": args.name, "alias": args.alias, "version": args.version, "was": was}


def rollback(registry: ModelRegistry, args: argparse.Namespace) -> dict[str, Any]:
    holder = registry.alias(args.name, args.alias)
    if holder is None:
        raise ModelNotFoundError(f"model {args.name!r} has no alias {args.alias!r}")
    try:
        version = registry.rollback(args.name, args.alias)
    except NoEarlierVersionError as exc:
        raise Refused(str(exc)) from exc
    return {"model": args.name, "alias": args.alias, "version": version, "was": holder["version"]}


def delete(registry: ModelRegistry, args: argparse.Namespace) -> dict[str, Any]:
    registry.manifest(args.name, args.version)  # an unknown version: exit status 2
    holding = sorted(a for a, v in registry.aliases(args.name).items() if v == args.version)
    if holding:
        raise Refused(
            f"not deleted: {args.version} is what {', '.join(holding)} point(s) at; promote "
            "another version (or roll back) first"
        )
    # Rollback never meets a deleted version: it leaves every alias's history first.
    histories = registry.forget_version(args.name, args.version)
    deleted = registry.delete_version(args.name, args.version)
    return {
        "model": args.name,
        "deleted": args.version,
        "objects": deleted,
        "removed_from_history_of": histories,
    }


def publish(registry: ModelRegistry, args: argparse.Namespace) -> dict[str, Any]:
    from training.data import read_table
    from training.model_files import ModelFileError, load_model_file
    from training.publish import PublishError, publish_model, text_columns

    try:
        if not Path(args.model).is_dir() and not args.model.endswith(SKOPS_SUFFIXES):
            print(
                f"registry: loading {args.model} with joblib: unpickling runs the code the file "
                "names; publish only files you made yourself (or trust as much)",
                file=sys.stderr,
            )
        loaded = load_model_file(args.model, tuple(args.trust))
        if args.sample is not None:
            sample = read_table(args.sample, registry.s3).frame
            # columns the model's encoders learned as text, read as text (zip codes)
            texts = text_columns(loaded.model, sample, args.target, args.id_column)
            if texts:
                sample = read_table(args.sample, registry.s3, texts).frame
        elif loaded.example is not None:
            sample, texts = loaded.example, []
        else:
            raise Unreadable("--sample CSV is needed: rows of the model's input, with a header")
        baseline = read_table(args.baseline, registry.s3, texts).frame if args.baseline else None
    except (ModelFileError, ValueError, OSError) as exc:
        raise Unreadable(str(exc)) from exc
    try:
        result = publish_model(
            loaded.model,
            sample,
            name=args.name,
            registry=registry,
            target=args.target,
            promote=args.promote,
            force=args.force,
            baseline=baseline,
            source=loaded.source,
            signature=loaded.signature,
            id_column=args.id_column,
        )
    except PublishError as exc:
        raise Refused(str(exc)) from exc
    return {
        "published": result.manifest["version"],
        "model": args.name,
        "manifest": result.manifest,
        "promoted": result.promoted,
        "promotion": result.promotion,
        "report": result.report,
        "notes": result.notes,
        "summary": result.summary(),
    }


def _text(result: dict[str, Any]) -> str:
    if "published" in result:
        return str(result["summary"])
    if "models" in result:
        return "\n".join(result["models"]) or "(no models)"
    if "versions" in result and "metric" not in result:
        lines = []
        for row in result["versions"]:
            aliases = f"  [{', '.join(row['aliases'])}]" if row["aliases"] else ""
            if "problem" in row:
                lines.append(f"{row['version']}  {row['problem']}{aliases}")
                continue
            shown = "-" if row["holdout"] is None else f"{row['holdout']:.4f}"
            lines.append(
                f"{row['version']}  {row['created_at']}  {row['estimator']}  "
                f"{row['metric']} {shown}{aliases}"
            )
        return "\n".join(lines)
    if "manifest" in result:
        manifest = result["manifest"]
        metric, value, _ = _primary(manifest)
        files = "\n".join(f"  {path}" for path in result["files"].values())
        measured = "not measured (published without labels)" if value is None else f"{value:.4f}"
        origin = manifest.get("source") or {}
        made = f"published from {origin.get('file')}" if origin.get("published") else "made"
        return (
            f"{manifest['name']} {manifest['version']} ({manifest['task']}, "
            f"{manifest.get('estimator')}), {made} {manifest['created_at']}\n"
            f"holdout {metric} {measured}\nfiles:\n{files}"
        )
    if "better" in result:
        rows = [
            f"{v['version']}  {v['estimator']}  {result['metric']} "
            f"{v['holdout'].get(result['metric'], float('nan')):.4f}"
            for v in result["versions"]
        ]
        verdict = f"better: {result['better']}" if result["better"] else "as good"
        inputs = "" if result["same_inputs"] else " (their inputs differ)"
        return "\n".join([*rows, verdict + inputs])
    if "deleted" in result:
        histories = result["removed_from_history_of"]
        return f"deleted {result['model']} {result['deleted']} ({result['objects']} objects)" + (
            f"; removed from the history of {', '.join(histories)}" if histories else ""
        )
    was = f" (was {result['was']})" if result.get("was") else ""
    return f"{result['model']}/{result['alias']} -> {result['version']}{was}"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m training.registry_cli",
        description=__doc__.split("\n\n")[0],
        epilog="Exit status:" + __doc__.split("Exit status:")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument(
        "--registry",
        default=os.environ.get("MODEL_BUCKET"),
        help="s3://bucket[/prefix] of the registry (default: $MODEL_BUCKET); before the subcommand",
    )
    commands = root.add_subparsers(dest="command", required=True)

    def command(name: str, function: Any, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.set_defaults(function=function)
        sub.add_argument("--json", action="store_true", help="print the answer as JSON")
        return sub

    command("models", models, "list the models")
    command("versions", versions, "list a model's versions").add_argument("name")
    sub = command("show", show, "a version's manifest and files")
    sub.add_argument("name")
    sub.add_argument("version")
    sub = command("compare", compare, "two versions side by side")
    sub.add_argument("name")
    sub.add_argument("a")
    sub.add_argument("b")
    sub = command("promote", promote, "move an alias to a version (with the gate)")
    sub.add_argument("name")
    sub.add_argument("version")
    sub.add_argument("--alias", default="production")
    sub.add_argument("--force", action="store_true", help="promote even if worse")
    sub = command("publish", publish, "publish a model fitted elsewhere (joblib, skops, MLflow)")
    sub.add_argument("name")
    sub.add_argument("model", help="a joblib or pickle file, a .skops file, or an MLflow directory")
    sub.add_argument(
        "--sample", help="CSV (path or s3://) of the model's input rows, with a header"
    )
    sub.add_argument("--target", help="the sample's label column: metrics, report, promotion gate")
    sub.add_argument("--promote", metavar="ALIAS", help="alias to move, e.g. production")
    sub.add_argument("--force", action="store_true", help="promote even if worse")
    sub.add_argument(
        "--id-column",
        metavar="COLUMN",
        help="the sample's column that names each row (not a model input): batch outputs "
        "carry its value as the row's inference id",
    )
    sub.add_argument("--baseline", help="CSV of rows to watch drift against (default: the sample)")
    sub.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="TYPE",
        help="a type a skops file may load beyond skops' defaults (repeatable)",
    )
    sub = command("rollback", rollback, "an alias back to its previous version")
    sub.add_argument("name")
    sub.add_argument("--alias", default="production")
    sub = command("delete", delete, "remove a version no alias points at")
    sub.add_argument("name")
    sub.add_argument("version")
    return root


def main(argv: Sequence[str] | None = None, s3: Any = None) -> int:
    """Run one subcommand; see the module docstring for the exit status."""
    args = parser().parse_args(argv)
    try:
        if not args.registry:
            raise ValueError("no registry: pass --registry s3://bucket or set MODEL_BUCKET")
        location = RegistryLocation.from_uri(args.registry)
        for field in ("name", "version", "a", "b", "alias"):
            if getattr(args, field, None) is not None:
                check_name(getattr(args, field), field)
    except ValueError as exc:
        print(f"registry: {exc}", file=sys.stderr)
        return UNKNOWN
    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    try:
        result = args.function(ModelRegistry(s3, location), args)
    except Unreadable as exc:
        print(f"registry: {exc}", file=sys.stderr)
        return UNKNOWN
    except (Refused, AliasConflictError, VersionMismatchError) as exc:
        print(f"registry: {exc}", file=sys.stderr)
        return REFUSED
    except ModelNotFoundError as exc:
        print(f"registry: {exc}", file=sys.stderr)
        return UNKNOWN
    except IntegrityError as exc:
        print(f"registry: {exc}", file=sys.stderr)
        return MALFORMED
    except (BotoCoreError, ClientError, OSError) as exc:  # no bucket, credentials, network
        print(f"registry: {type(exc).__name__}: {exc}", file=sys.stderr)
        return UNREACHABLE
    except Exception:  # a defect of this tool, not the registry's: where it happened
        traceback.print_exc()
        print("registry: an internal error (the traceback above says where)", file=sys.stderr)
        return INTERNAL
    print(json.dumps(result, indent=1) if args.json else _text(result))
    if result.get("promoted") is False and getattr(args, "promote", None):
        return REFUSED  # published, but the alias was not moved (the output says why)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
