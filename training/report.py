"""The training report: how a version was chosen and how good it is, as JSON and as one
self-contained HTML page (inline CSS and SVG, no script, nothing fetched from elsewhere;
every value is escaped: a column or class name is data, never markup).

:func:`report_document` gathers the figures from the fitted pipeline (judged on the
holdout it never saw) and the search; :func:`render_html` draws them. Both are stored
beside the version in the registry (``report.json``, ``report.html``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics
from sklearn.calibration import calibration_curve
from sklearn.inspection import permutation_importance

from predictor.inference import Task
from training.pipelines import CV_SCORING, quiet_convergence

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
#: Points kept per curve, and per scatter plot.
MAX_CURVE_POINTS = 120
MAX_SCATTER_POINTS = 600
#: Permutations per column for the importance, and the columns drawn.
IMPORTANCE_REPEATS = 5
MAX_IMPORTANCE_BARS = 20


def _thin(values: Sequence[float], limit: int) -> list[float]:
    """At most ``limit`` evenly spaced values (the first and last kept)."""
    if len(values) <= limit:
        return [float(v) for v in values]
    picks = np.unique(np.linspace(0, len(values) - 1, limit).round().astype(int))
    return [float(values[i]) for i in picks]


def data_summary(frame: pd.DataFrame, target: pd.Series, task: Task) -> dict[str, Any]:
    """Rows, the missing values of each column, and the target's balance or spread."""
    summary: dict[str, Any] = {
        "rows": len(frame),
        "columns": frame.shape[1],
        "missing": {c: int(n) for c, n in frame.isna().sum().items() if n},
    }
    if task == "classification":
        counts = target.astype(str).value_counts().sort_index()
        summary["classes"] = {str(k): int(v) for k, v in counts.items()}
    else:
        values = target.to_numpy(dtype=float)
        summary["target"] = {
            "mean": float(values.mean()),
            "std": float(values.std()),
            "min": float(values.min()),
            "max": float(values.max()),
        }
    return summary


def holdout_figures(
    task: Task,
    pipeline: Any,
    frame: pd.DataFrame,
    truth: np.ndarray,
    seed: int,
) -> dict[str, Any]:
    """What the pipeline (fitted without them) does on the holdout rows: the charts' data
    and the permutation importance of each column."""
    figures: dict[str, Any] = {}
    predicted = pipeline.predict(frame)
    if task == "regression":
        picks = np.unique(
            np.linspace(0, len(truth) - 1, min(len(truth), MAX_SCATTER_POINTS)).astype(int)
        )
        figures["predicted_vs_actual"] = {
            "actual": [float(v) for v in truth[picks]],
            "predicted": [float(v) for v in predicted[picks]],
        }
    else:
        classes = [str(c) for c in pipeline.classes_]
        matrix = metrics.confusion_matrix(
            np.asarray(truth).astype(str), np.asarray(predicted).astype(str), labels=classes
        )
        figures["confusion_matrix"] = {"classes": classes, "counts": matrix.tolist()}
        # A model without predict_proba answers labels only: no curves to draw.
        has_probabilities = hasattr(pipeline, "predict_proba")
        probabilities = pipeline.predict_proba(frame) if has_probabilities else np.empty((0, 0))
        truth_text = np.asarray(truth).astype(str)
        roc, pr, calibration = [], [], []
        # One curve per class against the rest (only the positive class of two).
        shown = classes[1:] if len(classes) == 2 else classes
        for name in shown if has_probabilities else ():
            column = classes.index(name)
            positive = truth_text == name
            if positive.all() or not positive.any():
                continue
            scores = probabilities[:, column]
            fpr, tpr, _ = metrics.roc_curve(positive, scores)
            precision, recall, _ = metrics.precision_recall_curve(positive, scores)
            observed, expected = calibration_curve(positive, scores, n_bins=10)
            roc.append(
                {
                    "class": name,
                    "auc": float(metrics.roc_auc_score(positive, scores)),
                    "x": _thin(fpr, MAX_CURVE_POINTS),
                    "y": _thin(tpr, MAX_CURVE_POINTS),
                }
            )
            pr.append(
                {
                    "class": name,
                    "average_precision": float(metrics.average_precision_score(positive, scores)),
                    "x": _thin(recall, MAX_CURVE_POINTS),
                    "y": _thin(precision, MAX_CURVE_POINTS),
                }
            )
            calibration.append(
                {
                    "class": name,
                    "x": [float(v) for v in expected],
                    "y": [float(v) for v in observed],
                }
            )
        figures.update(roc=roc, precision_recall=pr, calibration=calibration)
    with quiet_convergence():
        importance = permutation_importance(
            pipeline,
            frame,
            truth,
            scoring=CV_SCORING[task],
            n_repeats=IMPORTANCE_REPEATS,
            random_state=seed,
        )
    order = np.argsort(-importance.importances_mean)
    figures["permutation_importance"] = [
        {
            "column": str(frame.columns[i]),
            "mean": float(importance.importances_mean[i]),
            "std": float(importance.importances_std[i]),
        }
        for i in order
    ]
    return figures


