"""``localflex plan``: flexibility versus reinforcement versus curtailment for a scenario's grid.

Paper §5.3 (FLECH, FlexMart ref. [56]) and §5.1 (remuneration): reads a scenario file (the
schema of ``localflex run``; its grid code, load/generation scales and market day are used),
forecasts the overload of every congestion point over ``--years`` planning years under load
and DER growth (``localflex.planning.economics_forecast``), prices flexibility,
reinforcement and curtailment per asset and year (``localflex.planning.dso_economics``),
prints the answer with its numbers, and writes a plot of the cumulative discounted cost of
each strategy. Planning parameters come from the options below, or from ``--costs FILE.yaml``
(keys of ``PlanningParameters``; options override the file). Bad options or files end with a
one-line error naming the field and exit code 2; nothing is written then.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from localflex.cli._app import app, console, user_errors
from localflex.cli.run import OverwriteOption

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from localflex.planning.dso_economics import NetworkPlan

_PLOT_SUFFIXES = (".png", ".svg", ".pdf")
_LABELS = {
    "reinforce": "reinforce when overloaded",
    "flex_only": "flexibility only",
    "curtail": "curtail RES",
    "flex_first": "flexibility first, then reinforce",
    "cheapest_mix": "cheapest mix",
}
_STYLES = {  # drawn widest first, so lines that coincide stay visible
    "reinforce": ("-", "s", 4.0),
    "flex_only": ("-", "^", 2.5),
    "curtail": ("-", "v", 2.5),
    "flex_first": ("--", "o", 2.0),
    "cheapest_mix": (":", ".", 2.0),
}


def _eur(value: float) -> str:
    return f"{value:,.0f}" if value == value and abs(value) != float("inf") else "infeasible"


def plan_figure(plan: NetworkPlan) -> Figure:
    """Cumulative discounted cost per strategy over the planning years (object API)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.add_subplot()
    yearly = plan.yearly
    for strategy, group in yearly.groupby("strategy", sort=False):
        line, marker, width = _STYLES.get(str(strategy), ("-", "o", 2.0))
        ax.plot(group["year"].to_numpy() + 1, group["cumulative_discounted_eur"].to_numpy(),
                linestyle=line, marker=marker, markersize=4, linewidth=width, alpha=0.85,
                label=_LABELS.get(str(strategy), strategy))
    ax.set_xlabel("planning year")
    ax.set_ylabel("cumulative discounted cost (EUR)")
    ax.set_title(f"{plan.forecast.grid_code}: flexibility vs reinforcement vs curtailment")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def _plan_of(plan: NetworkPlan, cp_id: str, reinforce_year: int, first_year: int) -> str:
    mix = plan.decisions[(plan.decisions["strategy"] == "cheapest_mix")
                         & (plan.decisions["cp_id"] == cp_id)]
    ops = " + ".join(sorted(set(mix["decision"]) & {"flex", "curtail"}))
    if reinforce_year >= plan.forecast.years:
        return f"{ops or 'nothing'}, all {plan.forecast.years} years"
    if not ops:
        return f"reinforce in year {reinforce_year + 1}"
    return f"{ops} years {first_year + 1}–{reinforce_year}, reinforce in year {reinforce_year + 1}"


def _asset_tables(plan: NetworkPlan) -> tuple[Table, Table]:
    f = plan.forecast
    cp_pos = {cp: i for i, cp in enumerate(f.cps["cp_id"])}
    assets = Table(title="congestion points that overload within the horizon")
    for col in ("asset", "kVA now → new", "capex EUR", "overload MWh/yr", "peak kW over"):
        assets.add_column(col, justify="left" if col == "asset" else "right",
                          no_wrap=col == "asset")
    options = Table(title="option cost in the first overloaded year (EUR/yr) and cheapest plan")
    for col in ("asset", "flexibility", "curtail", "reinforce", "cheapest plan"):
        options.add_column(col, justify="left" if col in ("asset", "cheapest plan") else "right",
                           no_wrap=col == "asset")
    dec = plan.decisions[plan.decisions["strategy"] == "cheapest_mix"].set_index(
        ["cp_id", "year"])
    for row in plan.assets.itertuples(index=False):
        i, first = cp_pos[row.cp_id], int(row.first_overload_year)
        units = f"{row.units}×" if row.units > 1 else ""
        assets.add_row(
            row.cp_id, f"{row.rated_kva:,.0f} → {units}{row.new_unit_kva:,.0f}",
            f"{row.capex_eur:,.0f}",
            f"{f.overload_mwh[first, i]:,.1f} (y{first + 1}) → {f.overload_mwh[-1, i]:,.1f}",
            f"{f.peak_overload_kw[:, i].max():,.0f}",
        )
        d = dec.loc[(row.cp_id, first)]
        options.add_row(row.cp_id, _eur(d["flex_cost_eur"]), _eur(d["curtail_cost_eur"]),
                        _eur(d["reinforce_annual_eur"]),
                        _plan_of(plan, row.cp_id, int(row.reinforce_year_cheapest_mix), first))
    return assets, options


