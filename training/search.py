"""Tuned search: settings per candidate, successive halving within the time budget, and
the one-standard-error choice of the model that is cheapest to serve.

Each candidate has a small space of settings (:data:`training.pipelines.SPACES`). On a
large table a seeded draw of them is cross-validated on a third of the training rows,
and the best third of those again on all of them (successive halving, factor 3): a
setting is judged on every row before it can win, and the weak ones cost a fraction. On
a table under :data:`MIN_HALVING_ROWS` times 3 rows every setting is judged on all rows
at once (a third of a small table scores too noisily to rank). The time budget is shared
out: each candidate may spend what is left divided by the candidates still to come, so
a slow one cannot starve the others.

The choice: the best cross-validated score whose onnxruntime session is quick to make
(:data:`QUICK_SESSION_MS`, what a cold start pays for the graph); a setting slower to
load than that only when it is better beyond the noise, that is, when no quick setting
is within one standard error of it (then the smallest graph of those within it wins,
then the fastest). Every setting is scored on the same folds, so the noise that matters
is that of the difference: the standard error of the fold-by-fold differences from the
best (a hard fold is hard for every model; the standard error of one mean alone would
call models far apart equal). A graph over the serving budgets (:data:`MAX_ONNX_MIB`,
:data:`MAX_LATENCY_MS`) is never chosen.

Size does not break ties among quick graphs: a 0.1 MiB boosting model 4.6% worse in
cross-validation than 150 extremely randomised trees (1 MiB, a 24 ms session) is within
one standard error of them on a 600-row table, and choosing it cost 8% on held-out rows.
"""

from __future__ import annotations

import math
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score, train_test_split

from predictor.inference import OnnxPredictor, Task
from predictor.schema import Features, FeatureSchema
from training import onnx_export
from training.pipelines import (
    CV_SCORING,
    PRIMARY_METRIC,
    SPACES,
    build_pipeline,
    quiet_convergence,
)

#: The largest ONNX graph the job publishes: it is read from S3 and loaded on a cold start
#: (500 extremely randomised trees of at most 1,000 leaves: about 8 MiB).
MAX_ONNX_MIB = 40.0
#: The slowest 1-row prediction (onnxruntime, one thread) the job publishes.
MAX_LATENCY_MS = 2.0
#: A session made within this many milliseconds keeps a cold start near 0.30 s (150
#: extremely randomised trees of the wine data: 42 ms here, a 0.296 s cold start); a
#: setting slower to load is chosen only if it is better beyond the noise.
QUICK_SESSION_MS = 50.0
#: Settings drawn per candidate, and the halving factor.
SETTINGS_PER_CANDIDATE = 6
HALVING_FACTOR = 3
#: Fewer rows than this and every setting is judged on all of them at once.
MIN_HALVING_ROWS = 1000
#: Settings within one standard error of the best whose serving cost is measured.
MAX_FINALISTS = 6
#: 1-row predictions timed per finalist.
LATENCY_CALLS = 200


@dataclass(slots=True)
class Trial:
    """One setting of one candidate, cross-validated on ``rows`` training rows."""

    candidate: str
    params: dict[str, Any]
    rows: int
    status: str = "evaluated"
    mean: float = math.nan
    std: float = math.nan
    folds: int = 0
    seconds: float = 0.0
    #: The score of each fold (the same folds for every setting).
    scores: list[float] = field(default_factory=list)
    onnx_bytes: int | None = None
    #: Milliseconds to create the graph's onnxruntime session (a cold start pays it).
    load_ms: float | None = None
    latency_ms: float | None = None
    note: str = ""

    def difference_error(self, best: Trial) -> float:
        """The standard error of this setting's fold-by-fold difference from ``best``."""
        if len(self.scores) != len(best.scores) or len(self.scores) < 2:
            return math.nan
        differences = np.subtract(self.scores, best.scores)
        return float(differences.std(ddof=1) / math.sqrt(len(differences)))

    def to_dict(self) -> dict[str, Any]:
        """The leaderboard row (JSON)."""
        return {
            "candidate": self.candidate,
            "params": self.params,
            "rows": self.rows,
            "status": self.status,
            "mean": None if math.isnan(self.mean) else self.mean,
            "std": None if math.isnan(self.std) else self.std,
            "folds": self.folds,
            "scores": self.scores,
            "seconds": round(self.seconds, 2),
            "onnx_bytes": self.onnx_bytes,
            "load_ms": self.load_ms,
            "latency_ms": self.latency_ms,
            "note": self.note,
        }


