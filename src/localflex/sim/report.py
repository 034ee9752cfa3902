"""The HTML report of a market day: KPIs and the plots a DSO analyst looks at first.

Plots (inline SVG drawn from the arrays by ``localflex.sim.svg_chart``, no plotting library):
loading before/after per congestion point over the day, the voltage band, activations per
aggregator and DER type, and the merit order the DSO cleared (paper §5.3).
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

from localflex.sim.engine import DayResult
from localflex.sim.svg_chart import PALETTE, Chart, svg_document

__all__ = ["render_report", "report_plots"]

_BEFORE = "#c0392b"
_AFTER = "#1f6fb2"


def _hours(day: DayResult) -> np.ndarray:
    return np.arange(day.time_grid.n_isps) * day.time_grid.isp_hours


def _finite_range(values: np.ndarray) -> tuple[float, float]:
    """(min, max) of the finite values; (0, 1) when there are none."""
    finite = values[np.isfinite(values)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)


def loading_figure(day: DayResult, max_points: int = 6) -> list[Chart]:
    """One panel per congestion point, the most overloaded first (at most ``max_points``)."""
    cps = day.congestion_points
    before, after = day.before.cp_loading_pct, day.after.cp_loading_pct
    limit = cps["max_loading_pct"].to_numpy()
    over = (before - limit[None, :]).max(axis=0)
    order = np.argsort(-over)[: max(1, min(max_points, int((over > 0).sum())))]
    x = _hours(day)
    charts = []
    for i, c in enumerate(order):
        values = np.concatenate([before[:, c], after[:, c], [limit[c]]])
        chart = Chart((x[0], x[-1] if x.size > 1 else 1.0), _finite_range(values),
                      height=200, title=f"{cps['cp_id'].iloc[c]}  {cps['name'].iloc[c]}",
                      y_label="loading %",
                      x_label=(f"hours from {day.time_grid.start:%Y-%m-%d %H:%M} UTC"
                               if i == len(order) - 1 else ""))
        first = i == 0
        chart.line(x, before[:, c], color=_BEFORE, width=1.2,
                   label="forecast (before)" if first else None)
        chart.line(x, after[:, c], color=_AFTER, width=1.6,
                   label="after re-dispatch" if first else None)
        chart.hline(float(limit[c]), label="limit" if first else None)
        charts.append(chart)
    return charts


def voltage_figure(day: DayResult) -> list[Chart]:
    """Range of bus voltages over the day, before and after, against the tightest band."""
    x = _hours(day)
    limits = day.voltage_limits
    vm_min, vm_max = float(limits["vm_min_pu"].max()), float(limits["vm_max_pu"].min())
    # fmin/fmax skip buses without a voltage (NaN: out of service) without a warning
    bands = [(np.fmin.reduce(r.bus_vm_pu, axis=1), np.fmax.reduce(r.bus_vm_pu, axis=1))
             for r in (day.before, day.after)]
    values = np.concatenate([*bands[0], *bands[1], [vm_min, vm_max]])
    chart = Chart((x[0], x[-1] if x.size > 1 else 1.0), _finite_range(values),
                  height=260, x_label="hours", y_label="voltage p.u.")
    for (lo, hi), color, label in zip(bands, (_BEFORE, _AFTER), ("before", "after"),
                                      strict=True):
        chart.band(x, lo, hi, color=color, opacity=0.25, label=f"range over buses, {label}")
    chart.hline(vm_min, label="tightest band")
    chart.hline(vm_max)
    return [chart]


def activation_figure(day: DayResult) -> list[Chart]:
    """Activated energy per aggregator, stacked by DER type (up > 0, down < 0)."""
    awards = day.awards
    if awards.empty:
        chart = Chart((0, 1), (0, 1), height=120)
        chart.text(0.5, 0.5, "no activations")
        return [chart]
    h = day.time_grid.isp_hours
    signed = np.where(awards["direction"] == "up", 1.0, -1.0) * awards["power_kw"] * h
    table = (awards.assign(energy_kwh=signed)
             .pivot_table(index="aggregator_id", columns="der_type", values="energy_kwh",
                          aggfunc="sum", fill_value=0.0))
    values = table.to_numpy()
    pos_total = np.clip(values, 0, None).sum(axis=1)
    neg_total = np.clip(values, None, 0).sum(axis=1)
    chart = Chart((-0.5, len(table) - 0.5), (min(neg_total.min(), 0.0), max(pos_total.max(), 0.0)),
                  width=700, height=260, y_label="activated energy kWh (up > 0, down < 0)")
    chart.x_categories(range(len(table)), [str(a) for a in table.index])
    centres = np.arange(len(table), dtype=float)
    bottom_pos = np.zeros(len(table))
    bottom_neg = np.zeros(len(table))
    for k, der_type in enumerate(table.columns):
        column = values[:, k]
        pos, neg = np.clip(column, 0, None), np.clip(column, None, 0)
        color = PALETTE[k % len(PALETTE)]
        chart.rects(np.concatenate([centres - 0.4] * 2), np.concatenate([centres + 0.4] * 2),
                    np.concatenate([bottom_pos, bottom_neg]),
                    np.concatenate([bottom_pos + pos, bottom_neg + neg]),
                    color=color, label=str(der_type))
        bottom_pos += pos
        bottom_neg += neg
    chart.hline(0.0, dash="")
    return [chart]


def merit_order_figure(day: DayResult) -> list[Chart]:
    """Offers that could relieve a need, by price, their width their volume (blue: accepted)."""
    merit = day.merit_order
    if merit.empty or "accepted_kw" not in merit:
        chart = Chart((0, 1), (0, 1), height=120)
        chart.text(0.5, 0.5, "no offers cleared")
        return [chart]
    if "status" in merit:  # offers that could relieve a need; the rest are not in the race
        merit = merit[merit["status"].isin(["accepted", "not needed"])]
    if merit.empty:
        chart = Chart((0, 1), (0, 1), height=120)
        chart.text(0.5, 0.5, "no need, no offer in the race")
        return [chart]
    merit = merit.sort_values("price_eur_per_mwh", kind="stable")
    width = merit["max_power_kw"].to_numpy()
    price = merit["price_eur_per_mwh"].to_numpy()
    cum = np.cumsum(width)
    left = cum - width
    accepted = merit["accepted_kw"].to_numpy() > 1e-6
    chart = Chart((0.0, float(cum[-1]) if cum.size else 1.0),
                  (min(price.min(), 0.0) if price.size else 0.0,
                   price.max() if price.size else 1.0),
                  width=700, height=260, title="merit order of round 1 (blue: accepted)",
                  x_label="volume offered where it relieves a need, all ISPs, by price (kW)",
                  y_label="price EUR/MWh")
    zero = np.zeros(len(price))
    for mask, color, label in ((~accepted, "#bbbbbb", "not accepted"),
                               (accepted, _AFTER, "accepted")):
        chart.rects(left[mask], cum[mask], zero[mask], price[mask], color=color, label=label)
    return [chart]


def _table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p><em>none</em></p>"
    return frame.to_html(index=False, border=0, classes="t", float_format=lambda v: f"{v:,.2f}")


def days_figure(kpis: dict[str, Any]) -> list[Chart]:
    """A run of several days: overload energy before and after the market, day by day."""
    days = kpis["days"]
    x = np.arange(len(days), dtype=float)
    before = np.array([d["overload_energy_before_kwh"] for d in days], dtype=float)
    after = np.array([d["overload_energy_after_kwh"] for d in days], dtype=float)
    chart = Chart((0.0, max(x[-1], 1.0)), (0.0, max(float(before.max()), float(after.max()),
                                                      1.0)),
                  height=240, y_label="overload energy kWh",
                  x_label=f"days from {days[0]['day']}")
    chart.line(x, before, color=_BEFORE, width=1.2, label="forecast (before)")
    chart.line(x, after, color=_AFTER, width=1.6, label="after re-dispatch")
    return [chart]


def report_plots(day: DayResult) -> str:
    """The report's charts of ``day`` as HTML (inline SVG)."""
    figures = [
        ("Loading per congestion point", loading_figure(day)),
        ("Voltage band", voltage_figure(day)),
        ("Activations per aggregator and DER type", activation_figure(day)),
        ("Merit order cleared by the DSO", merit_order_figure(day)),
    ]
    return "".join(
        f"<h2>{html.escape(title)}</h2>{svg_document(charts, f'p{i}_')}"
        for i, (title, charts) in enumerate(figures)
    )