def report_document(
    manifest: dict[str, Any],
    figures: dict[str, Any],
    data: dict[str, Any],
    comparison: dict[str, Any],
) -> dict[str, Any]:
    """The report's JSON: the manifest's essentials, the search, the holdout's figures."""
    return {
        "model": manifest.get("name"),
        "version": manifest.get("version"),
        "created_at": manifest["created_at"],
        "task": manifest["task"],
        "target": manifest["target"],
        "estimator": manifest["estimator"],
        "params": manifest.get("params", {}),
        "metrics": manifest["metrics"],
        # A published model was trained elsewhere: no search, no leaderboard.
        "rule": manifest.get("search", {}).get("rule"),
        "budgets": manifest.get("search", {}).get("budgets"),
        "leaderboard": manifest.get("search", {}).get("trials", []),
        "source": manifest.get("source"),
        "onnx": manifest["onnx"],
        "data": data,
        "figures": figures,
        "comparison": comparison,
        "training": manifest["training"],
        "versions": manifest["versions"],
    }


# ----- HTML ------------------------------------------------------------------------------
_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1d2330;
padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 6px}
h3{font-size:15px;margin:0 0 4px}.meta{color:#5b6475}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;text-align:left;
border-bottom:1px solid #e3e6ec}th{font-weight:600}td.num{text-align:right;
font-variant-numeric:tabular-nums;white-space:nowrap}
tr.chosen td{background:#e6efff;font-weight:600}.wide{grid-column:1/-1}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:14px}
.card{border:1px solid #e3e6ec;border-radius:8px;padding:10px 12px}
.good{color:#1b6b34}.bad{color:#a1221b}
"""
_WIDTH, _HEIGHT, _PAD = 320, 220, 34
_COLOURS = (
    "#2f6fde",
    "#d0382f",
    "#1b9e5a",
    "#8a5a00",
    "#7b3fc4",
    "#0b8a99",
    "#c2185b",
    "#5b6475",
    "#e08a00",
    "#2e7d32",
)


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "&#8211;"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if math.isfinite(value) else "&#8211;"
    return escape(str(value))


def _axes(
    x_range: tuple[float, float], y_range: tuple[float, float], x_label: str, y_label: str
) -> tuple[str, Any]:
    (x0, x1), (y0, y1) = x_range, y_range
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)

    def point(x: float, y: float) -> tuple[float, float]:
        return (
            _PAD + (x - x0) / (x1 - x0) * (_WIDTH - _PAD - 8),
            _HEIGHT - _PAD - (y - y0) / (y1 - y0) * (_HEIGHT - _PAD - 8),
        )

    frame = (
        f'<line x1="{_PAD}" y1="{_HEIGHT - _PAD}" x2="{_WIDTH - 8}" y2="{_HEIGHT - _PAD}" '
        'stroke="#9aa3b5"/>'
        f'<line x1="{_PAD}" y1="8" x2="{_PAD}" y2="{_HEIGHT - _PAD}" stroke="#9aa3b5"/>'
        f'<text x="{_WIDTH / 2}" y="{_HEIGHT - 6}" font-size="11" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text x="10" y="{_HEIGHT / 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 10 {_HEIGHT / 2})">{escape(y_label)}</text>'
        f'<text x="{_PAD}" y="{_HEIGHT - _PAD + 12}" font-size="10">{x0:.3g}</text>'
        f'<text x="{_WIDTH - 8}" y="{_HEIGHT - _PAD + 12}" font-size="10" '
        f'text-anchor="end">{x1:.3g}</text>'
        f'<text x="{_PAD - 3}" y="{_HEIGHT - _PAD}" font-size="10" text-anchor="end">'
        f"{y0:.3g}</text>"
        f'<text x="{_PAD - 3}" y="14" font-size="10" text-anchor="end">{y1:.3g}</text>'
    )
    return frame, point


def _svg(body: str, label: str) -> str:
    return (
        f'<svg viewBox="0 0 {_WIDTH} {_HEIGHT}" width="{_WIDTH}" height="{_HEIGHT}" '
        f'role="img" aria-label="{escape(label)}">{body}</svg>'
    )


def _scatter(
    xs: list[float],
    ys: list[float],
    x_label: str,
    y_label: str,
    *,
    diagonal: bool = False,
    zero_line: bool = False,
) -> str:
    low = min(min(xs), min(ys)) if diagonal else min(xs)
    high = max(max(xs), max(ys)) if diagonal else max(xs)
    y_low, y_high = (low, high) if diagonal else (min(ys), max(ys))
    frame, point = _axes((low, high), (y_low, y_high), x_label, y_label)
    marks = []
    if diagonal:
        (ax, ay), (bx, by) = point(low, low), point(high, high)
        marks.append(
            f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{by:.1f}" '
            'stroke="#9aa3b5" stroke-dasharray="4 3"/>'
        )
    if zero_line and y_low < 0 < y_high:
        (ax, ay), (bx, by) = point(low, 0), point(high, 0)
        marks.append(
            f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{by:.1f}" '
            'stroke="#9aa3b5" stroke-dasharray="4 3"/>'
        )
    for x, y in zip(xs, ys, strict=True):
        px, py = point(x, y)
        marks.append(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2" fill="#2f6fde" fill-opacity="0.35"/>'
        )
    return _svg(frame + "".join(marks), f"{y_label} against {x_label}")


def _curves(
    lines: list[dict[str, Any]], x_label: str, y_label: str, name: str, *, diagonal: bool = False
) -> str:
    frame, point = _axes((0.0, 1.0), (0.0, 1.0), x_label, y_label)
    marks = []
    if diagonal:
        (ax, ay), (bx, by) = point(0, 0), point(1, 1)
        marks.append(
            f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{by:.1f}" '
            'stroke="#9aa3b5" stroke-dasharray="4 3"/>'
        )
    legend = []
    for index, line in enumerate(lines):
        colour = _COLOURS[index % len(_COLOURS)]
        path = " ".join(
            f"{x:.1f},{y:.1f}"
            for x, y in (point(a, b) for a, b in zip(line["x"], line["y"], strict=True))
        )
        marks.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.4"/>'
        )
        figure = line.get(name)
        legend.append(
            f'<span style="color:{colour}">■</span> {escape(str(line["class"]))}'
            + (f" ({figure:.3f})" if isinstance(figure, float) else "")
        )
    return _svg(frame + "".join(marks), f"{y_label} against {x_label}") + (
        '<div class="meta">' + " ".join(legend) + "</div>"
    )


def _bars(items: list[dict[str, Any]], label: str) -> str:
    shown = items[:MAX_IMPORTANCE_BARS]
    if not shown:
        return ""
    top = max(max(i["mean"] for i in shown), 1e-12)
    height = 18 * len(shown) + 10
    rows = []
    for index, item in enumerate(shown):
        width = max(0.0, item["mean"]) / top * 180
        y = 5 + 18 * index
        rows.append(
            f'<text x="150" y="{y + 12}" font-size="11" text-anchor="end">'
            f"{escape(item['column'][:24])}</text>"
            f'<rect x="156" y="{y + 2}" width="{width:.1f}" height="12" fill="#2f6fde"/>'
            f'<text x="{160 + width:.1f}" y="{y + 12}" font-size="10">{item["mean"]:.4f}</text>'
        )
    return (
        f'<svg viewBox="0 0 420 {height}" width="420" height="{height}" role="img" '
        f'aria-label="{escape(label)}">{"".join(rows)}</svg>'
    )


def _confusion(matrix: dict[str, Any]) -> str:
    classes, counts = matrix["classes"], matrix["counts"]
    top = max((max(row) for row in counts), default=1) or 1
    head = "".join(f"<th>{escape(c)}</th>" for c in classes)
    body = []
    for name, row in zip(classes, counts, strict=True):
        cells = "".join(
            f'<td class="num" style="background:rgba(47,111,222,{0.08 + 0.6 * v / top:.2f})">'
            f"{v}</td>"
            for v in row
        )
        body.append(f"<tr><th>{escape(name)}</th>{cells}</tr>")
    return (
        '<table aria-label="confusion matrix: rows are the true class, columns the predicted">'
        f"<tr><th>true \\ predicted</th>{head}</tr>{''.join(body)}</table>"
    )


def _metrics_table(document: dict[str, Any]) -> str:
    held, dummy = document["metrics"]["holdout"], document["metrics"]["baseline"]
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td class='num'>{_number(value)}</td>"
        f"<td class='num'>{_number(dummy.get(name))}</td></tr>"
        for name, value in held.items()
    )
    return f"<table><tr><th>metric</th><th>model</th><th>dummy baseline</th></tr>{rows}</table>"


def _leaderboard(document: dict[str, Any]) -> str:
    metric = document["metrics"]["primary"]
    chosen = (document["estimator"], document["params"])
    rows = []
    for trial in document["leaderboard"]:
        is_chosen = (trial["candidate"], trial["params"]) == chosen and trial["rows"] == max(
            t["rows"] for t in document["leaderboard"]
        )
        setting = ", ".join(f"{k}={v}" for k, v in trial["params"].items()) or "(defaults)"
        size = trial.get("onnx_bytes")
        note = trial["status"] if trial["status"] != "evaluated" else trial["note"]
        rows.append(
            f"<tr{' class=chosen' if is_chosen else ''}><td>{escape(trial['candidate'])}</td>"
            f"<td>{escape(setting)}</td><td class='num'>{trial['rows']}</td>"
            f"<td class='num'>{_number(trial.get('mean'))} ± {_number(trial.get('std'))}</td>"
            f"<td class='num'>{trial['seconds']:.1f}</td>"
            f"<td class='num'>{'&#8211;' if size is None else f'{size / 2**20:.2f}'}</td>"
            f"<td class='num'>{_number(trial.get('load_ms'), 0)}</td>"
            f"<td class='num'>{_number(trial.get('latency_ms'), 3)}</td>"
            f"<td>{escape(note)}</td>"
            "</tr>"
        )
    return (
        f"<table><tr><th>candidate</th><th>setting</th><th>rows</th><th>CV {escape(metric)} "
        "(mean ± sd)</th><th>fit s</th><th>graph MiB</th><th>session ms</th><th>1-row ms</th>"
        "<th>note</th></tr>" + "".join(rows) + "</table>"
    )


def _comparison(comparison: dict[str, Any]) -> str:
    if not comparison.get("current_version"):
        return f"<p>{escape(comparison.get('summary', 'No version to compare with.'))}</p>"
    better = comparison.get("better")
    verdict = "good" if better else "bad"
    return (
        f"<p class='{verdict}'>{escape(comparison['summary'])}</p>"
        f"<table><tr><th></th><th>version</th><th>{escape(comparison['metric'])} on this "
        "holdout</th></tr>"
        f"<tr><td>this version</td><td>{escape(str(comparison.get('new_version') or ''))}</td>"
        f"<td class='num'>{_number(comparison['new'])}</td></tr>"
        f"<tr><td>{escape(comparison['alias'])}</td>"
        f"<td>{escape(comparison['current_version'])}</td>"
        f"<td class='num'>{_number(comparison['current'])}</td></tr></table>"
    )


def render_html(document: dict[str, Any]) -> str:
    """The report page of ``document`` (from :func:`report_document`)."""
    figures, data = document["figures"], document["data"]
    title = f"{document['model']} {document['version']}"
    charts: list[str] = []
    if "predicted_vs_actual" in figures:
        points = figures["predicted_vs_actual"]
        residuals = [p - a for p, a in zip(points["predicted"], points["actual"], strict=True)]
        charts.append(
            "<div class='card'><h3>Predicted against actual (holdout)</h3>"
            + _scatter(points["actual"], points["predicted"], "actual", "predicted", diagonal=True)
            + "</div><div class='card'><h3>Residuals (holdout)</h3>"
            + _scatter(
                points["predicted"], residuals, "predicted", "predicted - actual", zero_line=True
            )
            + "</div>"
        )
    if "confusion_matrix" in figures:
        charts.append(
            "<div class='card wide'><h3>Confusion matrix (holdout)</h3>"
            + _confusion(figures["confusion_matrix"])
            + "</div>"
        )
    if figures.get("roc"):  # a model without probabilities has no curves
        charts.append(
            "<div class='card'><h3>ROC (one class against the rest)</h3>"
            + _curves(
                figures["roc"], "false positive rate", "true positive rate", "auc", diagonal=True
            )
            + "</div>"
        )
        charts.append(
            "<div class='card'><h3>Precision and recall</h3>"
            + _curves(figures["precision_recall"], "recall", "precision", "average_precision")
            + "</div>"
        )
        charts.append(
            "<div class='card'><h3>Calibration</h3>"
            + _curves(
                figures["calibration"],
                "predicted probability",
                "observed frequency",
                "",
                diagonal=True,
            )
            + "</div>"
        )
    onnx = document["onnx"]
    summary_rows = [("rows", data["rows"]), ("columns", data["columns"])]
    summary_rows += [(f"missing in {k}", v) for k, v in data["missing"].items()]
    if "classes" in data:
        summary_rows += [(f"class {k}", v) for k, v in data["classes"].items()]
    else:
        summary_rows += [(f"target {k}", v) for k, v in data["target"].items()]
    data_table = "".join(
        f"<tr><td>{escape(str(k))}</td><td class='num'>{_number(v)}</td></tr>"
        for k, v in summary_rows
    )
    params = ", ".join(f"{k}={v}" for k, v in document["params"].items()) or "defaults"
    source = document.get("source") or {}
    if source.get("published"):
        origin = (
            f"published {escape(document['created_at'])} from {escape(str(source.get('file')))} "
            f"({escape(str(source.get('format')))}), fitted with scikit-learn "
            f"{escape(str(source.get('sklearn_version') or 'of an unrecorded version'))} and "
            f"converted with {escape(str(document['versions'].get('scikit-learn')))}; judged on "
            f"{data['rows']} labelled rows. Model: <b>{escape(document['estimator'])}</b>. It "
            "was trained elsewhere: there is no search to show."
        )
        search = ""
    else:
        origin = (
            f"trained {escape(document['created_at'])} on {data['rows']} rows. Chosen: "
            f"<b>{escape(document['estimator'])}</b> ({escape(params)}): "
            f"{escape(str(document['rule']))}."
        )
        search = (
            f"<h2>Leaderboard</h2><p class='meta'>Serving budgets: graph at most "
            f"{document['budgets']['onnx_mib']:g} MiB, 1-row latency at most "
            f"{document['budgets']['latency_ms']:g} ms.</p>{_leaderboard(document)}"
        )
    kind = "Model report" if source.get("published") else "Training report"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{kind}: {escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{kind}: {escape(title)}</h1>"
        f"<p class='meta'>{escape(document['task'])} of {escape(str(document['target']))}, "
        f"{origin}</p>"
        f"<h2>Against the version it would replace</h2>{_comparison(document['comparison'])}"
        f"<h2>Holdout metrics</h2>{_metrics_table(document)}"
        f"<div class='grid'>{''.join(charts)}</div>"
        "<h2>Permutation importance (holdout)</h2>"
        "<p class='meta'>How much the score worsens when a column's values are shuffled.</p>"
        + _bars(figures["permutation_importance"], "permutation importance of each column")
        + search
        + f"<h2>The served graph</h2><p>{escape(onnx['reason'])}; {onnx['bytes'] / 2**20:.2f} MiB, "
        f"1-row prediction {_number(onnx.get('latency_ms'), 3)} ms (onnxruntime, one thread).</p>"
        f"<h2>Data</h2><table>{data_table}</table>"
        "</body></html>"
    )


__all__ = [
    "REPORT_HTML",
    "REPORT_JSON",
    "data_summary",
    "holdout_figures",
    "render_html",
    "report_document",
]
