"""Inline SVG charts for the report: a confusion-matrix heatmap, line charts (training curves) and bars.

Plain SVG strings (no plotting library in the lock, nothing fetched): the page stays one offline file and
every number stays selectable text. Each function returns markup ready to embed; all text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Optional

FONT = "font-family=\"-apple-system, 'Segoe UI', Roboto, 'Liberation Sans', Arial, sans-serif\""
TRAIN_COLOR = "#1f5fa8"
VALIDATION_COLOR = "#e07b00"
GRID_COLOR = "#e3e7ee"
AXIS_COLOR = "#5b6575"


def _svg(width: float, height: float, body: list[str], label: str) -> str:
    return (
        f'<svg role="img" aria-label="{escape(label)}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" {FONT} '
        f'font-size="12">' + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "middle", **attributes) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(str(v))}"' for k, v in attributes.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(text)}</text>'


def _blend(fraction: float) -> str:
    """White (0) to deep blue (1): the heatmap's colour scale."""
    low, high = (247, 251, 255), (8, 48, 107)
    fraction = min(1.0, max(0.0, fraction))
    return "#" + "".join(f"{round(a + (b - a) * fraction):02x}" for a, b in zip(low, high))


def heatmap(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str = "") -> str:
    """Confusion matrix, rows = true genre, columns = predicted. Shade = share of the row (the recall of
    that cell), so a rare genre's mistakes show as clearly as a common one's; the cell text is the count."""
    n = len(labels)
    cell = 46 if n <= 10 else 30
    left, top = 118, 104
    width, height = left + n * cell + 16, top + n * cell + 40
    body = []
    if title:
        body.append(_text(left + n * cell / 2, 16, title, font_weight="600", font_size="13"))
    body.append(_text(left + n * cell / 2, top - 86 + 16, "predicted genre", fill=AXIS_COLOR))
    body.append(
        _text(
            14, top + n * cell / 2, "true genre", fill=AXIS_COLOR, transform=f"rotate(-90 14 {top + n * cell / 2:.1f})"
        )
    )
    for j, label in enumerate(labels):
        x = left + j * cell + cell / 2 + 4
        body.append(_text(x, top - 6, label, anchor="start", transform=f"rotate(-55 {x:.1f} {top - 6})"))
    for i, row in enumerate(matrix):
        total = sum(row)
        y = top + i * cell
        body.append(_text(left - 8, y + cell / 2 + 4, labels[i], anchor="end"))
        for j, count in enumerate(row):
            share = count / total if total else 0.0
            x = left + j * cell
            stroke = ' stroke="#1a1a1a" stroke-width="1.5"' if i == j else ' stroke="#ffffff"'
            body.append(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{_blend(share)}"{stroke}>'
                f"<title>{escape(f'true {labels[i]}, predicted {labels[j]}: {count} ({share:.0%} of the row)')}"
                "</title></rect>"
            )
            color = "#ffffff" if share > 0.5 else "#1a1a1a"
            body.append(_text(x + cell / 2, y + cell / 2 + 4, str(count), fill=color))
    body.append(
        _text(
            left + n * cell / 2,
            height - 10,
            "shade: share of the true genre's examples; outlined: correct",
            fill=AXIS_COLOR,
            font_size="11",
        )
    )
    return _svg(width, height, body, title or "confusion matrix")


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5 or 5 times a power of ten apart)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _format_tick(value: float) -> str:
    return f"{value:g}" if abs(value) >= 0.01 or value == 0 else f"{value:.1e}"


