"""The HTML report of a market day: KPIs and the plots a DSO analyst looks at first.

Plots (matplotlib, object API only, so importing this module changes no global state):
loading before/after per congestion point over the day, the voltage band, activations per
aggregator and DER type, and the merit order the DSO cleared (paper §5.3).
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from localflex.sim.engine import DayResult

__all__ = ["render_report"]

_BEFORE = "#c0392b"
_AFTER = "#1f6fb2"


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _hours(day: DayResult) -> np.ndarray:
    return np.arange(day.time_grid.n_isps) * day.time_grid.isp_hours


def loading_figure(day: DayResult, max_points: int = 6) -> Figure:
    cps = day.congestion_points
    before, after = day.before.cp_loading_pct, day.after.cp_loading_pct
    limit = cps["max_loading_pct"].to_numpy()
    over = (before - limit[None, :]).max(axis=0)
    order = np.argsort(-over)[: max(1, min(max_points, int((over > 0).sum())))]
    n = len(order)
    fig = Figure(figsize=(10, 2.2 * n + 0.6))
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    x = _hours(day)
    for ax, c in zip(axes, order, strict=True):
        ax.plot(x, before[:, c], color=_BEFORE, lw=1.2, label="forecast (before)")
        ax.plot(x, after[:, c], color=_AFTER, lw=1.6, label="after re-dispatch")
        ax.axhline(limit[c], color="black", ls="--", lw=0.8, label="limit")
        ax.set_ylabel("loading %")
        ax.set_title(f"{cps['cp_id'].iloc[c]}  {cps['name'].iloc[c]}", fontsize=9, loc="left")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="upper left")
    axes[-1].set_xlabel(f"hours from {day.time_grid.start:%Y-%m-%d %H:%M} UTC")
    return fig


def voltage_figure(day: DayResult) -> Figure:
    fig = Figure(figsize=(10, 3.4))
    ax = fig.subplots()
    x = _hours(day)
    for result, color, label in ((day.before, _BEFORE, "before"), (day.after, _AFTER, "after")):
        vm = result.bus_vm_pu
        ax.fill_between(x, vm.min(axis=1), vm.max(axis=1), color=color, alpha=0.25,
                        label=f"range over buses, {label}")
    limits = day.voltage_limits
    ax.axhline(float(limits["vm_min_pu"].max()), color="black", ls="--", lw=0.8,
               label="tightest band")
    ax.axhline(float(limits["vm_max_pu"].min()), color="black", ls="--", lw=0.8)
    ax.set_ylabel("voltage p.u.")
    ax.set_xlabel("hours")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def activation_figure(day: DayResult) -> Figure:
    fig = Figure(figsize=(8, 3.4))
    ax = fig.subplots()
    awards = day.awards
    if awards.empty:
        ax.text(0.5, 0.5, "no activations", ha="center", va="center")
        return fig
    h = day.time_grid.isp_hours
    signed = np.where(awards["direction"] == "up", 1.0, -1.0) * awards["power_kw"] * h
    table = (awards.assign(energy_kwh=signed)
             .pivot_table(index="aggregator_id", columns="der_type", values="energy_kwh",
                          aggfunc="sum", fill_value=0.0))
    bottom_pos = np.zeros(len(table))
    bottom_neg = np.zeros(len(table))
    for der_type in table.columns:
        values = table[der_type].to_numpy()
        pos, neg = np.clip(values, 0, None), np.clip(values, None, 0)
        ax.bar(table.index, pos, bottom=bottom_pos, label=str(der_type))
        ax.bar(table.index, neg, bottom=bottom_neg, color=ax.patches[-1].get_facecolor())
        bottom_pos += pos
        bottom_neg += neg
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylabel("activated energy kWh (up > 0, down < 0)")
    ax.legend(fontsize=8, title="DER type")
    ax.grid(alpha=0.3, axis="y")
    return fig


def merit_order_figure(day: DayResult) -> Figure:
    fig = Figure(figsize=(8, 3.4))
    ax = fig.subplots()
    merit = day.merit_order
    if merit.empty or "accepted_kw" not in merit:
        ax.text(0.5, 0.5, "no offers cleared", ha="center", va="center")
        return fig
    if "status" in merit:  # offers that could relieve a need; the rest are not in the race
        merit = merit[merit["status"].isin(["accepted", "not needed"])]
    merit = merit.sort_values("price_eur_per_mwh", kind="stable")
    cum = np.cumsum(merit["max_power_kw"].to_numpy())
    accepted = merit["accepted_kw"].to_numpy() > 1e-6
    left = cum - merit["max_power_kw"].to_numpy()
    ax.bar(left, merit["price_eur_per_mwh"], width=merit["max_power_kw"], align="edge",
           color=np.where(accepted, _AFTER, "#bbbbbb"), edgecolor="none")
    ax.set_xlabel("volume offered where it relieves a need, all ISPs, by price (kW)")
    ax.set_ylabel("price EUR/MWh")
    ax.set_title("merit order of round 1 (blue: accepted)", fontsize=9, loc="left")
    ax.grid(alpha=0.3)
    return fig


def _table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p><em>none</em></p>"
    return frame.to_html(index=False, border=0, classes="t", float_format=lambda v: f"{v:,.2f}")


def render_report(day: DayResult, kpis: dict[str, Any]) -> str:
    """The whole report as one self-contained HTML page (plots embedded as PNG)."""
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
    figures = [
        ("Loading per congestion point", loading_figure(day)),
        ("Voltage band", voltage_figure(day)),
        ("Activations per aggregator and DER type", activation_figure(day)),
        ("Merit order cleared by the DSO", merit_order_figure(day)),
    ]
    plots = "".join(
        f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' "
        f"src='data:image/png;base64,{_png(fig)}'>"
        for title, fig in figures
    )
    unsolved = pd.DataFrame(kpis["unsolved"]).drop(columns=["isps"], errors="ignore")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>localflex — {html.escape(kpis['scenario'])}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table.k th {{ text-align: left; padding-right: 1.5em; font-weight: 600; }}
table.t {{ border-collapse: collapse; font-size: 0.9em; }}
table.t td, table.t th {{ padding: 2px 8px; border-bottom: 1px solid #ddd; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>localflex market day: {html.escape(kpis['scenario'])}</h1>
<table class="k">{rows}</table>
<h2>Clearing rounds</h2>{_table(pd.DataFrame(kpis['rounds']))}
<h2>Congestion left unsolved</h2>{_table(unsolved)}
{plots}
</body></html>
"""
