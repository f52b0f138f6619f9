"""A line chart as a standalone SVG file, with no dependency (the demo's figure in a venv without matplotlib)."""

from __future__ import annotations

import math
from html import escape
from pathlib import Path

__all__ = ["line_chart_svg"]

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 640, 400, 70, 190, 40, 55


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round values covering ``[lo, hi]``."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    return [round(start + i * step, 10) for i in range(int((hi - start) / step + 1e-9) + 1)]


def line_chart_svg(
    path: Path,
    series: dict[str, list[tuple[float, float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    log2_x: bool = True,
    hlines: dict[str, float] | None = None,
) -> Path:
    """Write one chart: a polyline with markers per series (``name -> [(x, y), ...]``), a legend, dashed
    horizontal reference lines (``label -> y``); ``log2_x`` draws x on a log2 axis (x > 0). Returns ``path``."""
    hlines = hlines or {}
    pts = [p for s in series.values() for p in s if math.isfinite(p[1])]
    if not pts:
        raise ValueError("line_chart_svg: no finite points")
    fx = (lambda x: math.log2(x)) if log2_x else (lambda x: x)
    xs = [fx(x) for x, _ in pts]
    ys = [y for _, y in pts] + list(hlines.values())
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    y0, y1 = min(ys), max(ys)
    pad = 0.08 * (y1 - y0 or 1.0)
    y0, y1 = y0 - pad, y1 + pad
    pw, ph = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def px(x: float) -> float:
        return _LEFT + (fx(x) - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return _TOP + (y1 - y) / (y1 - y0) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{_W}" height="{_H}" fill="white"/>',
        f'<text x="{_W / 2:.0f}" y="22" text-anchor="middle" font-size="14">{escape(title)}</text>',
        f'<rect x="{_LEFT}" y="{_TOP}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>',
    ]
    if log2_x:
        xticks = [2.0**k for k in range(math.floor(x0), math.ceil(x1) + 1) if x0 - 1e-9 <= k <= x1 + 1e-9]
    else:
        xticks = _ticks(x0, x1)
    for t in xticks:
        x = px(t)
        out.append(f'<line x1="{x:.1f}" y1="{_TOP + ph}" x2="{x:.1f}" y2="{_TOP + ph + 4}" stroke="#444"/>')
        out.append(f'<text x="{x:.1f}" y="{_TOP + ph + 18}" text-anchor="middle">{t:g}</text>')
    for t in _ticks(y0, y1):
        y = py(t)
        out.append(f'<line x1="{_LEFT - 4}" y1="{y:.1f}" x2="{_LEFT + pw}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{_LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{t:g}</text>')
    out.append(f'<text x="{_LEFT + pw / 2:.0f}" y="{_H - 12}" text-anchor="middle">{escape(xlabel)}</text>')
    out.append(
        f'<text x="16" y="{_TOP + ph / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 16 {_TOP + ph / 2:.0f})">{escape(ylabel)}</text>'
    )
    legend_y = _TOP + 10
    for label, value in hlines.items():
        y = py(value)
        out.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + pw}" y2="{y:.1f}" stroke="#888" stroke-dasharray="5,4"/>'
        )
        out.append(f'<text x="{_LEFT + pw - 4}" y="{y - 4:.1f}" text-anchor="end" fill="#666">{escape(label)}</text>')
    for i, (name, points) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        good = sorted(p for p in points if math.isfinite(p[1]))
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in good)
        out.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{colour}"/>' for x, y in good]
        lx = _LEFT + pw + 14
        out.append(
            f'<line x1="{lx}" y1="{legend_y}" x2="{lx + 20}" y2="{legend_y}" stroke="{colour}" stroke-width="2"/>'
        )
        out.append(f'<text x="{lx + 26}" y="{legend_y + 4}">{escape(name)}</text>')
        legend_y += 20
    out.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path
