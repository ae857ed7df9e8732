"""The drift report as one self-contained HTML page: inline CSS and SVG, no script, nothing
fetched from elsewhere. Every value from the report is escaped (a model or category name
is data, never markup).
"""

from __future__ import annotations

from html import escape
from typing import Any

from predictor.monitoring.quality_html import quality_section

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1d2330;
padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 6px}
h3{font-size:15px;margin:0 0 4px}
.meta{color:#5b6475}.status{display:inline-block;padding:1px 8px;border-radius:10px;
font-weight:600}
.drift{background:#fde2e1;color:#a1221b}.moderate{background:#fff1d6;color:#8a5a00}
.stable,.ok{background:#dff3e4;color:#1b6b34}.violations{background:#fff1d6;color:#8a5a00}
.nodata{background:#e8eaef;color:#3d4555}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;text-align:left;
border-bottom:1px solid #e3e6ec}th{font-weight:600}td.num{text-align:right;
font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:14px}
.card{border:1px solid #e3e6ec;border-radius:8px;padding:10px 12px}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
"""

_BASELINE_COLOUR = "#9aa3b5"
_CURRENT_COLOUR = "#2f6fde"
_DRIFT_COLOUR = "#d0382f"


def _status(text: str) -> str:
    css = text.replace(" ", "") if text in ("drift", "moderate", "stable", "ok") else "nodata"
    if text == "violations":
        css = "violations"
    return f'<span class="status {css}">{escape(text)}</span>'


def _chart(column: dict[str, Any]) -> str:
    """Baseline and current shares per bin, as paired horizontal bars."""
    bins = [b for b in column["bins"] if b["baseline"] > 0 or b["current"] > 0]
    row, label_width, bar_width = 22, 130, 190
    height = row * len(bins) + 6
    colour = _DRIFT_COLOUR if column["status"] == "drift" else _CURRENT_COLOUR
    top = max([max(b["baseline"], b["current"]) for b in bins] + [1e-9])
    parts = [
        f'<svg role="img" aria-label="{escape(column["name"])}: share of rows per bin" '
        f'width="{label_width + bar_width + 50}" height="{height}" '
        'xmlns="http://www.w3.org/2000/svg" font-size="11" font-family="system-ui,sans-serif">'
    ]
    for i, b in enumerate(bins):
        y = i * row + 3
        base = b["baseline"] / top * bar_width
        current = b["current"] / top * bar_width
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 14}" text-anchor="end">'
            f"{escape(str(b['bin'])[:22])}</text>"
            f'<rect x="{label_width}" y="{y + 1}" width="{base:.1f}" height="8" '
            f'fill="{_BASELINE_COLOUR}"><title>training {b["baseline"]:.1%}</title></rect>'
            f'<rect x="{label_width}" y="{y + 10}" width="{current:.1f}" height="8" '
            f'fill="{colour}"><title>window {b["current"]:.1%}</title></rect>'
            f'<text x="{label_width + max(base, current) + 4:.1f}" y="{y + 14}" '
            f'fill="#5b6475">{b["current"]:.0%}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _card(column: dict[str, Any]) -> str:
    psi = column["psi"]
    floor = column.get("noise_floor")
    return (
        f'<div class="card"><h3>{escape(column["name"])} {_status(column["status"])}</h3>'
        f'<div class="meta">PSI {psi:.3f} · Jensen-Shannon {column["js_distance"]:.3f}'
        + (f" · noise floor {floor:.3f}" if floor is not None else "")
        + f" · {column['rows']} rows</div>{_chart(column)}</div>"
    )


def _version_section(version: dict[str, Any]) -> str:
    parts = [
        f"<h2>Version {escape(version['version'])} {_status(version['status'])}</h2>",
        f'<p class="meta">{escape(version["message"])} · {version["rows"]} rows scored, '
        f"{version['refused_rows']} refused · {version['profiles']} profile(s) merged</p>",
    ]
    if version.get("skipped_profiles"):
        items = "".join(
            f"<li>{escape(s['key'])}: {escape(s['reason'])}</li>"
            for s in version["skipped_profiles"]
        )
        parts.append(f"<p>Skipped profiles:</p><ul>{items}</ul>")
    if "features" not in version:
        return "".join(parts)
    summary = "".join(
        f"<tr><td>{escape(c['name'])}</td><td>{_status(c['status'])}</td>"
        f'<td class="num">{c["psi"]:.3f}</td><td class="num">{c["js_distance"]:.3f}</td>'
        f'<td class="num">{c["missing_share"]:.1%}</td>'
        f'<td class="num">{c["outside_share"]:.1%}</td></tr>'
        for c in [*version["features"], version["prediction"]]
        if c is not None
    )
    parts.append(
        "<table><tr><th>column</th><th>status</th><th>PSI</th><th>JS distance</th>"
        f"<th>missing</th><th>outside training</th></tr>{summary}</table>"
        '<p class="legend">Share of rows per bin: <span style="background:'
        f'{_BASELINE_COLOUR}"></span>training <span style="background:{_CURRENT_COLOUR}">'
        f'</span>this window <span style="background:{_DRIFT_COLOUR}"></span>'
        "this window, drifted</p>"
    )
    cards = [_card(c) for c in version["features"]]
    if version.get("prediction"):
        cards.append(_card(version["prediction"]))
    parts.append(f'<div class="grid">{"".join(cards)}</div>')
    violations = version["violations"]
    if violations:
        rows = "".join(
            f"<tr><td>{escape(v['feature_name'])}</td><td>{escape(v['constraint_check_type'])}"
            f"</td><td>{escape(v['description'])}</td></tr>"
            for v in violations
        )
        parts.append(
            f"<table><tr><th>feature</th><th>check</th><th>violation</th></tr>{rows}</table>"
        )
    else:
        parts.append("<p>No constraint violations.</p>")
    return "".join(parts)


def render_html(document: dict[str, Any]) -> str:
    """The page of one model's report (:meth:`ModelReport.to_dict`)."""
    model = escape(document["model"])
    window = document["window"]
    sections = quality_section(document) + "".join(
        _version_section(v)
        for v in document["versions"]
        if v["status"] != "no data" or not document.get("quality")
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Monitoring report: {model}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Monitoring report: {model} {_status(document['status'])}</h1>"
        f'<p class="meta">Rows scored from {escape(window["start"])} to '
        f"{escape(window['end'])}, compared with the training data of each version. "
        "A column drifts when its population stability index (PSI) reaches the version's "
        "threshold and what sampling noise alone would reach in that many rows.</p>"
        f"{sections}</body></html>"
    )
