"""The web view's picture of the grid over one day: per congestion point, the forecast
loading (paper §5.1: the DSO's forecast, before flexibility) against its limit, and the
relief the market cleared (kW of DSO requests covered by awards, §5.3) for each ISP.

Server-side SVG (no script, no external asset): one small chart per congestion point;
loading as a line in % of rating with the limit dashed, relief as bars on their own kW axis.
"""

from __future__ import annotations

import math
from html import escape

from markupsafe import Markup

__all__ = ["loading_relief_chart"]

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 520, 120, 38, 44, 16, 18


def _y(value: float, top: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - min(max(value / top, 0.0), 1.0))


def loading_relief_chart(cp_id: str, name: str, labels: list[str],
                         loading_pct: list[float | None], max_loading_pct: float,
                         relief_kw: list[float]) -> Markup:
    """An SVG of one congestion point's day (``labels``: the ISPs' UTC start, HH:MM)."""
    n = len(labels)
    plot_w = WIDTH - LEFT - RIGHT
    step = plot_w / max(n, 1)
    finite = [v for v in loading_pct if v is not None and math.isfinite(v)]
    top_pct = max([max_loading_pct * 1.25, *finite]) or 100.0
    top_kw = max([*relief_kw, 1.0])
    parts = [f'<svg class="cp-chart" data-cp="{escape(cp_id)}" width="{WIDTH}" '
             f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{escape(cp_id)}: forecast loading and cleared relief">',
             f'<text x="{LEFT}" y="11" class="t">{escape(cp_id)} {escape(name)}</text>',
             f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{HEIGHT - TOP - BOTTOM}" '
             'class="frame"/>']
    for k, kw in enumerate(relief_kw):
        if kw > 0:
            y = _y(kw, top_kw)
            parts.append(f'<rect class="relief" x="{LEFT + k * step + step * 0.15:.1f}" '
                         f'y="{y:.1f}" width="{step * 0.7:.1f}" '
                         f'height="{HEIGHT - BOTTOM - y:.1f}"><title>{labels[k]}: '
                         f'{kw:.1f} kW relief cleared</title></rect>')
    y_lim = _y(max_loading_pct, top_pct)
    parts.append(f'<line class="limit" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y_lim:.1f}" '
                 f'y2="{y_lim:.1f}"/>')
    points = [f"{LEFT + (k + 0.5) * step:.1f},{_y(v, top_pct):.1f}"
              for k, v in enumerate(loading_pct) if v is not None and math.isfinite(v)]
    if points:
        parts.append(f'<polyline class="loading" points="{" ".join(points)}"/>')
    for k, v in enumerate(loading_pct):
        if v is not None and math.isfinite(v):
            parts.append(f'<circle class="loading-pt" cx="{LEFT + (k + 0.5) * step:.1f}" '
                         f'cy="{_y(v, top_pct):.1f}" r="2"><title>{labels[k]}: '
                         f'{v:.0f} % forecast loading</title></circle>')
    parts += [f'<text x="{LEFT - 3}" y="{TOP + 8}" class="ax" text-anchor="end">'
              f'{top_pct:.0f}%</text>',
              f'<text x="{LEFT - 3}" y="{y_lim + 4:.1f}" class="ax lim" text-anchor="end">'
              f'{max_loading_pct:.0f}%</text>',
              f'<text x="{WIDTH - RIGHT + 3}" y="{TOP + 8}" class="ax rel">{top_kw:.0f} kW'
              '</text>']
    if n:
        parts.append(f'<text x="{LEFT}" y="{HEIGHT - 4}" class="ax">{labels[0]}</text>'
                     f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 4}" class="ax" '
                     f'text-anchor="end">{labels[-1]}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
