"""The report's live quality section: each version's metrics over the labels that came
back, with their intervals against the holdout, the labels files read, and the primary
metric over time as an inline SVG chart (interval band, holdout line, drops in red).
Every value from the report is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

_LINE, _BAND, _HOLDOUT, _DROP = "#2f6fde", "#d6e2fa", "#5b6475", "#d0382f"
_WIDTH, _HEIGHT, _LEFT, _BOTTOM = 640, 220, 56, 34


def quality_section(document: dict[str, Any]) -> str:
    """The HTML of the quality part of one report (empty when it has none)."""
    quality = document.get("quality") or {}
    labels = document.get("labels") or []
    history = document.get("quality_history") or []
    if not (quality or labels or history):
        return ""
    parts = ["<h2 id='quality'>Live quality</h2>"]
    if history:
        parts.append(quality_chart(history))
    for version, section in sorted(quality.items()):
        parts.append(_version_quality(version, section))
    if labels:
        parts.append(_labels_table(labels))
    return "".join(parts)


def _version_quality(version: str, section: dict[str, Any]) -> str:
    said = str(section.get("verdict", ""))
    verdict, status = (
        ("drop", "drift") if section.get("dropped")
        else ("uncertain", "moderate") if said.startswith("uncertain")
        else ("ok", "ok")
    )  # fmt: skip
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td class='num'>{_number(value)}</td>"
        f"<td class='num'>{_interval(section.get('intervals', {}).get(name))}</td>"
        f"<td class='num'>{_number(section.get('holdout', {}).get(name))}</td></tr>"
        for name, value in section.get("metrics", {}).items()
    )
    delay = section.get("delay_seconds") or {}
    return (
        f"<h3>Version {escape(version)} <span class='status {status}'>{verdict}</span></h3>"
        f"<p class='meta'>{escape(str(section.get('verdict', '')))} · "
        f"{section.get('rows', 0)} labelled rows · label delay median "
        f"{_duration(delay.get('median'))}, 90% within {_duration(delay.get('p90'))}</p>"
        "<table><tr><th>metric</th><th>live</th><th>95% interval</th><th>holdout</th></tr>"
        f"{rows}</table>"
    )


def _labels_table(labels: list[dict[str, Any]]) -> str:
    kinds = ("duplicates", "other_model", "too_old", "wrong_type", "unknown", "bad_lines")
    rows = "".join(
        f"<tr><td>{escape(f['key'])}</td><td class='num'>{f['labels']}</td>"
        f"<td class='num'>{f['joined']}</td>"
        + "".join(f"<td class='num'>{f.get(kind, 0)}</td>" for kind in kinds)
        + f"<td>{escape(f['error'] or '')}</td></tr>"
        for f in labels
    )
    heads = "".join(f"<th>{k.replace('_', ' ')}</th>" for k in kinds)
    return (
        "<p>Labels files read in this period:</p><table><tr><th>file</th><th>labels</th>"
        f"<th>joined</th>{heads}<th>error</th></tr>{rows}</table>"
    )


def quality_chart(history: list[dict[str, Any]]) -> str:
    """The primary metric of each period (its 95% band) and the holdout, over time."""
    points = history[-48:]
    metric = escape(str(points[-1]["metric"]))
    values = [v for p in points for v in (p["low"], p["high"], p["holdout"]) if v is not None]
    low, high = min(values), max(values)
    span = (high - low) or abs(high) or 1.0
    low, high = low - 0.08 * span, high + 0.08 * span
    plot_w, plot_h = _WIDTH - _LEFT - 12, _HEIGHT - _BOTTOM - 12
    step = plot_w / max(len(points) - 1, 1)

    def x(i: int) -> float:
        return _LEFT + (i * step if len(points) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return float(12 + (high - v) / (high - low) * plot_h)

    band = " ".join(f"{x(i):.1f},{y(p['high']):.1f}" for i, p in enumerate(points))
    band += " " + " ".join(
        f"{x(i):.1f},{y(p['low']):.1f}" for i, p in reversed(list(enumerate(points)))
    )
    line = " ".join(f"{x(i):.1f},{y(p['value']):.1f}" for i, p in enumerate(points))
    parts = [
        f'<svg role="img" aria-label="live {metric} per period, with its 95% interval and '
        f'the holdout" width="{_WIDTH}" height="{_HEIGHT}" xmlns="http://www.w3.org/2000/svg" '
        'font-size="11" font-family="system-ui,sans-serif">',
        f'<polygon points="{band}" fill="{_BAND}"/>',
        f'<polyline points="{line}" fill="none" stroke="{_LINE}" stroke-width="2"/>',
    ]
    holdouts = [(i, p["holdout"]) for i, p in enumerate(points) if p["holdout"] is not None]
    if holdouts:
        trace = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in holdouts)
        parts.append(
            f'<polyline points="{trace}" fill="none" stroke="{_HOLDOUT}" '
            'stroke-dasharray="5 4" stroke-width="1.5"/>'
        )
    for i, p in enumerate(points):
        colour = _DROP if p["dropped"] else _LINE
        parts.append(
            f'<circle cx="{x(i):.1f}" cy="{y(p["value"]):.1f}" r="3.5" fill="{colour}">'
            f"<title>{escape(p['end'])} · version {escape(p['version'])} · {metric} "
            f"{p['value']:.4g} ({p['low']:.4g} to {p['high']:.4g}) · {p['rows']} labels"
            "</title></circle>"
        )
    for v in (low + 0.08 * span, (low + high) / 2, high - 0.08 * span):
        parts.append(
            f'<text x="{_LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end" fill="#5b6475">'
            f"{v:.3g}</text>"
        )
    for i in sorted({0, len(points) - 1}):
        # The first date starts at its point, the last ends at its own: both stay inside.
        anchor = "start" if i == 0 and len(points) > 1 else "end" if i else "middle"
        parts.append(
            f'<text x="{x(i):.1f}" y="{_HEIGHT - 12}" text-anchor="{anchor}" fill="#5b6475">'
            f"{escape(points[i]['end'][5:16].replace('T', ' '))}</text>"
        )
    parts.append("</svg>")
    keys = (
        (_LINE, f"live {metric} per period"),
        (_BAND, "its 95% interval"),
        (_HOLDOUT, f"holdout {metric}"),
        (_DROP, "a drop"),
    )
    legend = (
        '<p class="legend">'
        + " ".join(
            f'<span style="background:{colour}"></span>{escape(text)}' for colour, text in keys
        )
        + "</p>"
    )
    return "".join(parts) + legend


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else "-"


def _interval(pair: Any) -> str:
    # A bound is None where it is not finite (a sum of squares beyond float64).
    return f"{_number(pair[0])} to {_number(pair[1])}" if pair else "-"


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