def line_chart(
    series: Sequence[dict],
    title: str,
    x_label: str,
    y_label: str,
    markers: Sequence[tuple[float, str]] = (),
    shade_from: Optional[float] = None,
    shade_label: str = "",
    width: int = 560,
    height: int = 320,
) -> str:
    """series: [{"label", "points": [(x, y)], "color", "dashed": bool}]; markers: vertical lines at x with a
    caption (e.g. the best epoch); shade_from: x from which the plot is tinted (e.g. where it overfits)."""
    points = [(x, y) for s in series for x, y in s["points"] if y is not None and math.isfinite(y)]
    if not points:
        return _svg(width, 60, [_text(width / 2, 34, f"{title}: no values", fill=AXIS_COLOR)], title)
    left, right, top, bottom = 58, 16, 52, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x_low, x_high = min(xs), max(xs)
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1
    y_ticks = nice_ticks(min(ys), max(ys))
    y_low, y_high = y_ticks[0], y_ticks[-1]

    def px(x: float) -> float:
        return left + (x - x_low) / (x_high - x_low) * plot_w

    def py(y: float) -> float:
        return top + plot_h - (y - y_low) / ((y_high - y_low) or 1) * plot_h

    body = [_text(left, 18, title, anchor="start", font_weight="600", font_size="13")]
    if shade_from is not None and shade_from < x_high:
        x0 = px(max(shade_from, x_low))
        body.append(f'<rect x="{x0:.1f}" y="{top}" width="{left + plot_w - x0:.1f}" height="{plot_h}" fill="#fdecea"/>')
        if shade_label:
            # Above the plot, right-aligned (the legend is on the left): never over the curves.
            body.append(_text(left + plot_w, top - 6, shade_label, anchor="end", fill="#b3261e", font_size="11"))
    for tick in y_ticks:
        y = py(tick)
        body.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID_COLOR}"/>')
        body.append(_text(left - 6, y + 4, _format_tick(tick), anchor="end", fill=AXIS_COLOR))
    x_step = max(1, math.ceil((x_high - x_low) / 10))
    x_tick = math.ceil(x_low)
    while x_tick <= x_high:
        body.append(_text(px(x_tick), top + plot_h + 16, f"{x_tick:g}", fill=AXIS_COLOR))
        x_tick += x_step
    body.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="{AXIS_COLOR}"/>')
    body.append(_text(left + plot_w / 2, height - 8, x_label, fill=AXIS_COLOR))
    body.append(
        _text(14, top + plot_h / 2, y_label, fill=AXIS_COLOR, transform=f"rotate(-90 14 {top + plot_h / 2:.1f})")
    )
    for x, caption in markers:
        mx = px(x)
        body.append(
            f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{top}" y2="{top + plot_h}" stroke="#2e7d32" '
            'stroke-width="1.5" stroke-dasharray="4 3"/>'
        )
        anchor = "start" if mx < left + plot_w * 0.7 else "end"
        body.append(
            _text(
                mx + (4 if anchor == "start" else -4),
                top + plot_h - 6,
                caption,
                anchor=anchor,
                fill="#2e7d32",
                font_size="11",
            )
        )
    legend_x = left
    for s in series:
        dash = ' stroke-dasharray="6 4"' if s.get("dashed") else ""
        body.append(
            f'<line x1="{legend_x}" x2="{legend_x + 22}" y1="36" y2="36" stroke="{s["color"]}" '
            f'stroke-width="2.5"{dash}/>'
        )
        body.append(_text(legend_x + 28, 40, s["label"], anchor="start"))
        legend_x += 40 + 7 * len(s["label"])
        valid = [(x, y) for x, y in s["points"] if y is not None and math.isfinite(y)]
        path = " ".join(f"{'M' if k == 0 else 'L'}{px(x):.1f},{py(y):.1f}" for k, (x, y) in enumerate(valid))
        body.append(f'<path d="{path}" fill="none" stroke="{s["color"]}" stroke-width="2.2"{dash}/>')
        name = s["label"]
        for x, y in valid:
            tip = escape(f"{name}, {x_label} {x:g}: {y:.4f}")
            body.append(
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.8" fill="{s["color"]}"><title>{tip}</title></circle>'
            )
    return _svg(width, height, body, title)


def bar_chart(
    items: Sequence[tuple[str, float, bool]], title: str, reference: Sequence[tuple[float, str]] = (), width: int = 560
) -> str:
    """Horizontal bars of values in [0, 1] shown as percentages: items (label, value, highlighted);
    reference: vertical lines (value, caption), e.g. the accuracy floor."""
    left, right, top, row = 180, 60, 44, 26
    plot_w = width - left - right
    height = top + row * len(items) + 30
    body = [_text(left, 16, title, anchor="start", font_weight="600", font_size="13")]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = left + tick * plot_w
        body.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{top + row * len(items)}" stroke="{GRID_COLOR}"/>'
        )
        body.append(_text(x, top + row * len(items) + 14, f"{tick:.0%}", fill=AXIS_COLOR, font_size="11"))
    for k, (label, value, highlighted) in enumerate(items):
        y = top + k * row
        body.append(_text(left - 8, y + row / 2 + 4, label, anchor="end"))
        if value is None:
            body.append(_text(left + 4, y + row / 2 + 4, "n/a", anchor="start", fill=AXIS_COLOR))
            continue
        bar = max(0.0, min(1.0, value)) * plot_w
        color = TRAIN_COLOR if highlighted else "#9aa9bd"
        body.append(f'<rect x="{left}" y="{y + 4}" width="{bar:.1f}" height="{row - 8}" rx="2" fill="{color}"/>')
        body.append(_text(left + bar + 5, y + row / 2 + 4, f"{value:.1%}", anchor="start"))
    for value, caption in reference:
        x = left + max(0.0, min(1.0, value)) * plot_w
        body.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 6}" y2="{top + row * len(items)}" '
            'stroke="#b3261e" stroke-width="1.5" stroke-dasharray="4 3"/>'
        )
        body.append(_text(x, top - 8, caption, fill="#b3261e", font_size="11"))
    return _svg(width, height, body, title)
