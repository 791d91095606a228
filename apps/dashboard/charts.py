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
