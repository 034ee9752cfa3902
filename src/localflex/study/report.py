"""The study report: one self-contained HTML page with interactive plots (plotly) and tables.

Plots: the distribution of each headline KPI per design (box plots over the (seed, day)
observations), the DSO's cost against the residual overload per design (means with their
95 % intervals, and every day as a faint point), and the year by month (monthly mean DSO
cost and residual overload per design). Tables: ``kpi_statistics`` and the significant
``paired_differences``. The page embeds plotly.js once, so it opens offline.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from localflex.safe_io import atomic_path

__all__ = ["HEADLINE_KPIS", "study_report_html", "write_report"]

HEADLINE_KPIS = ("dso_cost_eur", "residual_overload_kwh", "delivered_share", "id_grid_kwh",
                 "curtailed_kwh", "rebound_kwh")


def _fig_html(fig, first: bool) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=first)


def _label(frame: pd.DataFrame) -> pd.Series:
    """Design plus the swept parameters, so variants of one design stay apart."""
    params = sorted(c for c in frame.columns if c.startswith("param:"))
    label = frame["design"].astype(str)
    for col in params + (["grid"] if len(set(frame["grid"])) > 1 else []):
        label = label + " " + col.removeprefix("param:") + "=" + frame[col].astype(str)
    return label


def study_report_html(frame: pd.DataFrame, statistics: pd.DataFrame, paired: pd.DataFrame,
                      title: str) -> str:
    """The report page of a study (module docstring) as an HTML string."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    frame = frame.assign(variant=_label(frame))
    variants = list(dict.fromkeys(frame["variant"]))
    palette = qualitative.Plotly + qualitative.D3
    color = {v: palette[i % len(palette)] for i, v in enumerate(variants)}
    parts: list[str] = []
    first = True
    for kpi in [k for k in HEADLINE_KPIS if k in frame.columns]:
        fig = go.Figure()
        for v in variants:
            fig.add_trace(go.Box(y=frame.loc[frame["variant"] == v, kpi], name=v,
                                 boxmean=True, marker_color=color[v]))
        fig.update_layout(title=f"{kpi} per study day", showlegend=False, height=420)
        parts.append(_fig_html(fig, first))
        first = False

    agg = frame.groupby("variant", sort=False).agg(
        cost=("dso_cost_eur", "mean"), over=("residual_overload_kwh", "mean"),
        cost_sd=("dso_cost_eur", "sem"), over_sd=("residual_overload_kwh", "sem"))
    fig = go.Figure()
    for v in variants:
        part = frame[frame["variant"] == v]
        fig.add_trace(go.Scatter(x=part["residual_overload_kwh"], y=part["dso_cost_eur"],
                                 mode="markers", name=f"{v} (days)", opacity=0.25,
                                 legendgroup=v, showlegend=False,
                                 marker={"color": color[v]}))
        fig.add_trace(go.Scatter(
            x=[agg.loc[v, "over"]], y=[agg.loc[v, "cost"]], mode="markers", name=v,
            legendgroup=v, marker={"size": 12, "color": color[v]},
            error_x={"type": "data", "array": [1.96 * agg.loc[v, "over_sd"]]},
            error_y={"type": "data", "array": [1.96 * agg.loc[v, "cost_sd"]]}))
    fig.update_layout(title="DSO cost vs residual overload (mean ± 95 % CI; days faint)",
                      xaxis_title="residual overload (kWh/day)",
                      yaxis_title="DSO cost (EUR/day)", height=520)
    parts.append(_fig_html(fig, first))

    monthly = frame.assign(month=pd.to_datetime(frame["day"]).dt.to_period("M").astype(str))
    monthly = monthly.groupby(["variant", "month"], sort=True)[
        ["dso_cost_eur", "residual_overload_kwh"]].mean().reset_index()
    for kpi in ("dso_cost_eur", "residual_overload_kwh"):
        fig = go.Figure()
        for v in variants:
            part = monthly[monthly["variant"] == v]
            fig.add_trace(go.Scatter(x=part["month"], y=part[kpi], mode="lines+markers",
                                     name=v, line={"color": color[v]}))
        fig.update_layout(title=f"the study period by month: mean {kpi} per day", height=420)
        fig.update_xaxes(type="category")
        parts.append(_fig_html(fig, first))

    head = statistics[statistics["kpi"].isin(HEADLINE_KPIS)]
    sig = paired[paired["significant"]] if len(paired) else paired
    body = "\n".join(f"<section>{p}</section>" for p in parts)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}
table{{border-collapse:collapse;font-size:12px}}td,th{{border:1px solid #ccc;padding:2px 6px}}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{len(frame)} study days in {frame['cell_id'].nunique()} cells;
{frame['seed'].nunique()} seeds; designs: {html.escape(', '.join(dict.fromkeys(frame['design'])))}.
Intervals are 95 % t-intervals over the (seed, day) observations; paired differences use
common random numbers (localflex.study.stats).</p>
{body}
<h2>Headline KPIs: mean and 95 % CI</h2>
{head.to_html(index=False, float_format=lambda x: f"{x:,.3f}")}
<h2>Paired differences whose 95 % CI excludes 0</h2>
{sig.to_html(index=False, float_format=lambda x: f"{x:,.3f}") if len(sig) else "<p>none</p>"}
</body></html>
"""


def write_report(frame: pd.DataFrame, statistics: pd.DataFrame, paired: pd.DataFrame,
                 path: Path, title: str) -> None:
    """Write ``study_report_html`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(study_report_html(frame, statistics, paired, title), encoding="utf-8")
