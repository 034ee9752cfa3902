"""``localflex compare``: run every market design on one scenario and compare their KPIs.

Paper §7: "quantitative research on the value gained by using one type of coordination or
another is not available". This command runs the designs of ``localflex.market.designs``
(§6.2 Table 2: no / conditional / sequential coupling; §6.1 ref. [65]: the five TSO–DSO
schemes) on the same grid, forecast, offers, BRP and TSO requests, prints one table of KPIs
per design and writes ``designs.csv``, ``designs.json``, ``design_trades.csv`` and
``designs.png`` to ``--out`` (default ``runs/<scenario>-designs``). Files are written to a
temporary folder first and moved in place at the end: nothing half-written.

The scenario is built exactly as ``localflex run`` builds its market day up to the offers
(grid, DER placement, baselines, forecast power flow, sensitivities, the aggregators' offers
with the scenario's seed); the DSO's contracted resources for direct control are the full
flexibility envelope of the placed DERs per bus.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from rich import box
from rich.table import Table

from localflex.cli._app import app, console, user_errors
from localflex.cli.run import OverwriteOption, with_seed
from localflex.safe_io import write_output_dir

__all__ = ["design_input_for_scenario", "with_equal_aggregators", "write_comparison"]



def _cents(cents: int) -> str:
    """Integer cents as EUR with two decimals, exactly (no float on the way)."""
    sign, c = ("-" if cents < 0 else ""), abs(int(cents))
    return f"{sign}{c // 100:,}.{c % 100:02d}"


_MONEY = (
    ("DSO", "dso_cost_cents", _cents),
    ("TSO", "tso_cost_cents", _cents),
    ("BRP", "brp_cost_cents", _cents),
    ("IMO", "operator_surplus_cents", _cents),
    ("welfare", "welfare_eur", "{:,.1f}"),
)
_WELFARE = (
    ("DSO val", "dso_value_eur", "{:,.0f}"),
    ("buy val", "buyer_value_eur", "{:,.2f}"),
    ("cost", "seller_cost_eur", "{:,.2f}"),
    ("profit", "seller_profit_eur", "{:,.2f}"),
    ("welfare", "welfare_eur", "{:,.1f}"),
)
_PRICES = (
    ("p grid", "price_grid_eur_per_mwh", "{:,.1f}"),
    ("p sys", "price_system_eur_per_mwh", "{:,.1f}"),
    ("p mkt", "price_market_eur_per_mwh", "{:,.1f}"),
    ("sellers", "sellers_total", "{}"),
    ("HHI", "hhi_sales", "{:,.0f}"),
    ("HHI cp", "hhi_max", "{:,.0f}"),
)
_GRID = (
    ("resid", "residual_overload_kwh", "{:,.1f}"),
    ("worst%", "worst_loading_pct", "{:.1f}"),
    ("ctrl", "control_kwh", "{:,.1f}"),
    ("curt", "curtailed_kwh", "{:,.1f}"),
    ("BRP%", "brp_served_share", "{:.0%}"),
    ("TSO%", "tso_served_share", "{:.0%}"),
)
_LIGHTS = (
    ("green", "hours_green", "{:g}"),
    ("yellow", "hours_yellow", "{:g}"),
    ("orange", "hours_orange", "{:g}"),
    ("red", "hours_red", "{:g}"),
    ("sellers", "sellers_min", "{}"),
    ("HHI", "hhi_max", "{:,.0f}"),
)


def design_input_for_scenario(scenario, params=None):
    """The ``DesignInput`` of a validated ``Scenario`` (``sim.setup.design_input_from_setup``)."""
    from localflex.sim.setup import design_input_from_setup, prepare_market

    return design_input_from_setup(prepare_market(scenario), params)


def with_equal_aggregators(spec, n: int):
    """``sim.scenario.with_equal_aggregators`` with errors naming ``--aggregators``."""
    from localflex.sim.scenario import with_equal_aggregators as pooled

    return pooled(spec, n, field="--aggregators")


def _load_params(path: Path, spec):
    """Design parameters from YAML; the scenario's price cap applies unless given."""
    import yaml

    from localflex.domain import InputError
    from localflex.market.designs import design_params_from_mapping

    if not path.is_file():
        raise InputError("--params", str(path), "an existing YAML file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError("--params", str(path), f"valid YAML ({exc})") from None
    if isinstance(data, dict) and "dso_price_cap_eur_per_mwh" not in data:
        data = {**data, "dso_price_cap_eur_per_mwh": spec.market.price_cap_eur_per_mwh}
    return design_params_from_mapping(data, source=str(path))


def _flat(kpis: dict) -> dict:
    return {k: v for k, v in kpis.items() if k != "liquidity"}


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _plot(frame: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (("dso_cost_eur", "DSO cost (EUR)"), ("residual_overload_kwh",
              "residual overload (kWh)"), ("welfare_eur", "welfare (EUR)"),
              ("curtailed_kwh", "curtailed (kWh)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.6), sharey=True)
    y = np.arange(len(frame))
    for ax, (col, title) in zip(axes, panels, strict=True):
        ax.barh(y, frame[col].fillna(0.0).to_numpy(), color="#3b7dd8")
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, frame["design"].tolist(), fontsize=8)
    axes[0].invert_yaxis()
    fig.suptitle("market designs on the same scenario (paper §6)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_comparison(results, out: Path, meta: dict, overwrite: bool = False) -> list[Path]:
    """Write designs.csv / .json, design_trades.csv and designs.png atomically into ``out``
    (a new folder, or an earlier localflex output with ``overwrite``: localflex.safe_io)."""
    frame = pd.DataFrame([_flat(r.kpis) for r in results])
    doc = {"meta": meta, "designs": [{**r.kpis, "details": r.details} for r in results]}
    trades = pd.concat([r.trades.assign(design=r.design) for r in results], ignore_index=True)

    def write(tmp: Path) -> None:
        frame.to_csv(tmp / "designs.csv", index=False)
        (tmp / "designs.json").write_text(json.dumps(_jsonable(doc), indent=2), encoding="utf-8")
        trades.to_csv(tmp / "design_trades.csv", index=False)
        _plot(frame, tmp / "designs.png")

    out = write_output_dir(out, write, overwrite=overwrite, command="compare")
    return [out / name for name in ("designs.csv", "designs.json", "design_trades.csv",
                                    "designs.png")]


def _table(results, title: str, columns) -> Table:
    table = Table(title=title, show_header=True, title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    table.add_column("design", no_wrap=True)
    for header, _key, _fmt in columns:
        table.add_column(header, justify="right", no_wrap=True)
    for r in results:
        k = r.kpis
        cells = [r.design]
        for _header, key, fmt in columns:
            if isinstance(k[key], float) and not math.isfinite(k[key]):
                cells.append("-")
            else:
                cells.append(fmt(k[key]) if callable(fmt) else fmt.format(k[key]))
        table.add_row(*cells)
    return table


def _pricing_table(results) -> Table:
    """Each design's stages, in execution order, with the pricing rule each states."""
    from localflex.market.designs.ledger import PRICING_RULES

    table = Table(title="pricing rule of each stage (" + "; ".join(
        f"{k}: {v}" for k, v in PRICING_RULES.items()) + ")", title_justify="left",
        box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("design", no_wrap=True)
    table.add_column("stage=rule, in execution order")
    for r in results:
        table.add_row(r.design, r.kpis["pricing"] or "-")
    return table


@app.command()
def compare(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file")],
    designs: Annotated[str, typer.Option("--designs", help="'all' or comma-separated names")]
    = "all",
    out: Annotated[Path | None, typer.Option("--out", help="output folder")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="override the scenario's seed")]
    = None,
    params: Annotated[Path | None, typer.Option(
        "--params", help="YAML of design parameters (examples/designs.yaml)")] = None,
    gamer: Annotated[str | None, typer.Option(
        "--gamer", help="also play the inc-dec game (paper §6.1) with this aggregator, "
                        "without and with each mitigation")] = None,
    overwrite: OverwriteOption = False,
    aggregators: Annotated[int | None, typer.Option(
        "--aggregators", help="pool the DERs into N equal aggregators agg1..aggN instead of "
                              "the scenario's (market concentration)")] = None,
    strategy: Annotated[str | None, typer.Option(
        "--strategy", help="bidding: 'cost', 'markup:X' (ask = cost x (1+X)), 'learn' or "
                           "'best-response[:ROUNDS]' (default: the scenario's asks)")] = None,
    respond_to: Annotated[str, typer.Option(
        "--respond-to", help="the design the learning / best-responding aggregators play "
                             "against")] = "sequential_dso_first",
    days: Annotated[int, typer.Option(
        "--days", min=1, max=365, help="'learn': times the day is repeated")] = 20,
) -> None:
    """Run every market design (paper §6) on one scenario and compare their KPIs."""
    from localflex.aggregator.strategies import parse_strategy
    from localflex.domain import InputError
    from localflex.market.designs import (
        DESIGNS,
        MITIGATIONS,
        inc_dec_game,
        resolve_designs,
        run_designs,
    )
    from localflex.market.designs.strategic import play_on_day
    from localflex.safe_io import check_output_dir
    from localflex.sim.scenario import load_scenario

    with user_errors():
        try:
            names = resolve_designs(designs)
            spec = load_scenario(scenario)
            design_params = _load_params(params, spec) if params is not None else None
            spec = with_seed(spec, seed)
            out_dir = check_output_dir(out or Path("runs") / f"{spec.name}-designs",
                                       overwrite=overwrite)
            if aggregators is not None:
                spec = with_equal_aggregators(spec, aggregators)
            chosen = parse_strategy(strategy, seed=spec.seed) if strategy is not None else None
            if respond_to not in DESIGNS:
                raise InputError("--respond-to", respond_to, f"one of {', '.join(DESIGNS)}")
            responder = DESIGNS[respond_to]
            with console.status("building the scenario (forecast, sensitivities, offers)"):
                inp = design_input_for_scenario(spec, design_params)
            markups = None
            if chosen is not None:
                with console.status(f"aggregators bid: {strategy}"):
                    inp, _state, history = play_on_day(inp, chosen, responder, days=days)
                    markups = history[-1]
            with console.status(f"running {len(names)} designs"):
                results = run_designs(inp, names)
                if gamer is not None:
                    results += [inc_dec_game(inp, gamer, mitigation=m) for m in MITIGATIONS]
            meta = {"scenario": spec.name, "grid": spec.grid.simbench_code, "seed": spec.seed,
                    "day": str(spec.time.day), "offers": len(inp.offers),
                    "brp_requests": len(inp.brp_requests), "tso_requests": len(inp.tso_requests),
                    "forecast_overload_kwh": float(inp.needs.overload_kw.sum() * inp.isp_hours),
                    "aggregators": sorted(set(inp.offers["aggregator_id"])),
                    "strategy": strategy or "scenario", "markups": markups}
            written = write_comparison(results, out_dir, meta, overwrite)
        except MemoryError:  # one line, never a traceback (README: designs on an area)
            raise InputError("scenario", str(scenario), "a scenario whose grid, offers and "
                             "designs fit in this machine's memory (ran out of memory)") from None
    console.print(f"[bold]market designs[/]: {spec.name} on {spec.grid.simbench_code}, "
                  f"forecast overload {meta['forecast_overload_kwh']:,.1f} kWh, "
                  f"{meta['offers']} offers, {meta['brp_requests']} market-use and "
                  f"{meta['tso_requests']} TSO requests")
    adaptive = meta["strategy"].startswith(("learn", "best-response"))
    console.print(f"{len(meta['aggregators'])} sellers; bidding: {meta['strategy']}"
                  + (f" (markups {', '.join(f'{a} {m:g}' for a, m in markups.items())}"
                     + (f", chosen against {respond_to}" if adaptive else "") + ")"
                     if markups else ""))
    console.print(_table(results, "money (EUR, as booked in whole cents): what each party "
                                  "pays; IMO = the operator's surplus", _MONEY))
    console.print(_table(results, "welfare (EUR) = DSO value of avoided overload + BRP/TSO "
                                  "bid value - sellers' true cost; sellers' profit",
                         _WELFARE))
    console.print(_table(results, "mean price received (EUR/MWh) per use; sellers and HHI "
                                  "of market sales (HHI cp: max at a congested point)",
                         _PRICES))
    console.print(_table(results, "grid after every trade (power flow): residual overload, "
                                  "control, curtailment (kWh); requests served", _GRID))
    console.print(_table(results, "hours per traffic-light colour after the trades; sellers "
                                  "(min) and HHI (max) at the congested points", _LIGHTS))
    console.print(_pricing_table(results))
    console.print(f"written: {', '.join(str(p) for p in written)}")
