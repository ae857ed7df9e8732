"""The models the benchmarks compare: each candidate, trained on the wine data by the job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from predictor.settings import RegistryLocation
from training.job import TrainingConfig, run_training

WINE = Path(__file__).resolve().parent.parent / "data" / "winequality-red.csv"
#: The candidates benchmarked on the wine data: the perceptron, never chosen there (CV MSE
#: 0.42 to 0.48 against the trees' 0.34), is benchmarked on the digits (bench.digits).
CANDIDATES = ("linear", "random_forest", "extra_trees", "hist_gradient_boosting")

__all__ = ["CANDIDATES", "train_and_promote"]


def train_and_promote(s3: Any, bucket: str, kind: str, name: str = "wine") -> dict[str, Any]:
    """Train one candidate on the wine data as ``name``, promote it to production; its manifest."""
    config = TrainingConfig(
        data=str(WINE),
        target="quality",
        name=name,
        registry=RegistryLocation(bucket),
        candidates=(kind,),
        settings_per_candidate=1,  # the candidate's defaults, as benchmarked before
        promote="production",
        force=True,
    )
    return run_training(config, s3).manifest
