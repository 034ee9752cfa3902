"""Inline SVG charts for the run report, drawn straight from numpy arrays.

The market-day report (paper §5.3: what the DSO looks at after clearing) needs four small
charts. Drawing them as SVG text costs milliseconds and needs no plotting library, so a run
does not pay matplotlib's import and rasterisation (about half of a warm demo's wall time).
One ``Chart`` is one panel: data coordinates are mapped linearly onto the plot area; every
series becomes a single ``<path>`` however many points it has.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np

__all__ = ["Chart", "nice_ticks", "svg_document"]

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def nice_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """About ``n`` round tick values covering [lo, hi]."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return np.array([0.0])
    if hi - lo < 1e-12:
        return np.array([lo])
    raw = (hi - lo) / max(n, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    return np.arange(start, hi + step * 1e-6, step)


def _fmt(value: float) -> str:
    return f"{value:.1f}" if math.isfinite(value) else "0"


def _label(value: float) -> str:
    return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.0f}"


class Chart:
    """One SVG panel with axes, grid lines, a title, a legend and series in data units."""

    def __init__(self, x_range: tuple[float, float], y_range: tuple[float, float], *,
                 width: int = 900, height: int = 240, title: str = "", x_label: str = "",
                 y_label: str = "") -> None:
        self.x0, self.x1 = float(x_range[0]), float(x_range[1])
        lo, hi = float(y_range[0]), float(y_range[1])
        pad = (hi - lo) * 0.05 or max(abs(hi), 1.0) * 0.05
        self.y0, self.y1 = lo - pad, hi + pad
        if self.x1 <= self.x0:
            self.x1 = self.x0 + 1.0
        self.width, self.height = width, height
        self.left, self.right, self.top, self.bottom = 64, 12, 24, 40
        self.title, self.x_label, self.y_label = title, x_label, y_label
        self._body: list[str] = []
        self._legend: list[tuple[str, str]] = []

    def px(self, x: np.ndarray) -> np.ndarray:
        span = self.width - self.left - self.right
        return self.left + (np.asarray(x, dtype=float) - self.x0) / (self.x1 - self.x0) * span

    def py(self, y: np.ndarray) -> np.ndarray:
        span = self.height - self.top - self.bottom
        return self.top + (self.y1 - np.asarray(y, dtype=float)) / (self.y1 - self.y0) * span

    def _legend_entry(self, label: str | None, color: str) -> None:
        if label:
            self._legend.append((label, color))

    def line(self, x: np.ndarray, y: np.ndarray, *, color: str, width: float = 1.5,
             dash: str = "", label: str | None = None) -> None:
        if len(x) == 0:
            return
        parts, drawing = [], False  # a missing value (NaN) breaks the line
        for a, b in zip(self.px(x), self.py(y), strict=True):
            if not (math.isfinite(a) and math.isfinite(b)):
                drawing = False
                continue
            parts.append(f"{'L' if drawing else 'M'}{_fmt(a)},{_fmt(b)}")
            drawing = True
        dash_attr = f" stroke-dasharray='{dash}'" if dash else ""
        self._body.append(f"<path d='{''.join(parts)}' fill='none' stroke='{color}' "
                          f"stroke-width='{width}'{dash_attr}/>")
        self._legend_entry(label, color)

    def hline(self, y: float, *, color: str = "black", dash: str = "5,3",
              label: str | None = None) -> None:
        self.line(np.array([self.x0, self.x1]), np.array([y, y]), color=color, width=0.9,
                  dash=dash, label=label)

    def band(self, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, *, color: str,
             opacity: float = 0.3, label: str | None = None) -> None:
        if len(x) == 0:
            return
        ok = np.isfinite(lo) & np.isfinite(hi)  # ISPs without any value are left out
        x, lo, hi = np.asarray(x)[ok], lo[ok], hi[ok]
        if len(x) == 0:
            return
        xs = np.concatenate([x, x[::-1]])
        ys = np.concatenate([hi, lo[::-1]])
        points = " L".join(f"{_fmt(a)},{_fmt(b)}" for a, b in zip(self.px(xs), self.py(ys),
                                                                   strict=True))
        self._body.append(f"<path d='M{points} Z' fill='{color}' fill-opacity='{opacity}' "
                          f"stroke='none'/>")
        self._legend_entry(label, color)

    def rects(self, left: np.ndarray, right: np.ndarray, bottom: np.ndarray, top: np.ndarray,
              *, color: str, label: str | None = None) -> None:
        """Rectangles in data units, all in one path (one colour)."""
        if len(left) == 0:
            return
        x0, x1 = self.px(left), self.px(right)
        ya, yb = self.py(bottom), self.py(top)
        parts = [f"M{_fmt(a)},{_fmt(c)}H{_fmt(b)}V{_fmt(d)}H{_fmt(a)}Z"
                 for a, b, c, d in zip(x0, x1, ya, yb, strict=True)]
        self._body.append(f"<path d='{''.join(parts)}' fill='{color}' stroke='none'/>")
        self._legend_entry(label, color)

    def text(self, x: float, y: float, text: str) -> None:
        self._body.append(f"<text x='{_fmt(float(self.px(x)))}' y='{_fmt(float(self.py(y)))}' "
                          f"text-anchor='middle'>{html.escape(text)}</text>")

    def x_categories(self, centres: Sequence[float], labels: Sequence[str]) -> None:
        """Category labels under the x axis (instead of numeric ticks)."""
        self._x_categories = list(zip(centres, labels, strict=True))

    def svg(self, ident: str = "c0") -> str:
        w, h = self.width, self.height
        plot_bottom, plot_right = h - self.bottom, w - self.right
        out = [f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {w} {h}' width='{w}' "
               f"height='{h}' font-family='sans-serif' font-size='11'>"]
        out.append(f"<clipPath id='{ident}'><rect x='{self.left}' y='{self.top}' "
                   f"width='{plot_right - self.left}' height='{plot_bottom - self.top}'/>"
                   "</clipPath>")
        for value in nice_ticks(self.y0, self.y1):
            y = _fmt(float(self.py(value)))
            out.append(f"<line x1='{self.left}' x2='{plot_right}' y1='{y}' y2='{y}' "
                       "stroke='#ddd'/>")
            out.append(f"<text x='{self.left - 4}' y='{y}' text-anchor='end' "
                       f"dominant-baseline='middle'>{_label(value)}</text>")
        categories = getattr(self, "_x_categories", None)
        if categories is None:
            for value in nice_ticks(self.x0, self.x1, 8):
                x = _fmt(float(self.px(value)))
                out.append(f"<line x1='{x}' x2='{x}' y1='{self.top}' y2='{plot_bottom}' "
                           "stroke='#eee'/>")
                out.append(f"<text x='{x}' y='{plot_bottom + 14}' text-anchor='middle'>"
                           f"{_label(value)}</text>")
        else:
            for centre, label in categories:
                out.append(f"<text x='{_fmt(float(self.px(centre)))}' y='{plot_bottom + 14}' "
                           f"text-anchor='middle'>{html.escape(label)}</text>")
        out.append(f"<g clip-path='url(#{ident})'>{''.join(self._body)}</g>")
        out.append(f"<rect x='{self.left}' y='{self.top}' width='{plot_right - self.left}' "
                   f"height='{plot_bottom - self.top}' fill='none' stroke='#444'/>")
        out.append(f"<text x='{self.left}' y='{self.top - 8}'>{html.escape(self.title)}</text>")
        out.append(f"<text x='{(self.left + plot_right) / 2}' y='{h - 6}' "
                   f"text-anchor='middle'>{html.escape(self.x_label)}</text>")
        out.append(f"<text transform='translate(12,{(self.top + plot_bottom) / 2}) rotate(-90)' "
                   f"text-anchor='middle'>{html.escape(self.y_label)}</text>")
        if self._legend:
            out.append(f"<rect x='{plot_right - 196}' y='{self.top + 2}' width='190' "
                       f"height='{14 * len(self._legend) + 4}' fill='white' "
                       "fill-opacity='0.85'/>")
        for i, (label, color) in enumerate(self._legend):
            y = self.top + 12 + 14 * i
            out.append(f"<rect x='{plot_right - 190}' y='{y - 8}' width='12' height='8' "
                       f"fill='{color}'/><text x='{plot_right - 174}' y='{y}'>"
                       f"{html.escape(label)}</text>")
        out.append("</svg>")
        return "".join(out)


def svg_document(charts: Sequence[Chart], prefix: str) -> str:
    """Several panels stacked into one block of inline SVG (clip ids ``prefix0``, ...)."""
    return ("<div class='chart'>" + "".join(c.svg(f"{prefix}{i}") for i, c in enumerate(charts))
            + "</div>")
