"""What `static/charts.js` draws with Chart.js: a chart's figures as a plain JSON-able dict.

Templates put the dict in a `data-chart` attribute of a <canvas> (`{{ spec|tojson }}`
inside single quotes: tojson escapes quotes and markup), so no inline script is needed
under the CSP. Every chart sits beside a table holding the same figures: the table is
the accessible alternative and what a page without JavaScript shows.

The figures come from the store or `portfolio.aggregate` as they are; nothing is computed
here but their layout (one series per rulebook version, gaps as null).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from utsyn.portfolio.aggregate import TrendPoint
from utsyn.store.models import ScoreSnapshot

ChartSpec = dict[str, Any]


def line_chart(
    labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], y_label: str
) -> ChartSpec:
    """Scores 0–100 over `labels` (days), one line per series."""
    return {
        "type": "line",
        "labels": list(labels),
        "series": [{"label": name, "values": _rounded(values)} for name, values in series],
        "yLabel": y_label,
    }


def bar_chart(
    labels: Sequence[str], values: Sequence[float | None], grades: Sequence[str | None], label: str
) -> ChartSpec:
    """One bar per label, coloured by its grade (charts.js reads the grade colours from CSS)."""
    return {
        "type": "bar",
        "labels": list(labels),
        "series": [{"label": label, "values": _rounded(values)}],
        "grades": [g or "" for g in grades],
        "yLabel": label,
    }


def trend_series(
    points: Sequence[TrendPoint],
) -> tuple[list[str], list[tuple[str, list[float | None]]]]:
    """The days, and a series of averages per rulebook version (None where it has none).

    Scores of different rulebook versions are not comparable, so they are never joined
    into one line.
    """
    days = sorted({p.day.isoformat() for p in points})
    at = {day: i for i, day in enumerate(days)}
    series: dict[str, list[float | None]] = {}
    for p in points:
        series.setdefault(p.rulebook_version, [None] * len(days))[at[p.day.isoformat()]] = p.average
    return days, sorted(series.items())


def trend_chart(points: Sequence[TrendPoint], _: Callable[..., str]) -> ChartSpec:
    """The dashboards' trend: the average score per day, a line per rulebook version."""
    days, series = trend_series(points)
    lines = [(_("Rulebook %(version)s", version=v), values) for v, values in series]
    return line_chart(days, lines, _("Average score"))


def snapshot_chart(history: Sequence[ScoreSnapshot], series_label: str, y_label: str) -> ChartSpec:
    """An organisation's score per snapshot, oldest first."""
    labels = [s.day.isoformat() for s in history]
    return line_chart(labels, [(series_label, [s.score for s in history])], y_label)


def _rounded(values: Sequence[float | None]) -> list[float | None]:
    # A tenth is what the tables show; more digits only make the page heavier.
    return [round(v, 1) if v is not None else None for v in values]
