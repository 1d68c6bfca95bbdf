"""Charts as SVG, drawn on the server (pure: data in, markup out).

No script library: the page works offline and prints as it looks. Each bar carries a
``<title>`` so a pointer over it shows the exact figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

from broker.web import fmt

W, H = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 56, 24, 44


@dataclass(frozen=True)
class DayBar:
    day: date
    plays: float
    quota: int
    compliant: bool | None  # None: a closed day


def _nice_max(value: float, ticks: int = 4) -> float:
    """The smallest 1-2-2.5-5 x 10^k step whose ``ticks`` multiples reach ``value``, times ``ticks``."""
    if value <= 0:
        return float(ticks)
    raw = value / ticks
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return step * ticks


def _ticks(top: float, count: int = 4) -> list[float]:
    return [top * i / count for i in range(count + 1)]


def _frame(title: str, body: list[str], legend: list[tuple[str, str]]) -> Markup:
    items = "".join(
        (f'<path d="M{LEFT + i * 190},{H - 8}h14" class="{cls}"/>' if cls == "quota" else
         f'<rect x="{LEFT + i * 190}" y="{H - 14}" width="12" height="12" class="{cls}"/>')
        + f'<text x="{LEFT + i * 190 + 18}" y="{H - 4}" class="legend">{escape(label)}</text>'
        for i, (cls, label) in enumerate(legend))
    return Markup(f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}" '
                  f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
                  + "".join(body) + items + "</svg>")


def hourly(hours: list[int], onsets: list[float], plays: list[float], title: str) -> Markup:
    """Traffic per hour of day as bars (left axis) and plays per hour as a line (right axis)."""
    n = max(len(hours), 1)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    slot = plot_w / n
    top_on, top_pl = _nice_max(max(onsets, default=0)), _nice_max(max(plays, default=0))
    body = []
    for t in _ticks(top_on):
        y = TOP + plot_h - plot_h * t / top_on
        body.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                    f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">{fmt.number(t, 0 if t == int(t) else 1)}</text>')
    for t in _ticks(top_pl):
        y = TOP + plot_h - plot_h * t / top_pl
        body.append(f'<text x="{W - RIGHT + 6}" y="{y + 4:.1f}" class="axis plays-axis">{fmt.number(t, 0 if t == int(t) else 1)}</text>')
    points = []
    for i, (hour, on, pl) in enumerate(zip(hours, onsets, plays)):
        x = LEFT + i * slot
        bh = plot_h * on / top_on
        body.append(f'<rect x="{x + slot * 0.12:.1f}" y="{TOP + plot_h - bh:.1f}" width="{slot * 0.76:.1f}" '
                    f'height="{bh:.1f}" class="bar traffic"><title>{hour:02d}:00–{hour:02d}:59: '
                    f'{fmt.number(on, 1)} lượt chuyển động/ngày, {fmt.number(pl, 1)} lần phát/ngày</title></rect>')
        body.append(f'<text x="{x + slot / 2:.1f}" y="{TOP + plot_h + 16}" class="axis" text-anchor="middle">{hour}h</text>')
        points.append((x + slot / 2, TOP + plot_h - plot_h * pl / top_pl, pl))
    if points:
        body.append('<polyline class="line plays" points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points) + '"/>')
        body.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" class="dot plays"/>' for x, y, _ in points)
    body.append(f'<text x="{LEFT}" y="{TOP - 8}" class="axis">Người qua lại (TB/ngày)</text>'
                f'<text x="{W - RIGHT}" y="{TOP - 8}" class="axis plays-axis" text-anchor="end">Số lần phát (TB/ngày)</text>')
    return _frame(title, body, [("traffic", "Lưu lượng người (cảm biến)"), ("plays", "Số lần phát")])


def daily(bars: list[DayBar], title: str) -> Markup:
    """Plays per day as bars, green when the day complies, against the quota as a dashed line."""
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    n = max(len(bars), 1)
    slot = plot_w / n
    top = _nice_max(max([b.plays for b in bars] + [b.quota * 1.2 for b in bars], default=10))
    body = []
    for t in _ticks(top):
        y = TOP + plot_h - plot_h * t / top
        body.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                    f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">{fmt.number(t)}</text>')
    label_every = max(1, round(n / 12))
    quota_path = []
    for i, b in enumerate(bars):
        x = LEFT + i * slot
        bh = plot_h * b.plays / top
        cls = "closed" if b.compliant is None else ("ok" if b.compliant else "behind")
        state = "ngày nghỉ" if b.compliant is None else ("Đạt" if b.compliant else "Chưa đạt")
        body.append(f'<rect x="{x + slot * 0.1:.1f}" y="{TOP + plot_h - bh:.1f}" width="{max(slot * 0.8, 1):.1f}" '
                    f'height="{bh:.1f}" class="bar {cls}"><title>{fmt.day(b.day)}: {fmt.number(b.plays)} lần phát, '
                    f'định mức {b.quota} — {state}</title></rect>')
        if i % label_every == 0:
            body.append(f'<text x="{x + slot / 2:.1f}" y="{TOP + plot_h + 16}" class="axis" '
                        f'text-anchor="middle">{b.day.strftime("%d/%m")}</text>')
        if b.compliant is not None:
            y = TOP + plot_h - plot_h * b.quota / top
            quota_path.append(f"M{x:.1f},{y:.1f}H{x + slot:.1f}")
    if quota_path:
        body.append(f'<path d="{"".join(quota_path)}" class="quota"/>')
    body.append(f'<text x="{LEFT}" y="{TOP - 8}" class="axis">Số lần phát/ngày</text>')
    return _frame(title, body, [("ok", "Đạt"), ("behind", "Chưa đạt"), ("quota", "Định mức")])
