"""The trend chart: an inline SVG drawn from score snapshots (no script, nothing fetched).

Every text placed in the SVG is escaped here; the numbers are formatted by us. The result is
`Markup`, so the template can insert it while escaping everything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from markupsafe import Markup, escape

from utsyn.i18n import Language
from utsyn.report.labels import month_abbr, number
from utsyn.rules.weights import GRADE_FLOORS

WIDTH, HEIGHT = 520.0, 150.0
LEFT, RIGHT, TOP, BOTTOM = 30.0, 40.0, 8.0, 20.0  # room for axis labels
BAND_COLOURS = {"A": "#e3f1e6", "B": "#eef5df", "C": "#fbf3d9", "D": "#fbe6d6", "F": "#f8dcdc"}
LINE_COLOUR = "#1f4e79"
# Presentation attributes, not CSS classes: WeasyPrint styles SVG text by its attributes.
AXIS = 'font-family="DejaVu Sans" font-size="7" fill="#555555"'
BAND = 'font-family="DejaVu Sans" font-size="8" font-weight="bold" fill="#777777"'
LAST = f'font-family="DejaVu Sans" font-size="9" font-weight="bold" fill="{LINE_COLOUR}"'


@dataclass(frozen=True)
class TrendPoint:
    day: date
    score: float


@dataclass(frozen=True)
class Frame:
    """Maps days and scores onto the drawing area."""

    start: date
    end: date
    low: float  # the lowest score on the axis (a multiple of ten)

    def x(self, day: date) -> float:
        span = max((self.end - self.start).days, 1)
        return LEFT + (WIDTH - LEFT - RIGHT) * (day - self.start).days / span

    def y(self, score: float) -> float:
        top, bottom = TOP, HEIGHT - BOTTOM
        return bottom - (bottom - top) * (score - self.low) / (100.0 - self.low)


def trend_svg(points: list[TrendPoint], end: date, lang: Language) -> Markup:
    """A year up to `end`: grade bands, month ticks, the score line and the latest score."""
    # Scores cluster high; start the axis just below the lowest one so movement shows.
    lowest = min((p.score for p in points), default=60.0)
    frame = Frame(end - timedelta(days=365), end, min(50.0, lowest // 10 * 10))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH:.0f} {HEIGHT:.0f}" '
        f'width="{WIDTH:.0f}" height="{HEIGHT:.0f}" class="trend" role="img">',
        *_bands(frame),
        *_months(frame, lang),
        *_line(frame, points, lang),
        "</svg>",
    ]
    return Markup("".join(parts))


def _bands(frame: Frame) -> list[str]:
    floors = [(grade, max(floor, frame.low)) for grade, floor in GRADE_FLOORS]
    bands = [*floors, ("F", frame.low)]
    parts, ceiling = [], 100.0
    for grade, floor in bands:
        if floor >= ceiling:
            continue
        y0, y1 = frame.y(ceiling), frame.y(floor)
        parts.append(
            f'<rect x="{LEFT}" y="{y0:.1f}" width="{WIDTH - LEFT - RIGHT:.1f}" '
            f'height="{y1 - y0:.1f}" fill="{BAND_COLOURS[grade]}"/>'
            f'<text x="{WIDTH - RIGHT + 4:.1f}" y="{(y0 + y1) / 2 + 3:.1f}" '
            f"{BAND}>{grade}</text>"
            f'<text x="{LEFT - 4:.1f}" y="{y1 + 3:.1f}" {AXIS} '
            f'text-anchor="end">{floor:.0f}</text>'
        )
        ceiling = floor
    return parts


def _months(frame: Frame, lang: Language) -> list[str]:
    parts = []
    month = date(frame.start.year, frame.start.month, 1)
    while month <= frame.end:
        if month >= frame.start:
            x = frame.x(month)
            label = escape(month_abbr(month, lang))
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM + 3:.1f}" '
                f'stroke="#ffffff" stroke-width="1"/><text x="{x + 2:.1f}" y="{HEIGHT - 6:.1f}" '
                f"{AXIS}>{label}</text>"
            )
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return parts


def _line(frame: Frame, points: list[TrendPoint], lang: Language) -> list[str]:
    shown = [p for p in points if frame.start <= p.day <= frame.end]
    if not shown:
        return []
    coords = " ".join(f"{frame.x(p.day):.1f},{frame.y(p.score):.1f}" for p in shown)
    last = shown[-1]
    x, y = frame.x(last.day), frame.y(last.score)
    label = escape(number(last.score, lang))
    width = 6.0 * len(label) + 4  # about the label's width at this size, plus a margin
    # Above the point when the line arrives from below, else below it; on a white patch so
    # the line never runs through the number.
    rising = len(shown) < 2 or shown[-2].score <= last.score
    top = y - 18 if rising or y + 18 > HEIGHT - BOTTOM else y + 6
    return [
        f'<polyline points="{coords}" fill="none" stroke="{LINE_COLOUR}" stroke-width="2" '
        'stroke-linejoin="round"/>',
        *(
            f'<circle cx="{frame.x(p.day):.1f}" cy="{frame.y(p.score):.1f}" r="2" '
            f'fill="{LINE_COLOUR}"/>'
            for p in shown
            if len(shown) <= 60  # dots only while they stay apart
        ),
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{LINE_COLOUR}"/>',
        f'<rect x="{x - width - 2:.1f}" y="{top:.1f}" width="{width:.1f}" height="12" '
        'fill="#ffffff" fill-opacity="0.85" rx="2"/>',
        f'<text x="{x - 4:.1f}" y="{top + 9:.1f}" {LAST} text-anchor="end">{label}</text>',
    ]
