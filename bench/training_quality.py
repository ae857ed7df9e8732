"""The default training job on tables it was not tuned on, against two references tuned by
hand: its holdout score and time beside 500 extremely randomised trees and a histogram
gradient boosting model tuned by a small grid, on the job's own holdout rows.

Tables: scikit-learn's synthetic Friedman #1 regression (5,000 rows, noise of known
variance 1.0, so an MSE near 1.0 is the floor), a synthetic classification (4,000 rows),
scikit-learn's bundled diabetes table (442 rows) and the white wines of
``data/winequality-white-sample.csv`` (600 rows). ``python -m bench.training_quality``;
writes results/training_quality.json. It takes the job's budget per table (5 minutes
by default).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import datasets
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.metrics import accuracy_score, mean_squared_error
from sklearn.model_selection import GridSearchCV, train_test_split

from bench.realtime import RESULTS, ROOT

GRID = {"learning_rate": [0.03, 0.1], "max_leaf_nodes": [15, 31, 63], "max_iter": [200, 500]}


def tables() -> dict[str, tuple[pd.DataFrame, str, str]]:
    """name -> (frame, target column, task)."""
    x, y = datasets.make_friedman1(n_samples=5000, noise=1.0, random_state=0)
    friedman = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])]).assign(y=y)
    x, y = datasets.make_classification(
        n_samples=4000, n_features=20, n_informative=8, n_redundant=4, flip_y=0.05,
        class_sep=0.8, random_state=0,
    )  # fmt: skip
    classes = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    classes["label"] = np.where(y == 1, "yes", "no")
    diabetes = datasets.load_diabetes(as_frame=True).frame
    white = pd.read_csv(ROOT / "data" / "winequality-white-sample.csv", sep=";")
    return {
        "Friedman #1 (synthetic, noise variance 1.0)": (friedman, "y", "regression"),
        "classification (synthetic, 5% labels flipped)": (classes, "label", "classification"),
        "diabetes (scikit-learn)": (diabetes, "target", "regression"),
        "white wines (data/, 600 rows)": (white, "quality", "regression"),
    }


def references(
    frame: pd.DataFrame, target: str, task: str, seed: int, holdout: float
) -> dict[str, float]:
    """The two hand-tuned models' scores on the job's holdout rows."""
    x, y = frame.drop(columns=[target]), frame[target].to_numpy()
    rows = np.arange(len(frame))
    train, test = train_test_split(
        rows, test_size=holdout, random_state=seed, stratify=y if task == "classification" else None
    )
    if task == "regression":
        trees: Any = ExtraTreesRegressor(n_estimators=500, n_jobs=-1, random_state=0)
        hgb: Any = HistGradientBoostingRegressor(random_state=0)
        score: Any = mean_squared_error
    else:
        trees = ExtraTreesClassifier(n_estimators=500, n_jobs=-1, random_state=0)
        hgb = HistGradientBoostingClassifier(random_state=0)
        score = accuracy_score
    boosting = GridSearchCV(hgb, GRID, cv=3, n_jobs=-1)
    found = {}
    for name, model in (("extra_trees_500", trees), ("tuned_boosting", boosting)):
        model.fit(x.iloc[train], y[train])
        found[name] = float(score(y[test], model.predict(x.iloc[test])))
    return found


def main() -> int:
    from infra.local_env import MODEL_BUCKET, LocalAws
    from predictor.settings import RegistryLocation
    from training.job import TrainingConfig, run_training

    local = LocalAws().start()
    results: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            for name, (frame, target, task) in tables().items():
                path = Path(folder) / "table.csv"
                frame.to_csv(path, index=False)
                config = TrainingConfig(
                    data=str(path), target=target, name="quality-check",
                    registry=RegistryLocation(MODEL_BUCKET), force=True,
                )  # fmt: skip
                began = time.monotonic()
                manifest = run_training(config, local.s3).manifest
                seconds = time.monotonic() - began
                metrics = manifest["metrics"]
                primary = metrics["primary"]
                job = float(metrics["holdout"][primary])
                refs = references(frame, target, task, config.seed, config.holdout)
                results.append({
                    "table": name, "rows": len(frame), "metric": primary,
                    "job": job, "job_seconds": seconds, "job_model": manifest.get("estimator"),
                    **refs,
                })  # fmt: skip
                print(json.dumps(results[-1]), flush=True)
    finally:
        local.stop()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "training_quality.json").write_text(json.dumps(results, indent=2))
    heads = f"{'rows':>6} {'metric':>8} {'job':>8} {'s':>5} {'ET-500':>8} {'tuned HGB':>10}"
    print(f"\n{'table':48} {heads}")
    for r in results:
        print(
            f"{r['table']:48} {r['rows']:6} {r['metric']:>8} {r['job']:8.4f} "
            f"{r['job_seconds']:5.0f} {r['extra_trees_500']:8.4f} {r['tuned_boosting']:10.4f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