@dataclass(slots=True)
class SearchResult:
    """The chosen trial and every trial made, in the order they were made."""

    chosen: Trial
    trials: list[Trial] = field(default_factory=list)
    rule: str = ""


class Progress:
    """One line per trial on a terminal: candidate, setting, score, best so far, time left."""

    def __init__(self, stream: TextIO | None, budget: float, higher_is_better: bool) -> None:
        self._stream = stream
        self._started = time.monotonic()
        self._budget = budget
        self._higher = higher_is_better
        self._best: Trial | None = None

    def left(self) -> float:
        """Seconds of the budget left."""
        return self._budget - (time.monotonic() - self._started)

    def trial(self, trial: Trial, metric: str, full: bool) -> None:
        """Report a finished trial (it is the best so far only if judged on all rows)."""
        if full and trial.status == "evaluated" and _better(trial, self._best, self._higher):
            self._best = trial
        if self._stream is None:
            return
        best = f"best {self._best.candidate} {self._best.mean:.4f}" if self._best else "best -"
        score = f"{metric} {trial.mean:.4f} ± {trial.std:.4f}" if trial.folds else trial.status
        self._stream.write(
            f"[{time.monotonic() - self._started:5.0f}s] {trial.candidate:<22} "
            f"{_setting(trial.params):<44} {trial.rows:>6} rows  {score:<24} {best:<32} "
            f"{max(0.0, self.left()):4.0f}s left\n"
        )
        self._stream.flush()

    def line(self, text: str) -> None:
        """Any other line of progress."""
        if self._stream is not None:
            self._stream.write(f"[{time.monotonic() - self._started:5.0f}s] {text}\n")
            self._stream.flush()