def render_report(day: DayResult | None, kpis: dict[str, Any], note: str = "",
                  plots: str | None = None) -> str:
    """The whole report as one self-contained HTML page (plots as inline SVG: ``plots``, or
    drawn from ``day``); ``note`` (a run of several days: which day the charts show) stands
    above the charts."""
    if plots is None:
        if day is None:
            raise ValueError("render_report needs a day or its plots")
        plots = report_plots(day)
    headline = [
        ("grid", kpis["grid"]),
        ("start (UTC)", kpis["start_utc"]),
        ("ISPs", f"{kpis['n_isps']} × {kpis['isp_minutes']} min"),
        ("overload energy before → after",
         f"{kpis['overload_energy_before_kwh']:,.1f} → "
         f"{kpis['overload_energy_after_kwh']:,.1f} kWh"),
        ("worst loading before → after",
         f"{kpis['worst_loading_before_pct']:.1f} % → {kpis['worst_loading_after_pct']:.1f} %"),
        ("DSO cost", f"{kpis['dso_cost_eur']:,.2f} EUR"),
        ("activated / delivered / rebound",
         f"{kpis['activated_energy_kwh']:,.1f} / {kpis['delivered_energy_kwh']:,.1f} / "
         f"{kpis['rebound_energy_kwh']:,.1f} kWh"),
        ("units / pooled / offers / awards",
         f"{kpis['n_units']} / {kpis['n_units_pooled']} / {kpis['n_offers']} / {kpis['n_awards']}"),
    ]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in headline)
    what = f"{len(kpis['days'])} market days" if kpis.get("days") else "market day"
    days = (f"<h2>The run day by day</h2>{svg_document(days_figure(kpis), 'pd_')}"
            if kpis.get("days") else "")
    unsolved = pd.DataFrame(kpis["unsolved"]).drop(columns=["isps"], errors="ignore")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>localflex — {html.escape(kpis['scenario'])}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table.k th {{ text-align: left; padding-right: 1.5em; font-weight: 600; }}
table.t {{ border-collapse: collapse; font-size: 0.9em; }}
table.t td, table.t th {{ padding: 2px 8px; border-bottom: 1px solid #ddd; }}
div.chart svg {{ display: block; max-width: 100%; height: auto; }}
</style></head><body>
<h1>localflex {what}: {html.escape(kpis['scenario'])}</h1>
<table class="k">{rows}</table>
<h2>Clearing rounds</h2>{_table(pd.DataFrame(kpis['rounds']))}
<h2>Congestion left unsolved</h2>{_table(unsolved)}
{days}{f"<p>{html.escape(note)}</p>" if note else ""}{plots}
</body></html>
"""
