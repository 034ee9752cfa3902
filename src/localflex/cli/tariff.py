"""``localflex tariff``: what each network tariff does to a scenario's grid day (paper §5.1).

Reads a scenario file (the schema of ``localflex run``; its grid, scales and days are used),
runs the grid's SimBench profiles for those days, lets the customers (the grid's load
elements) shift a flexible share of their load in response to each tariff
(``localflex.tariffs.response``), and prints peak load, transformer loading,
overload energy and the DSO's revenue before and after. Tariff levels are round example
figures (EUR/kWh unless stated): volumetric 0.08; capacity 5 EUR/kW of the horizon's peak;
time of use 0.05 off-peak / 0.20 from 17 to 21 h; critical peak 0.07 / 0.50 from 17 to 21 h
on every day of the horizon; real time 0.08 × the grid's forecast loading relative to its
daily mean; dynamic 0.10 energy + network 0.05 rising 0.004 per % of loading above 70 %
(a rebate when the loading is PV feed-in).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from localflex.cli._app import app, console, user_errors

TARIFF_NAMES = ("volumetric", "capacity", "time_of_use", "critical_peak", "real_time",
                "dynamic")


def _tariffs(day, names: list[str]) -> dict:
    import numpy as np

    from localflex.tariffs.network_tariffs import (
        CapacityTariff,
        CriticalPeakEvent,
        CriticalPeakTariff,
        RealTimeTariff,
        TimeOfUseTariff,
        VolumetricTariff,
    )
    from localflex.tariffs.response import dynamic_tariff_for

    tg = day.time_grid
    loading = day.max_loading_pct
    days = sorted(set(tg.isp_starts().date))
    builders = {
        "volumetric": lambda: VolumetricTariff(0.08),
        "capacity": lambda: CapacityTariff(5.0),
        "time_of_use": lambda: TimeOfUseTariff.two_band(0.05, 0.20, peak_hours=(17, 21)),
        "critical_peak": lambda: CriticalPeakTariff(
            0.07, 0.50, tuple(CriticalPeakEvent(d, 17, 21) for d in days)),
        "real_time": lambda: RealTimeTariff(0.08 * loading / max(float(np.mean(loading)), 1e-9)),
        "dynamic": lambda: dynamic_tariff_for(day, 0.10),
    }
    return {name: builders[name]() for name in names}


@app.command()
def tariff(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file (as for `localflex run`)")],
    name: Annotated[list[str] | None, typer.Option(
        "--tariff", help=f"tariff(s) to apply, of {', '.join(TARIFF_NAMES)} [default: all]",
    )] = None,
    elasticity: Annotated[float, typer.Option(
        "--elasticity", help="own-price elasticity of the flexible load (<= 0)")] = -0.3,
    flexible_share: Annotated[float, typer.Option(
        "--flexible-share", help="share of each customer's load that can shift in a day")] = 0.3,
) -> None:
    """Apply network tariffs to a scenario's grid day: peaks and congestion before/after."""
    from localflex.domain import InputError, TimeGrid
    from localflex.grid import load_simbench_grid
    from localflex.sim.scenario import load_scenario
    from localflex.tariffs.response import PriceResponse, grid_day, tariff_impact

    with user_errors():
        names = list(dict.fromkeys(name or TARIFF_NAMES))
        for n in names:
            if n not in TARIFF_NAMES:
                raise InputError("tariff", n, f"one of {', '.join(TARIFF_NAMES)}")
        response = PriceResponse(elasticity=elasticity, flexible_share=flexible_share)
        spec = load_scenario(scenario)
        tg = TimeGrid.for_day(spec.time.day, spec.time.isp_minutes, spec.time.days)
        with console.status(f"power flow on {spec.grid.simbench_code}"):
            day = grid_day(load_simbench_grid(spec.grid.simbench_code), tg,
                           load_scale=spec.grid.load_scale, sgen_scale=spec.grid.sgen_scale,
                           engine=spec.grid.power_flow_engine)
            impacts = {n: tariff_impact(day, t, response) for n, t in _tariffs(day,
                                                                               names).items()}

    table = Table(title=f"{spec.grid.simbench_code}, {spec.time.day} ({spec.time.days} day(s)): "
                        f"elasticity {elasticity:g}, flexible share {flexible_share:.0%}")
    for col in ("tariff", "peak load kW", "max trafo %", "overload kWh", "DSO revenue EUR"):
        table.add_column(col, justify="left" if col == "tariff" else "right",
                         no_wrap=col == "tariff")
    for n, imp in impacts.items():
        b, a = imp.before, imp.after
        table.add_row(
            n, f"{b['peak_load_kw']:,.1f} → {a['peak_load_kw']:,.1f}",
            f"{b['max_trafo_loading_pct']:.1f} → {a['max_trafo_loading_pct']:.1f}",
            f"{b['overload_energy_kwh']:,.1f} → {a['overload_energy_kwh']:,.1f}",
            f"{b['dso_revenue_eur']:,.2f} → {a['dso_revenue_eur']:,.2f}",
        )
    console.print(table)
    console.print("before → after the customers' response; energy per customer and day is "
                  "conserved (load shifting).")