def _setting(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "(defaults)"


def _better(trial: Trial, than: Trial | None, higher_is_better: bool) -> bool:
    if than is None:
        return True
    return trial.mean > than.mean if higher_is_better else trial.mean < than.mean


def _splitter(task: Task, folds: int, seed: int) -> KFold | StratifiedKFold:
    if task == "classification":
        return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return KFold(n_splits=folds, shuffle=True, random_state=seed)


def _settings(candidate: str, seed: int, count: int) -> list[dict[str, Any]]:
    """A seeded draw of ``count`` of the candidate's settings (one: its first, the
    estimator's defaults or the closest to them; all when the space is no larger)."""
    space = SPACES[candidate]
    if len(space) <= count or count == 1:
        return [dict(p) for p in space[:count]]
    # A draw repeatable from the seed (not a secret: S311 does not apply).
    draw = random.Random(f"{seed}-{candidate}")  # noqa: S311
    drawn = draw.sample(range(len(space)), count)
    return [dict(space[i]) for i in sorted(drawn)]


def _subsample(
    task: Task, frame: pd.DataFrame, target: np.ndarray, rows: int, seed: int
) -> tuple[pd.DataFrame, np.ndarray]:
    if rows >= len(frame):
        return frame, target
    kept, _ = train_test_split(
        np.arange(len(frame)),
        train_size=rows,
        random_state=seed,
        stratify=target if task == "classification" else None,
    )
    kept = np.sort(kept)
    return frame.iloc[kept], target[kept]


def search(
    candidates: tuple[str, ...],
    schema: FeatureSchema,
    task: Task,
    frame: pd.DataFrame,
    target: np.ndarray,
    *,
    folds: int,
    seed: int,
    time_budget: float,
    sample_features: Features,
    settings_per_candidate: int = SETTINGS_PER_CANDIDATE,
    progress: TextIO | None = None,
) -> SearchResult:
    """Search every candidate's settings; choose by the one-standard-error rule.

    ``sample_features`` (schema-coerced rows) feed the finalists' ONNX graphs for the
    latency measurement. Raises ``ValueError`` when no setting could be judged on all
    rows or every one is over the serving budgets.
    """
    metric, higher_is_better = PRIMARY_METRIC[task]
    report = Progress(progress, time_budget, higher_is_better)
    splitter = _splitter(task, folds, seed)
    trials: list[Trial] = []
    full_rows = len(frame)
    halving = full_rows >= MIN_HALVING_ROWS * HALVING_FACTOR
    first_rows = full_rows // HALVING_FACTOR if halving else full_rows
    for position, candidate in enumerate(candidates):
        deadline = time.monotonic() + report.left() / (len(candidates) - position)
        settings = _settings(candidate, seed, settings_per_candidate)
        rows = first_rows if len(settings) > 1 else full_rows
        sample = _subsample(task, frame, target, rows, seed)
        while settings:
            judged: list[Trial] = []
            for params in settings:
                trial = Trial(candidate, params, rows)
                if time.monotonic() >= deadline and (trials or judged):
                    trial.status = "skipped: time budget spent"
                else:
                    _cross_validate(trial, schema, task, sample, splitter, seed)
                    judged.append(trial)
                trials.append(trial)
                report.trial(trial, metric, rows == full_rows)
            if rows == full_rows:
                break
            ranked = sorted(
                (t for t in judged if t.status == "evaluated"),
                key=lambda t: t.mean,
                reverse=higher_is_better,
            )
            settings = [t.params for t in ranked[: max(1, math.ceil(len(ranked) / HALVING_FACTOR))]]
            rows, sample = full_rows, (frame, target)
    chosen, rule = _choose(trials, schema, task, frame, target, seed, sample_features, report)
    return SearchResult(chosen, trials, rule)


def _cross_validate(
    trial: Trial,
    schema: FeatureSchema,
    task: Task,
    data: tuple[pd.DataFrame, np.ndarray],
    splitter: KFold | StratifiedKFold,
    seed: int,
) -> None:
    began = time.monotonic()
    pipeline = build_pipeline(trial.candidate, schema, task, seed, trial.params)
    try:
        with quiet_convergence() as caught:
            scores = cross_val_score(
                pipeline,
                data[0],
                data[1],
                cv=splitter,
                scoring=CV_SCORING[task],
                error_score="raise",
            )
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            trial.note = "stopped at its iteration cap in some folds"
    except Exception as exc:  # a setting that cannot be fitted on this data is not chosen
        trial.status = f"failed: {type(exc).__name__}: {exc}"[:300]
    else:
        # scikit-learn negates error metrics so that higher is better; undo it.
        values = scores if PRIMARY_METRIC[task][1] else -scores
        trial.mean, trial.std, trial.folds = float(values.mean()), float(values.std()), len(values)
        trial.scores = [float(v) for v in values]
    trial.seconds = time.monotonic() - began


def _choose(
    trials: list[Trial],
    schema: FeatureSchema,
    task: Task,
    frame: pd.DataFrame,
    target: np.ndarray,
    seed: int,
    sample_features: Features,
    report: Progress,
) -> tuple[Trial, str]:
    """The best quick setting within one standard error of the best, else the smallest
    graph within it, within the serving budgets: the chosen trial, and why."""
    higher_is_better = PRIMARY_METRIC[task][1]
    full = [t for t in trials if t.rows == len(frame) and t.status == "evaluated"]
    if not full:
        raise ValueError("no setting could be cross-validated on the training rows")
    full.sort(key=lambda t: t.mean, reverse=higher_is_better)
    best = full[0]
    near = [best] + [t for t in full[1:] if abs(t.mean - best.mean) <= t.difference_error(best)]
    report.line(
        f"{len(near)} setting(s) within one standard error of the best "
        f"{best.candidate} {best.mean:.4f}: measuring their graphs"
    )
    servable_ids: set[int] = set()

    def measure(trial: Trial) -> None:
        if _measure(trial, schema, task, frame, target, seed, sample_features):
            servable_ids.add(id(trial))
            size = (trial.onnx_bytes or 0) / 2**20
            report.line(
                f"{trial.candidate} {_setting(trial.params)}: graph {size:.2f} MiB, "
                f"session {trial.load_ms or 0:.0f} ms, 1-row {trial.latency_ms or 0:.3f} ms"
            )
        else:
            report.line(f"{trial.candidate} {_setting(trial.params)}: {trial.note}")

    for trial in near[:MAX_FINALISTS]:
        measure(trial)
    within = [t for t in near if id(t) in servable_ids]
    quick = [t for t in within if (t.load_ms or 0.0) <= QUICK_SESSION_MS]
    near_best = (
        f"within one standard error (of the fold-by-fold difference) of the best CV "
        f"{PRIMARY_METRIC[task][0]} ({best.candidate} {best.mean:.4f}) and within the serving "
        "budgets"
    )
    if quick:  # ``near`` is ordered best first
        chosen = quick[0]
        rule = (
            f"the best of the {len(quick)} setting(s) whose session takes at most "
            f"{QUICK_SESSION_MS:g} ms, {near_best}"
        )
    elif within:
        chosen = min(within, key=lambda t: (t.onnx_bytes or 0, t.latency_ms or 0.0))
        rule = f"the smallest graph of the {len(within)} setting(s) {near_best}"
    else:  # every near setting is over the budgets: the best of the others that is not
        for trial in [t for t in full if t not in near][:MAX_FINALISTS]:
            measure(trial)
            if id(trial) in servable_ids:
                break
        servable = [t for t in full if id(t) in servable_ids]
        if not servable:
            raise ValueError(
                f"no setting fits the serving budgets ({MAX_ONNX_MIB:g} MiB graph, "
                f"{MAX_LATENCY_MS:g} ms a row): "
                + "; ".join(f"{t.candidate}: {t.note}" for t in full if t.note)
            )
        chosen = servable[0]
        rule = "the best CV score within the serving budgets (every near setting is over them)"
    # The leaderboard's size and latency of every other setting judged on all rows, while
    # the budget lasts (the choice above needs none of them).
    for trial in full:
        if trial.onnx_bytes is None and not trial.note.startswith("no ONNX") and report.left() > 0:
            _measure(trial, schema, task, frame, target, seed, sample_features)
    return chosen, rule


def _measure(
    trial: Trial,
    schema: FeatureSchema,
    task: Task,
    frame: pd.DataFrame,
    target: np.ndarray,
    seed: int,
    sample_features: Features,
) -> bool:
    """Fit ``trial``'s pipeline on every row, convert it, time a row (recorded on the
    trial): whether its graph is within the serving budgets."""
    with quiet_convergence():
        pipeline = build_pipeline(trial.candidate, schema, task, seed, trial.params)
        pipeline.fit(frame, target)
    try:
        graph = onnx_export.convert(pipeline, schema, task)
    except Exception as exc:
        trial.note = f"no ONNX graph: {exc}"[:300]
        return False
    trial.onnx_bytes = len(graph)
    classes = list(pipeline.classes_) if task == "classification" else None
    began = time.perf_counter()
    served = OnnxPredictor(graph, schema, task, classes)
    trial.load_ms = round((time.perf_counter() - began) * 1000, 1)
    trial.latency_ms = row_latency_ms(served, sample_features)
    if trial.onnx_bytes > MAX_ONNX_MIB * 2**20:
        trial.note = f"graph {trial.onnx_bytes / 2**20:.1f} MiB, over {MAX_ONNX_MIB:g} MiB"
        return False
    if trial.latency_ms > MAX_LATENCY_MS:
        trial.note = f"1-row {trial.latency_ms:.2f} ms, over {MAX_LATENCY_MS:g} ms"
        return False
    return True


def row_latency_ms(served: OnnxPredictor, features: Features) -> float:
    """The median time of a 1-row prediction through ``served`` (onnxruntime), in ms."""
    row = {name: values[:1] for name, values in features.items()}
    served.predict(row)  # the first call allocates
    timings = []
    for _ in range(LATENCY_CALLS):
        began = time.perf_counter()
        served.predict(row)
        timings.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(timings), 4)


def terminal_progress() -> TextIO | None:
    """Standard error when it is a terminal (a Lambda log gets the summary only)."""
    return sys.stderr if sys.stderr.isatty() else None
