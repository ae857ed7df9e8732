"""Command line of the training job: ``python -m training --help``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from predictor.errors import ConfigError
from predictor.settings import RegistryLocation
from training import search
from training.job import DEFAULT_TIME_BUDGET, TrainingConfig, TrainingError, run_training
from training.pipelines import CANDIDATES

DESCRIPTION = """\
Train a scikit-learn model from a CSV and publish it to the model registry.

Reads the CSV (comma or semicolon separated, UTF-8 with or without BOM, optionally
gzipped) from a local path or s3://bucket/key; infers the task and each column's type;
cross-validates the candidate pipelines and keeps the best; reports holdout metrics
beside a dummy baseline; converts the model to ONNX and checks that the graph gives the
same predictions on the holdout rows; then uploads model.joblib, model.onnx and
manifest.json as a new version. With --promote, the alias moves to the new version
only if it is not worse than the version the alias holds now (--force to override).
"""

EPILOG = """\
examples:
  python -m training --data data/winequality-red.csv --target quality \\
      --name wine-quality --registry s3://my-model-bucket --promote production
  python -m training --data s3://my-data-bucket/train/churn.csv --target churned \\
      --name churn --task classification --candidates linear,random_forest

The registry defaults to $MODEL_BUCKET. S3 access uses the usual AWS settings
(AWS_PROFILE, AWS_REGION, ...; AWS_ENDPOINT_URL points it at a local moto server).
Exit status: 0 trained (promoted or not), 1 the model could not be trained or served,
2 bad arguments.
"""


def _candidates(text: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [c for c in chosen if c not in CANDIDATES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown candidate(s) {', '.join(unknown) or '(none)'}; "
            f"choose from {', '.join(CANDIDATES)}"
        )
    return chosen


def _registry(text: str) -> RegistryLocation:
    try:
        return RegistryLocation.from_uri(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    need = parser.add_argument_group("what to train")
    need.add_argument("--data", required=True, help="CSV path or s3://bucket/key")
    need.add_argument("--target", required=True, help="column to predict")
    need.add_argument("--name", required=True, help="model name in the registry, e.g. churn")
    how = parser.add_argument_group("how to train")
    how.add_argument(
        "--task",
        choices=["classification", "regression"],
        help="default: classification for text, boolean or two-valued targets, else regression",
    )
    how.add_argument(
        "--candidates",
        type=_candidates,
        default=CANDIDATES,
        metavar="LIST",
        help=f"comma-separated pipelines to compare (default: {','.join(CANDIDATES)})",
    )
    how.add_argument("--cv-folds", type=int, default=5, help="cross-validation folds (default 5)")
    how.add_argument(
        "--holdout",
        type=float,
        default=0.2,
        help="share of rows kept aside for the holdout metrics and the ONNX check (default 0.2)",
    )
    how.add_argument(
        "--time-budget",
        type=float,
        default=DEFAULT_TIME_BUDGET,
        metavar="SECONDS",
        help="seconds the tuned search may take, shared among the candidates "
        f"(default {DEFAULT_TIME_BUDGET:g})",
    )
    how.add_argument(
        "--settings",
        type=int,
        default=search.SETTINGS_PER_CANDIDATE,
        metavar="N",
        help="settings of each candidate the search tries; 1 for each one's defaults "
        f"(default {search.SETTINGS_PER_CANDIDATE})",
    )
    how.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="print each trial as the search goes (default: when standard error is a terminal)",
    )
    how.add_argument(
        "--drop",
        action="append",
        default=[],
        metavar="COLUMN",
        help="a column that is not a feature (an identifier, a date, a leak of the target); "
        "repeat for several",
    )
    how.add_argument(
        "--id-column",
        metavar="COLUMN",
        help="the column that names each row (not a feature): batch outputs carry its value "
        "as the row's inference id, the id a label names",
    )
    how.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    how.add_argument(
        "--no-refit",
        dest="refit",
        action="store_false",
        help="publish the model fitted on the training split only (default: refit the "
        "chosen pipeline on every row after evaluating it)",
    )
    where = parser.add_argument_group("where to publish")
    where.add_argument(
        "--registry",
        type=_registry,
        default=None,
        metavar="s3://BUCKET[/PREFIX]",
        help="model registry location (default: s3://$MODEL_BUCKET/models)",
    )
    where.add_argument("--promote", metavar="ALIAS", help="alias to move, e.g. production")
    where.add_argument(
        "--force", action="store_true", help="promote even if the current holder is better"
    )
    where.add_argument(
        "--require-improvement",
        action="store_true",
        help="promote only if strictly better than the current holder on the same holdout",
    )
    where.add_argument("--json", action="store_true", help="print the manifest as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the training job from the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    registry = args.registry
    if registry is None:
        try:
            registry = RegistryLocation.from_env(os.environ)
        except ConfigError:
            parser.error("no registry: pass --registry s3://BUCKET or set MODEL_BUCKET")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = TrainingConfig(
            data=args.data,
            target=args.target,
            name=args.name,
            registry=registry,
            task=args.task,
            candidates=args.candidates,
            cv_folds=args.cv_folds,
            holdout=args.holdout,
            time_budget=args.time_budget,
            settings_per_candidate=args.settings,
            seed=args.seed,
            refit=args.refit,
            promote=args.promote,
            force=args.force,
            drop=tuple(args.drop),
            id_column=args.id_column,
            require_improvement=args.require_improvement,
            progress=(
                search.terminal_progress()
                if args.progress is None
                else (sys.stderr if args.progress else None)
            ),
        )
    except ValueError as exc:
        parser.error(str(exc))
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        result = run_training(config, boto3.client("s3"))
    except (TrainingError, ValueError, OSError, BotoCoreError, ClientError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result.manifest, indent=2) if args.json else result.summary())
    return 0