def _strategy_table(plan: NetworkPlan) -> Table:
    table = Table(title=f"discounted cost over {plan.forecast.years} years (EUR, year-1 money)")
    for col in ("strategy", "total", "reinforce", "flexibility", "curtail", "reinforced"):
        table.add_column(col, justify="left" if col == "strategy" else "right",
                         no_wrap=col == "strategy")
    for row in plan.strategies.itertuples(index=False):
        mark = " ◀" if row.strategy == plan.recommended else ""
        table.add_row(row.strategy + mark, _eur(row.total_pv_eur),
                      _eur(row.capex_pv_eur + row.grid_opex_pv_eur), _eur(row.flex_pv_eur),
                      _eur(row.curtail_pv_eur), str(row.assets_reinforced))
    return table


def _regime_table(plan: NetworkPlan) -> Table:
    table = Table(title="DSO profit per remuneration regime (EUR, discounted; * = DSO's pick)")
    regimes = list(dict.fromkeys(plan.regimes["regime"]))
    table.add_column("strategy", no_wrap=True)
    table.add_column("total cost", justify="right")
    for name in regimes:
        table.add_column(name, justify="right")
    cost = plan.strategies.set_index("strategy")["total_pv_eur"]
    by = plan.regimes.set_index(["strategy", "regime"])
    for strategy in dict.fromkeys(plan.regimes["strategy"]):
        cells = []
        for name in regimes:
            row = by.loc[(strategy, name)]
            cells.append(_eur(row["profit_pv_eur"]) + (" *" if row["preferred"] else "  "))
        table.add_row(strategy, _eur(cost[strategy]), *cells)
    return table


def _answer(plan: NetworkPlan) -> list[str]:
    s = plan.strategies.set_index("strategy")["total_pv_eur"]
    lines = []
    if plan.assets.empty:
        return ["No congestion point overloads within the horizon: nothing to buy or build."]
    rec = plan.recommended.value
    lines.append(
        f"[bold]Answer:[/] {_LABELS[rec]} — {_eur(s[rec])} EUR discounted over "
        f"{plan.forecast.years} years (reinforce when overloaded {_eur(s['reinforce'])}, "
        f"flexibility only {_eur(s['flex_only'])}, flexibility first "
        f"{_eur(s['flex_first'])}, curtail {_eur(s['curtail'])}).")
    assets = plan.assets
    deferred = assets[assets["deferral_years"] > 0]
    if deferred.empty:
        lines.append("Flexibility defers no reinforcement: reinforcing as soon as an asset "
                     "overloads is cheaper than buying flexibility first.")
    else:
        parts = []
        for row in deferred.itertuples(index=False):
            beyond = "≥" if row.deferred_beyond_horizon else ""
            n = int(row.deferral_years)
            parts.append(f"{row.cp_id} by {beyond}{n} year{'s' if n != 1 else ''}")
        lines.append("Flexibility defers reinforcement of " + ", ".join(parts)
                     + f"; deferral value {_eur(plan.deferral_value_eur)} EUR.")
    return lines


