"""Server-rendered inline SVG charts: no JavaScript library, no CDN.

Each chart is a <figure> holding an <svg role="img"> with a <title> and an aria-label,
followed by a visually hidden table with the same numbers for screen readers (and for
anyone who wants exact values). Every label and number is escaped.

Example:
    bar_chart([("billing", 120), ("refund", 40)], title="Examples per label")
    line_chart({"train loss": [(1, 0.9), (2, 0.5)]}, x_label="Epoch", y_label="Loss")
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import count

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

# Colour-blind-safe categorical palette (Okabe–Ito), dark enough for 3:1 against white.
PALETTE = ("#4f46e5", "#d55e00", "#009e73", "#cc79a7", "#0072b2", "#e69f00", "#56b4e9", "#000000")
_ids = count(1)


def _number(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _tick_format(step: float):
    """One precision for every tick on an axis, from the spacing between ticks: 0, 0.25, 0.5 …
    rather than a mix of plain and scientific notation."""
    decimals = 0 if step >= 1 else min(8, 1 - math.floor(math.log10(step)))
    return lambda value: f"{value:,.{decimals}f}"


def _x_ticks(x_min: float, x_max: float, integers: bool) -> list[float]:
    if not integers:
        return [x_min + (x_max - x_min) * tick / 4 for tick in range(5)]
    # Epochs and steps are whole numbers: never label 10.8.
    step = max(1, math.ceil((x_max - x_min) / 4))
    ticks = list(range(int(x_min), int(x_max) + 1, step))
    return [float(tick) for tick in ticks]


def _f(value: float) -> str:
    # format_html escapes its arguments into strings first, so numbers are formatted here.
    return f"{value:.1f}"


def _nice_ceiling(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _hidden_table(caption: str, headers: list[str], rows: list[list[str]]) -> SafeString:
    head = format_html_join("", '<th scope="col">{}</th>', ((header,) for header in headers))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
    )
    return format_html(
        '<table class="sr-only"><caption>{}</caption><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
        caption,
        head,
        body,
    )


def bar_chart(
    items: list[tuple[str, float]],
    *,
    title: str = "Distribution",
    value_label: str = "Count",
    max_bars: int = 30,
    width: int = 560,
) -> SafeString:
    """Horizontal bars, one per (label, value), in the order given.

    More than `max_bars` items: the rest are summed into one "other (n labels)" bar, so
    the chart stays readable; the hidden table still lists every item.
    """
    if not items:
        return format_html('<p class="muted chart-empty">{}: no data.</p>', title)
    shown = list(items[:max_bars])
    if len(items) > max_bars:
        rest = items[max_bars:]
        shown.append((f"other ({len(rest)} labels)", sum(value for _, value in rest)))
    total = sum(value for _, value in items) or 1
    peak = max(value for _, value in shown) or 1
    label_width, row_height, bar_height, value_width = 160, 26, 16, 90
    plot_width = width - label_width - value_width
    height = row_height * len(shown) + 8
    chart_id = f"chart-{next(_ids)}"
    bars = []
    for index, (label, value) in enumerate(shown):
        y = 4 + index * row_height
        bar_width = max(2.0, plot_width * value / peak) if value > 0 else 0
        short = label if len(label) <= 22 else label[:21] + "…"
        bars.append(
            format_html(
                '<g class="chart-bar"><title>{}: {} ({}%)</title>'
                '<text x="{}" y="{}" text-anchor="end" class="chart-label">{}</text>'
                '<rect x="{}" y="{}" width="{}" height="{}" rx="3" fill="{}"></rect>'
                '<text x="{}" y="{}" class="chart-value">{} · {}%</text></g>',
                label,
                _number(value),
                f"{100 * value / total:.0f}",
                label_width - 8,
                y + bar_height - 3,
                short,
                label_width,
                y,
                _f(bar_width),
                bar_height,
                PALETTE[0],
                _f(label_width + bar_width + 6),
                y + bar_height - 3,
                _number(value),
                f"{100 * value / total:.0f}",
            )
        )
    svg = format_html(
        '<svg class="chart chart-bars" role="img" aria-labelledby="{id}-title" aria-label="{title}" '
        'viewBox="0 0 {w} {h}" width="100%" preserveAspectRatio="xMinYMin meet" focusable="false">'
        '<title id="{id}-title">{title}</title>{bars}</svg>',
        id=chart_id,
        title=title,
        w=width,
        h=height,
        bars=mark_safe("".join(bars)),  # noqa: S308 - every part was built with format_html
    )
    table = _hidden_table(
        title, ["Label", value_label, "Share"], [[label, _number(v), f"{100 * v / total:.0f}%"] for label, v in items]
    )
    return format_html('<figure class="chart-figure" data-testid="bar-chart">{}{}</figure>', svg, table)


def line_chart(
    series: dict[str, list[tuple[float, float]]],
    *,
    x_label: str = "Step",
    y_label: str = "Value",
    title: str = "",
    width: int = 560,
    height: int = 260,
) -> SafeString:
    """One line per named series of (x, y) points, with axes, ticks and a legend.

    Series may have different x values (training and validation loss); non-finite
    points are left out.
    """
    title = title or f"{y_label} by {x_label.lower()}"
    clean = {
        name: sorted((float(x), float(y)) for x, y in points if math.isfinite(x) and math.isfinite(y))
        for name, points in series.items()
    }
    clean = {name: points for name, points in clean.items() if points}
    if not clean:
        return format_html('<p class="muted chart-empty">{}: no data yet.</p>', title)
    xs = [x for points in clean.values() for x, _ in points]
    ys = [y for points in clean.values() for _, y in points]
    x_min, x_max = min(xs), max(xs)
    if x_max == x_min:
        x_max = x_min + 1
    y_min = min(0.0, min(ys))
    y_max = _nice_ceiling(max(ys)) if max(ys) > 0 else 1.0
    if y_max == y_min:
        y_max = y_min + 1
    left, right, top, bottom = 76, 16, 16, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    integer_x = all(float(x).is_integer() for x in xs)
    y_format = _tick_format((y_max - y_min) / 4)

    def sx(x: float) -> float:
        return left + plot_w * (x - x_min) / (x_max - x_min)

    def sy(y: float) -> float:
        return top + plot_h * (1 - (y - y_min) / (y_max - y_min))

    parts = []
    for tick in range(5):
        value = y_min + (y_max - y_min) * tick / 4
        parts.append(
            format_html(
                '<line x1="{l}" x2="{r}" y1="{y}" y2="{y}" class="chart-grid"></line>'
                '<text x="{tx}" y="{ty}" text-anchor="end" class="chart-tick">{v}</text>',
                l=left,
                r=left + plot_w,
                y=_f(sy(value)),
                tx=left - 6,
                ty=_f(sy(value) + 4),
                v=y_format(value),
            )
        )
    for value in _x_ticks(x_min, x_max, integer_x):
        parts.append(
            format_html(
                '<text x="{x}" y="{y}" text-anchor="middle" class="chart-tick">{v}</text>',
                x=_f(sx(value)),
                y=top + plot_h + 16,
                v=_number(value) if integer_x else _number(round(value, 6)),
            )
        )
    parts.append(
        format_html(
            '<line x1="{l}" x2="{l}" y1="{t}" y2="{b}" class="chart-axis"></line>'
            '<line x1="{l}" x2="{r}" y1="{b}" y2="{b}" class="chart-axis"></line>'
            '<text x="{cx}" y="{xly}" text-anchor="middle" class="chart-axis-label">{xl}</text>'
            '<text transform="translate(12 {cy}) rotate(-90)" text-anchor="middle" class="chart-axis-label">{yl}'
            "</text>",
            l=left,
            r=left + plot_w,
            t=top,
            b=top + plot_h,
            cx=_f(left + plot_w / 2),
            xly=top + plot_h + 34,
            xl=x_label,
            cy=_f(top + plot_h / 2),
            yl=y_label,
        )
    )
    legend_x = left
    for index, (name, points) in enumerate(clean.items()):
        colour = PALETTE[index % len(PALETTE)]
        dash = "" if index == 0 else ("6 4" if index % 2 else "2 3")  # not colour alone
        path = " ".join(f"{'M' if i == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for i, (x, y) in enumerate(points))
        parts.append(
            format_html(
                '<g class="chart-series"><title>{}</title>'
                '<path d="{}" fill="none" stroke="{}" stroke-width="2" stroke-dasharray="{}"></path>{}</g>',
                name,
                path,
                colour,
                dash or "none",
                format_html_join(
                    "",
                    '<circle cx="{}" cy="{}" r="2.5" fill="{}"><title>{}: {} = {}, {} = {}</title></circle>',
                    ((_f(sx(x)), _f(sy(y)), colour, name, x_label, _number(x), y_label, _number(y)) for x, y in points),
                ),
            )
        )
        parts.append(
            format_html(
                '<g class="chart-legend"><line x1="{x}" x2="{x2}" y1="{y}" y2="{y}" stroke="{c}" stroke-width="2" '
                'stroke-dasharray="{d}"></line><text x="{tx}" y="{ty}" class="chart-label">{n}</text></g>',
                x=legend_x,
                x2=legend_x + 18,
                y=height - 8,
                c=colour,
                d=dash or "none",
                tx=legend_x + 22,
                ty=height - 4,
                n=name,
            )
        )
        legend_x += 30 + 7 * len(name)
    chart_id = f"chart-{next(_ids)}"
    svg = format_html(
        '<svg class="chart chart-lines" role="img" aria-labelledby="{id}-title" aria-label="{title}" '
        'viewBox="0 0 {w} {h}" width="100%" preserveAspectRatio="xMinYMin meet" focusable="false">'
        '<title id="{id}-title">{title}</title>{parts}</svg>',
        id=chart_id,
        title=title,
        w=width,
        h=height,
        parts=mark_safe("".join(parts)),  # noqa: S308 - every part was built with format_html
    )
    rows = [[name, _number(x), _number(y)] for name, points in clean.items() for x, y in points]
    table = _hidden_table(title, ["Series", x_label, y_label], rows)
    return format_html('<figure class="chart-figure" data-testid="line-chart">{}{}</figure>', svg, table)


def _cumulative(by_day: dict[int, float], days: int, elapsed: float) -> list[tuple[float, float, str]]:
    """The running total at the end of each complete day, then at now (x in days since the start)."""
    total = sum(by_day.values())
    full_days = min(days, math.floor(elapsed))
    running, points = 0.0, [(0.0, 0.0, "")]
    for day in range(1, full_days + 1):
        running += by_day.get(day, 0.0)
        points.append((float(day), running, f"End of day {day}"))
    if elapsed > full_days or running != total:
        points.append((elapsed, total, "Now"))
    return points


@dataclass(frozen=True)
class _UsageFrame:
    """Where things go in the usage chart: the running total above, the days below."""

    days: int
    y_max: float
    day_max: float
    width: int = 960
    left: int = 84
    right: int = 24
    top: int = 28
    upper_h: int = 200
    gap: int = 30
    lower_h: int = 64

    @property
    def plot_w(self) -> int:
        return self.width - self.left - self.right

    @property
    def upper_bottom(self) -> int:
        return self.top + self.upper_h

    @property
    def lower_top(self) -> int:
        return self.upper_bottom + self.gap

    @property
    def lower_bottom(self) -> int:
        return self.lower_top + self.lower_h

    @property
    def height(self) -> int:
        return self.lower_bottom + 84

    def sx(self, x: float) -> float:
        return self.left + self.plot_w * x / self.days

    def sy(self, y: float) -> float:
        return self.top + self.upper_h * (1 - y / self.y_max)

    def sy_day(self, y: float) -> float:
        return self.lower_bottom - self.lower_h * y / self.day_max


def _usage_axes(frame: _UsageFrame, x_label: str, y_label: str) -> list[SafeString]:
    gridline = (
        '<line x1="{l}" x2="{r}" y1="{y}" y2="{y}" class="chart-grid"></line>'
        '<text x="{tx}" y="{ty}" text-anchor="end" class="chart-tick">{v}</text>'
    )
    y_format, day_format = _tick_format(frame.y_max / 4), _tick_format(frame.day_max)
    ticks = [(frame.sy(frame.y_max * tick / 4), y_format(frame.y_max * tick / 4)) for tick in range(5)]
    ticks += [(frame.sy_day(value), day_format(value)) for value in (0.0, frame.day_max)]
    parts = [
        format_html(gridline, l=frame.left, r=frame.left + frame.plot_w, y=_f(y), tx=frame.left - 8, ty=_f(y + 4), v=v)
        for y, v in ticks
    ]
    # Day labels sit under the middle of their bar: 1, 5, 10, 15 ... and the last day.
    labelled = [1, *range(5, frame.days + 1, 5)]
    if frame.days - labelled[-1] >= 3:
        labelled.append(frame.days)
    parts += [
        format_html(
            '<text x="{}" y="{}" text-anchor="middle" class="chart-tick">{}</text>',
            _f(frame.sx(day - 0.5)),
            frame.lower_bottom + 18,
            day,
        )
        for day in labelled
    ]
    parts.append(
        format_html(
            '<line x1="{l}" x2="{l}" y1="{t}" y2="{b}" class="chart-axis"></line>'
            '<line x1="{l}" x2="{r}" y1="{b}" y2="{b}" class="chart-axis"></line>'
            '<line x1="{l}" x2="{l}" y1="{lt}" y2="{lb}" class="chart-axis"></line>'
            '<line x1="{l}" x2="{r}" y1="{lb}" y2="{lb}" class="chart-axis"></line>'
            '<text x="{l}" y="{py}" class="chart-panel-label">Used per day</text>'
            '<text transform="translate(16 {cy}) rotate(-90)" text-anchor="middle" class="chart-axis-label">{yl}</text>'
            '<text x="{cx}" y="{xly}" text-anchor="middle" class="chart-axis-label">{xl}</text>',
            l=frame.left,
            r=frame.left + frame.plot_w,
            t=frame.top,
            b=frame.upper_bottom,
            lt=frame.lower_top,
            lb=frame.lower_bottom,
            py=frame.lower_top - 10,
            cy=_f(frame.top + frame.upper_h / 2),
            yl=y_label,
            cx=_f(frame.left + frame.plot_w / 2),
            xly=frame.lower_bottom + 40,
            xl=x_label,
        )
    )
    return parts


def _usage_bars(frame: _UsageFrame, by_day: dict[int, float]) -> list[SafeString]:
    bar_w = max(1.0, frame.plot_w / frame.days * 0.64)
    return [
        format_html(
            '<rect class="chart-usage-bar" data-testid="usage-chart-bar" x="{}" y="{}" width="{}" height="{}" '
            'rx="2"><title>Day {}: {} used</title></rect>',
            _f(frame.sx(day - 0.5) - bar_w / 2),
            _f(frame.sy_day(quantity)),
            _f(bar_w),
            _f(max(1.0, frame.lower_h * quantity / frame.day_max)),
            day,
            _number(quantity),
        )
        for day, quantity in sorted(by_day.items())
        if quantity > 0
    ]


def _usage_lines(
    frame: _UsageFrame, cumulative: list[tuple[float, float, str]], allowance: float, projected: float
) -> list[SafeString]:
    """Today, the allowance, the projection from now to the end, and the running total (on top)."""
    parts = []
    now_x, total, _ = cumulative[-1]
    if now_x < frame.days:
        parts.append(
            format_html(
                '<line x1="{x}" x2="{x}" y1="{t}" y2="{b}" class="chart-today"></line>'
                '<text x="{x}" y="{ty}" text-anchor="middle" class="chart-tick">Today</text>',
                x=_f(frame.sx(now_x)),
                t=frame.top,
                b=frame.lower_bottom,
                ty=frame.top - 10,
            )
        )
    if allowance > 0:
        # Labelled at the left, above the line: the running total starts at zero there.
        parts.append(
            format_html(
                '<g data-testid="usage-chart-allowance"><line x1="{l}" x2="{r}" y1="{y}" y2="{y}" '
                'class="chart-allowance"></line>'
                '<text x="{tx}" y="{ty}" class="chart-allowance-label">Allowance {v}</text></g>',
                l=frame.left,
                r=frame.left + frame.plot_w,
                y=_f(frame.sy(allowance)),
                tx=frame.left + 8,
                ty=_f(frame.sy(allowance) - 7),
                v=_number(allowance),
            )
        )
    if now_x < frame.days:
        parts.append(
            format_html(
                '<path class="chart-projection" data-testid="usage-chart-projection" d="M{},{} L{},{}">'
                "<title>Projected by the end of the period: {}</title></path>"
                '<text x="{}" y="{}" text-anchor="end" class="chart-projection-label">{}</text>',
                _f(frame.sx(now_x)),
                _f(frame.sy(total)),
                _f(frame.sx(frame.days)),
                _f(frame.sy(projected)),
                _number(projected),
                _f(frame.sx(frame.days) - 2),
                _f(frame.sy(projected) - 9),
                _number(projected),
            )
        )
    path = " ".join(f"{'L' if i else 'M'}{frame.sx(x):.1f},{frame.sy(y):.1f}" for i, (x, y, _) in enumerate(cumulative))
    parts.append(
        format_html(
            '<g class="chart-series"><path class="chart-cumulative" data-testid="usage-chart-line" d="{}"></path>'
            "{}</g>",
            path,
            format_html_join(
                "",
                '<circle class="chart-point" data-testid="usage-chart-point" cx="{}" cy="{}" r="3">'
                "<title>{}: {} used so far</title></circle>",
                ((_f(frame.sx(x)), _f(frame.sy(y)), label, _number(y)) for x, y, label in cumulative[1:]),
            ),
        )
    )
    return parts


def _usage_legend(frame: _UsageFrame, has_allowance: bool) -> list[SafeString]:
    line = '<line x1="{x}" x2="{x2}" y1="{ym}" y2="{ym}" class="%s"></line>'
    legend = [(line % "chart-cumulative", "Used so far"), (line % "chart-projection", "Projection")]
    if has_allowance:
        legend.append((line % "chart-allowance", "Allowance"))
    legend.append(
        ('<rect x="{x}" y="{y}" width="14" height="10" rx="2" class="chart-usage-bar"></rect>', "Used per day")
    )
    parts, x, baseline = [], frame.left, frame.height - 10
    for swatch, name in legend:
        parts.append(
            format_html(
                '<g class="chart-legend">' + swatch + '<text x="{tx}" y="{ty}" class="chart-label">{n}</text></g>',
                x=x,
                x2=x + 20,
                y=baseline - 9,
                ym=baseline - 4,
                tx=x + 26,
                ty=baseline,
                n=name,
            )
        )
        x += 44 + 7 * len(name)
    return parts


def usage_chart(
    daily: list[tuple[int, float]],
    *,
    days: int,
    elapsed_days: float,
    included: float | None,
    projected: float,
    title: str,
    x_label: str = "Day of the month",
    y_label: str = "Used so far",
) -> SafeString:
    """One meter over one billing period, in two panels sharing the day axis.

    Above: the running total, the allowance and a dashed projection from now to the end of
    the period. Below: the use of each day, on its own scale (a day is a thirtieth of the
    month, too small to read on the running total's scale).

    Args:
        daily: (day of the period, 1-based; quantity used that day), any order.
        days: days in the period; x runs from 0 (period start) to `days` (period end).
        elapsed_days: how far into the period now is, in days (10.5 = noon of the 11th).
        included: the allowance; None or 0 draws no allowance line.
        projected: the period's projected total (where the dashed line ends).

    Example:
        usage_chart([(1, 120), (2, 80)], days=30, elapsed_days=2.5, included=1000, projected=300, title="...")
    """
    by_day: dict[int, float] = {}
    for day, quantity in daily:
        if 1 <= int(day) <= days and math.isfinite(float(quantity)):
            by_day[int(day)] = by_day.get(int(day), 0.0) + float(quantity)
    total = sum(by_day.values())
    if total <= 0:
        return format_html('<p class="muted chart-empty">{}: nothing used yet this period.</p>', title)
    elapsed = max(0.0, min(float(days), float(elapsed_days)))
    cumulative = _cumulative(by_day, days, elapsed)
    allowance = float(included) if included else 0.0
    projected = max(float(projected), total)
    frame = _UsageFrame(
        days=days,
        y_max=_nice_ceiling(max(total, projected, allowance) * 1.05),
        day_max=_nice_ceiling(max(by_day.values())),
    )
    parts = [
        *_usage_axes(frame, x_label, y_label),
        *_usage_bars(frame, by_day),
        *_usage_lines(frame, cumulative, allowance, projected),
        *_usage_legend(frame, allowance > 0),
    ]
    chart_id = f"chart-{next(_ids)}"
    svg = format_html(
        '<svg class="chart chart-usage" role="img" aria-labelledby="{id}-title" aria-label="{title}" '
        'viewBox="0 0 {w} {h}" width="100%" preserveAspectRatio="xMinYMin meet" focusable="false">'
        '<title id="{id}-title">{title}</title>{parts}</svg>',
        id=chart_id,
        title=title,
        w=frame.width,
        h=frame.height,
        parts=mark_safe("".join(parts)),  # noqa: S308 - every part was built with format_html
    )
    rows = [[label, _number(by_day.get(math.ceil(x), 0.0)), _number(y)] for x, y, label in cumulative[1:]]
    rows.append(["Projected by the end of the period", "", _number(projected)])
    if allowance > 0:
        rows.append(["Allowance", "", _number(allowance)])
    table = _hidden_table(title, ["When", "Used that day", "Used so far"], rows)
    return format_html('<figure class="chart-figure" data-testid="usage-chart">{}{}</figure>', svg, table)


# --- Sentiment over time: stacked daily bars and the negative share below them ---------------

# Okabe–Ito vermillion and bluish green, with a neutral grey between them (3:1 on white).
SENTIMENT_COLOURS = {"negative": "#d55e00", "neutral": "#8a94a6", "positive": "#009e73"}
SENTIMENT_LABELS = {"negative": "Negative", "neutral": "Neutral", "positive": "Positive"}


@dataclass(frozen=True)
class _DayFrame:
    """A plot with one slot per day; both sentiment charts use it, so their days line up."""

    days: int
    y_max: float
    plot_h: int
    width: int = 960
    left: int = 64
    right: int = 24
    top: int = 16
    bottom: int = 64

    @property
    def plot_w(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_bottom(self) -> int:
        return self.top + self.plot_h

    @property
    def height(self) -> int:
        return self.plot_bottom + self.bottom

    def sx(self, x: float) -> float:
        return self.left + self.plot_w * x / self.days

    def sy(self, y: float) -> float:
        return self.top + self.plot_h * (1 - y / self.y_max)


def _count_ceiling(peak: float) -> float:
    """The top of a count axis with four whole, round ticks just above `peak`: 105 -> 120 (30, 60, 90).

    Finer than _nice_ceiling (105 -> 200), which would leave the upper half of the bars empty.
    """
    target = peak / 4
    magnitude = 10 ** math.floor(math.log10(target)) if target >= 1 else 1
    for multiple in (1, 2, 2.5, 3, 4, 5, 6, 8, 10):
        step = multiple * magnitude
        if step >= target and float(step).is_integer():
            return 4.0 * step
    return 40.0 * magnitude


def _day_axes(frame: _DayFrame, day_labels: list[str], y_label: str, y_format) -> list[SafeString]:
    parts = [
        format_html(
            '<line x1="{l}" x2="{r}" y1="{y}" y2="{y}" class="chart-grid"></line>'
            '<text x="{tx}" y="{ty}" text-anchor="end" class="chart-tick">{v}</text>',
            l=frame.left,
            r=frame.left + frame.plot_w,
            y=_f(frame.sy(frame.y_max * tick / 4)),
            tx=frame.left - 8,
            ty=_f(frame.sy(frame.y_max * tick / 4) + 4),
            v=y_format(frame.y_max * tick / 4),
        )
        for tick in range(5)
    ]
    # Every fifth day, counted back from the last (today), so today always has its label.
    labelled = range(frame.days - 1, -1, -5)
    parts += [
        format_html(
            '<text x="{}" y="{}" text-anchor="middle" class="chart-tick">{}</text>',
            _f(frame.sx(index + 0.5)),
            frame.plot_bottom + 18,
            day_labels[index],
        )
        for index in labelled
    ]
    parts.append(
        format_html(
            '<line x1="{l}" x2="{l}" y1="{t}" y2="{b}" class="chart-axis"></line>'
            '<line x1="{l}" x2="{r}" y1="{b}" y2="{b}" class="chart-axis"></line>'
            '<text transform="translate(14 {cy}) rotate(-90)" text-anchor="middle" class="chart-axis-label">'
            "{yl}</text>",
            l=frame.left,
            r=frame.left + frame.plot_w,
            t=frame.top,
            b=frame.plot_bottom,
            cy=_f(frame.top + frame.plot_h / 2),
            yl=y_label,
        )
    )
    return parts


def _svg_figure(css: str, testid: str, title: str, frame: _DayFrame, parts: list[SafeString], table: SafeString):
    chart_id = f"chart-{next(_ids)}"
    svg = format_html(
        '<svg class="chart {css}" role="img" aria-labelledby="{id}-title" aria-label="{title}" '
        'viewBox="0 0 {w} {h}" width="100%" preserveAspectRatio="xMinYMin meet" focusable="false">'
        '<title id="{id}-title">{title}</title>{parts}</svg>',
        css=css,
        id=chart_id,
        title=title,
        w=frame.width,
        h=frame.height,
        parts=mark_safe("".join(parts)),  # noqa: S308 - every part was built with format_html
    )
    return format_html('<figure class="chart-figure" data-testid="{}">{}{}</figure>', testid, svg, table)


def sentiment_stacked_chart(
    days: list[tuple[str, dict[str, int]]], *, title: str = "Documents by sentiment per day"
) -> SafeString:
    """One stacked bar per day: negative at the bottom, then neutral, then positive.

    Args:
        days: (day label, {"negative": n, "neutral": n, "positive": n}) in date order, every
            day of the range included (days without documents give an empty slot).

    Example:
        sentiment_stacked_chart([("Mar 1", {"negative": 3, "neutral": 10, "positive": 4})])
    """
    totals = [sum(counts.get(name, 0) for name in SENTIMENT_COLOURS) for _, counts in days]
    if not days or max(totals) <= 0:
        return format_html(
            '<p class="muted chart-empty" data-testid="sentiment-chart-empty">{}: no documents yet.</p>', title
        )
    frame = _DayFrame(days=len(days), y_max=_count_ceiling(max(totals)), plot_h=240)
    parts = _day_axes(frame, [label for label, _ in days], "Documents", _tick_format(frame.y_max / 4))
    bar_w = max(2.0, frame.plot_w / frame.days * 0.7)
    for index, ((label, counts), total) in enumerate(zip(days, totals, strict=True)):
        stacked = 0
        for name, colour in SENTIMENT_COLOURS.items():
            value = counts.get(name, 0)
            if value <= 0:
                continue
            y_top = frame.sy(stacked + value)
            parts.append(
                format_html(
                    '<rect class="chart-stack" data-testid="sentiment-bar" data-sentiment="{}" x="{}" y="{}" '
                    'width="{}" height="{}" fill="{}"><title>{}: {} {} of {} ({}%)</title></rect>',
                    name,
                    _f(frame.sx(index + 0.5) - bar_w / 2),
                    _f(y_top),
                    _f(bar_w),
                    _f(max(1.0, frame.sy(stacked) - y_top)),
                    colour,
                    label,
                    _number(value),
                    SENTIMENT_LABELS[name].lower(),
                    _number(total),
                    f"{100 * value / total:.0f}",
                )
            )
            stacked += value
    x, baseline = frame.left, frame.height - 10
    for name, colour in SENTIMENT_COLOURS.items():
        parts.append(
            format_html(
                '<g class="chart-legend"><rect x="{}" y="{}" width="12" height="12" rx="2" fill="{}"></rect>'
                '<text x="{}" y="{}" class="chart-label">{}</text></g>',
                x,
                baseline - 10,
                colour,
                x + 18,
                baseline,
                SENTIMENT_LABELS[name],
            )
        )
        x += 36 + 7 * len(SENTIMENT_LABELS[name])
    rows = [
        [label, *(_number(counts.get(name, 0)) for name in SENTIMENT_COLOURS), _number(total)]
        for (label, counts), total in zip(days, totals, strict=True)
    ]
    table = _hidden_table(title, ["Day", *SENTIMENT_LABELS.values(), "Total"], rows)
    return _svg_figure("chart-sentiment", "sentiment-stacked-chart", title, frame, parts, table)


@dataclass(frozen=True)
class ChartMarker:
    """An event on a day chart: `position` in days from the start of the first day (2.5 = noon of day 3)."""

    position: float
    label: str
    href: str = ""


def negative_share_chart(
    days: list[tuple[str, dict[str, int]]],
    *,
    markers: list[ChartMarker] = (),
    title: str = "Negative share per day",
) -> SafeString:
    """The share of negative documents per day as a line, with markers (alerts) on the day axis.

    Days without documents break the line rather than read as 0%. The scale runs to the next
    round share above the highest day (at most 100%), so a move from 8% to 14% stays visible.
    """
    shares: list[tuple[int, float, int]] = []
    for index, (_, counts) in enumerate(days):
        total = sum(counts.get(name, 0) for name in SENTIMENT_COLOURS)
        if total > 0:
            shares.append((index, counts.get("negative", 0) / total, total))
    if not shares:
        return format_html(
            '<p class="muted chart-empty" data-testid="share-chart-empty">{}: no documents yet.</p>', title
        )
    # Quarters of 20%, 40% ... 100% make round ticks (5%, 10%, 15% ...), never 12% and 38%.
    highest = max(share for _, share, _ in shares) * 1.1
    y_max = next(top for top in (0.2, 0.4, 0.6, 0.8, 1.0) if highest <= top or top == 1.0)
    frame = _DayFrame(days=len(days), y_max=y_max, plot_h=140, bottom=40)
    labels = [label for label, _ in days]
    parts = _day_axes(frame, labels, "Negative", lambda value: f"{100 * value:.0f}%")
    segments, previous = [], None
    for index, share, _ in shares:
        command = "L" if previous is not None and index == previous + 1 else "M"
        segments.append(f"{command}{frame.sx(index + 0.5):.1f},{frame.sy(share):.1f}")
        previous = index
    for marker in markers:
        if not 0 <= marker.position <= frame.days:
            continue
        x = frame.sx(marker.position)
        shape = format_html(
            '<line x1="{x}" x2="{x}" y1="{t}" y2="{b}" class="chart-alert-line"></line>'
            '<path d="M{x},{tip} l-6,-9 h12 z" class="chart-alert-marker"></path><title>{label}</title>',
            x=_f(x),
            t=frame.top,
            b=frame.plot_bottom,
            tip=_f(frame.top + 1),
            label=marker.label,
        )
        if marker.href:
            shape = format_html('<a href="{}">{}</a>', marker.href, shape)
        parts.append(format_html('<g class="chart-alert" data-testid="sentiment-alert-marker">{}</g>', shape))
    parts.append(
        format_html(
            '<g class="chart-series"><path class="chart-share" data-testid="share-line" d="{}"></path>{}</g>',
            " ".join(segments),
            format_html_join(
                "",
                '<circle class="chart-share-point" cx="{}" cy="{}" r="3">'
                "<title>{}: {}% negative of {}</title></circle>",
                (
                    (
                        _f(frame.sx(index + 0.5)),
                        _f(frame.sy(share)),
                        labels[index],
                        f"{100 * share:.0f}",
                        _number(total),
                    )
                    for index, share, total in shares
                ),
            ),
        )
    )
    rows = [[labels[index], f"{100 * share:.0f}%", _number(total)] for index, share, total in shares]
    rows += [[marker.label, "", ""] for marker in markers]
    table = _hidden_table(title, ["Day", "Negative share", "Documents"], rows)
    return _svg_figure("chart-share-line", "share-chart", title, frame, parts, table)