@app.command()
def plan(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file (as for `localflex run`)")],
    years: Annotated[int, typer.Option("--years", help="planning horizon in years (1..50)")] = 10,
    load_growth: Annotated[float | None, typer.Option(
        "--load-growth", help="yearly load growth, 0.01 = 1 %/yr [default 0.01]")] = None,
    der_growth: Annotated[float | None, typer.Option(
        "--der-growth", help="yearly generation/storage growth [default 0.03]")] = None,
    wacc: Annotated[float | None, typer.Option(
        "--wacc", help="discount rate / cost of capital [default 0.05]")] = None,
    flex_reservation: Annotated[float | None, typer.Option(
        "--flex-reservation", help="EUR per kW and year of reserved flexibility [default 15]",
    )] = None,
    flex_activation: Annotated[float | None, typer.Option(
        "--flex-activation", help="EUR per MWh of activated flexibility [default 150]")] = None,
    curtailment_price: Annotated[float | None, typer.Option(
        "--curtailment-price", help="EUR per MWh of curtailed RES [default 100]")] = None,
    costs: Annotated[Path | None, typer.Option(
        "--costs", help="YAML file with PlanningParameters (cost table, WACC, regimes, ...)",
    )] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="plot file (.png, .svg or .pdf) to write; no plot without it")] = None,
    overwrite: OverwriteOption = False,
) -> None:
    """Flexibility vs reinforcement vs curtailment over N years for a scenario's grid."""
    from localflex.domain.errors import InputError
    from localflex.grid import load_simbench_grid
    from localflex.planning.dso_economics import load_planning_parameters, plan_network
    from localflex.planning.economics_forecast import forecast_overloads
    from localflex.safe_io import check_output_file, save_figure
    from localflex.sim.scenario import load_scenario

    with user_errors():
        if not 1 <= years <= 50:
            raise InputError("years", years, "a planning horizon of 1..50 years")
        if out is not None:
            if out.suffix.lower() not in _PLOT_SUFFIXES:
                raise InputError("--out", str(out), f"a plot file ending in {_PLOT_SUFFIXES}")
            check_output_file(out, overwrite=overwrite)
        params = load_planning_parameters(
            costs, load_growth_per_year=load_growth, der_growth_per_year=der_growth, wacc=wacc,
            flex_reservation_eur_per_kw_year=flex_reservation,
            flex_activation_eur_per_mwh=flex_activation,
            curtailment_eur_per_mwh=curtailment_price,
        )
        spec = load_scenario(scenario)
        with console.status(f"forecasting {years} years on {spec.grid.simbench_code}"):
            grid = load_simbench_grid(spec.grid.simbench_code)
            forecast = forecast_overloads(
                grid, years,
                load_growth_per_year=params.load_growth_per_year,
                der_growth_per_year=params.der_growth_per_year,
                load_scale=spec.grid.load_scale, sgen_scale=spec.grid.sgen_scale,
                design_day=spec.time.day, engine=spec.grid.power_flow_engine,
            )
            result = plan_network(forecast, params)
        written = (save_figure(plan_figure(result), out, overwrite=overwrite,
                               bbox_inches="tight") if out is not None else None)

    check = forecast.base_check
    console.print(
        f"[bold]{spec.grid.simbench_code}[/] over {years} years: load "
        f"{params.load_growth_per_year:+.1%}/yr, DER {params.der_growth_per_year:+.1%}/yr, "
        f"WACC {params.wacc:.1%}; flexibility {params.flex_reservation_eur_per_kw_year:g} "
        f"EUR/kW/yr + {params.flex_activation_eur_per_mwh:g} EUR/MWh, curtailment "
        f"{params.curtailment_eur_per_mwh:g} EUR/MWh")
    n_rep = int((forecast.representative_days["weight"] > 0).sum())
    rep_mwh, full_mwh = check["representative_overload_mwh"], check["full_year_overload_mwh"]
    console.print(f"{n_rep} representative days per year; year-1 overload {rep_mwh:,.1f} MWh "
                  f"(full 2016 year: {full_mwh:,.1f} MWh)")
    if forecast.design_day_max_loading_pct is not None:
        d = forecast.design_day_max_loading_pct
        console.print(f"scenario day {spec.time.day}: worst loading {d[0]:.0f} % in year 1, "
                      f"{d[-1]:.0f} % in year {years}")
    if not result.assets.empty:
        for table in _asset_tables(result):
            console.print(table)
    console.print(_strategy_table(result))
    for line in _answer(result):
        console.print(line)
    if not result.assets.empty:
        console.print(_regime_table(result))
        picks = ", ".join(f"{k} → {v}" for k, v in result.preferred_by_regime().items())
        console.print(f"The DSO picks: {picks}.")
    console.print(f"plot: {written}" if written else "no plot written (add --out FILE.png)")
