"""``localflex access``: how much of an aggregator's flexibility enters each market under a
country's rules, and how much more would under lower minimum bids or asymmetric bidding
(paper §4.1, Table 1; the §7 research step).

The portfolio (documented default): the DER fleets that ``examples/demo.yaml`` (or
``--scenario FILE``) places on its SimBench grid, restricted to the units that sign up with an
aggregator (the scenario's ``ders.participation`` and aggregator rules, drawn with the same seed
as the market day), pooled as one aggregator. Its flexibility envelope per ISP (UP/DOWN kW) and
the units' notification / response times and sustainable durations go into
``localflex.regulation.access.market_access``; PV, wind and CHP count as generation.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from localflex.cli._app import app, console, err_console, user_errors
from localflex.cli.run import DEMO_SCENARIO, OverwriteOption

WHAT_IF_LABELS = {
    "min_bid_100kw": "≤100 kW",
    "min_bid_10kw": "≤10 kW",
    "min_bid_1kw": "≤1 kW",
    "asymmetric": "asym.",
    "min_bid_1kw_asymmetric": "≤1 kW+asym.",
}


@lru_cache(maxsize=4)
def _portfolio(scenario_path: str) -> tuple[dict[str, np.ndarray], str]:
    """Units' flexibility and timing of the scenario's participating DERs (cached)."""
    from localflex.aggregator import GENERATION_DER_TYPES
    from localflex.sim.scenario import load_scenario
    from localflex.sim.setup import prepare_market

    scenario = load_scenario(scenario_path)
    setup = prepare_market(scenario)
    envelope = setup.envelope
    on = setup.portfolio.participating
    data = {
        "up_kw": envelope.up_kw[:, on],
        "down_kw": envelope.down_kw[:, on],
        "is_generation": np.isin(envelope.der_type[on], list(GENERATION_DER_TYPES)),
        "notification_min": envelope.notification_min[on],
        "response_min": envelope.response_min[on],
        "max_duration_isps": envelope.max_duration_isps[on],
        "isp_minutes": np.array(scenario.time.isp_minutes, dtype=float),
    }
    label = (f"{scenario.name}: {int(on.sum())} DERs on {scenario.grid.simbench_code}, "
             f"{scenario.time.day}")
    return data, label


def _access_frame(code: str, data: dict[str, np.ndarray]) -> pd.DataFrame:
    from localflex.regulation import country_preset
    from localflex.regulation.access import market_access

    return market_access(
        data["up_kw"], data["down_kw"], data["is_generation"], country_preset(code),
        isp_minutes=float(data["isp_minutes"]),
        unit_notification_min=data["notification_min"],
        unit_response_min=data["response_min"],
        unit_max_duration_isps=data["max_duration_isps"],
    )


def _figure(value: float, assumed: bool, fmt: str = "{:,.0f}") -> str:
    return fmt.format(value) + ("*" if assumed else "")


def _country_table(code: str, frame: pd.DataFrame, label: str) -> Table:
    table = Table(title=f"market access, {code}: {label}", show_header=True)
    for name, justify in (("market", "left"), ("access", "left"), ("min bid kW", "right"),
                          ("step kW", "right"), ("sym.", "center"), ("units", "right"),
                          ("entered kW", "right"), ("share", "right")):
        table.add_column(name, justify=justify)
    for what in WHAT_IF_LABELS.values():
        table.add_column(what, justify="right")
    for row in frame.itertuples(index=False):
        assumed = set(row.assumed.split(","))
        cells = [
            row.market,
            row.access + ("*" if "access" in assumed else ""),
            _figure(row.min_bid_kw, "min_bid_kw" in assumed),
            _figure(row.bid_step_kw, "bid_step_kw" in assumed),
            ("yes" if row.symmetric else "no") + ("*" if "symmetric" in assumed else ""),
            str(row.units_eligible),
            f"{row.entered_kw:,.1f}",
            f"{row.share:.0%}",
        ]
        cells += [f"{getattr(row, f'share__{key}'):.0%}" for key in WHAT_IF_LABELS]
        table.add_row(*cells)
    table.caption = ("kW: mean over the ISPs of up + down; share of the portfolio's flexibility; "
                     "last columns: share if the minimum bid were lowered / bids asymmetric; "
                     "* = localflex default (the preset has null)")
    return table


def _all_table(frames: dict[str, pd.DataFrame], label: str) -> Table:
    markets = list(next(iter(frames.values()))["market"])
    table = Table(title=f"market access, all presets: {label}", show_header=True)
    table.add_column("country")
    for market in markets:
        table.add_column(market, justify="right")
    for code, frame in frames.items():
        cells = [f"{today:.0%} → {better:.0%}" for today, better in
                 zip(frame["share"], frame["share__min_bid_1kw_asymmetric"], strict=True)]
        table.add_row(code, *cells)
    table.caption = ("share of the portfolio's flexibility that enters today → with a 1 kW "
                     "minimum bid and asymmetric bids")
    return table


def _plot_country(code: str, frame: pd.DataFrame, label: str, path: Path | None,
                  overwrite: bool = False) -> None:
    if path is None:
        return
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.8), layout="constrained")
    ax = fig.add_subplot()
    series = {"today": frame["entered_kw"].to_numpy()}
    series |= {WHAT_IF_LABELS[k]: frame[f"entered_kw__{k}"].to_numpy() for k in WHAT_IF_LABELS}
    x = np.arange(len(frame))
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=name)
    available = float(frame["available_up_kw"].iloc[0] + frame["available_down_kw"].iloc[0])
    ax.axhline(available, color="black", linestyle="--", linewidth=1,
               label="portfolio flexibility")
    ax.set_xticks(x, [f"{m}\n({a})" for m, a in zip(frame["market"], frame["access"],
                                                       strict=True)])
    ax.set_ylabel("flexibility entering the market (kW, mean up + down)")
    ax.set_title(f"{code}: market access today and under lower minimum bids / asymmetric bids\n"
                 f"{label}", fontsize=10)
    fig.legend(loc="outside lower center", fontsize=8, ncols=len(series) + 1)
    _save(fig, path, overwrite)


def _plot_all(frames: dict[str, pd.DataFrame], label: str, path: Path | None,
              overwrite: bool = False) -> None:
    if path is None:
        return
    from matplotlib.figure import Figure

    codes = list(frames)
    markets = list(next(iter(frames.values()))["market"])
    fig = Figure(figsize=(11, 7), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, column, title in ((axes[0], "share", "today"),
                              (axes[1], "share__min_bid_1kw_asymmetric",
                               "min bid 1 kW + asymmetric")):
        grid = np.array([frames[c][column].to_numpy() for c in codes]) * 100.0
        image = ax.imshow(grid, vmin=0, vmax=100, cmap="viridis", aspect="auto")
        ax.set_xticks(np.arange(len(markets)), markets, rotation=45, ha="right")
        ax.set_yticks(np.arange(len(codes)), codes)
        for (i, j), value in np.ndenumerate(grid):
            ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=7,
                    color="white" if value < 60 else "black")
        ax.set_title(title)
    fig.colorbar(image, ax=axes, label="share of the portfolio's flexibility entering (%)")
    fig.suptitle(f"market access per country preset — {label}", fontsize=10)
    _save(fig, path, overwrite)


def _save(fig, path: Path | None, overwrite: bool = False) -> None:
    if path is not None:
        from localflex.safe_io import save_figure

        save_figure(fig, path, overwrite=overwrite, dpi=120)


@app.command()
def access(
    country: Annotated[str | None, typer.Option("--country", help="ISO code, e.g. IT")] = None,
    all_countries: Annotated[bool, typer.Option("--all", help="every bundled preset")] = False,
    scenario: Annotated[Path | None, typer.Option(
        "--scenario", help="scenario YAML whose DERs form the portfolio (default: the demo)")
    ] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="plot file (PNG) to write; no plot without it")] = None,
    overwrite: OverwriteOption = False,
) -> None:
    """How much of a DER portfolio's flexibility enters each market under a country's rules,
    and how much more would with lower minimum bids or asymmetric bids."""
    from localflex.domain import InputError
    from localflex.regulation import bundled_codes, country_preset
    from localflex.safe_io import check_output_file

    with user_errors():
        if (country is None) == (not all_countries):
            raise InputError("--country/--all", country,
                             f"either --country CODE (one of {', '.join(bundled_codes())}) "
                             "or --all")
        if out is not None:
            if out.suffix.lower() != ".png":
                raise InputError("--out", str(out), "a file name ending in .png")
            check_output_file(out, overwrite=overwrite)
        codes = bundled_codes() if all_countries else (country_preset(country).code,)
        path = scenario or DEMO_SCENARIO
        if not path.is_file():
            raise InputError("--scenario", str(path), "an existing scenario YAML file")
        data, label = _portfolio(str(path.resolve()))
        frames = {code: _access_frame(code, data) for code in codes}
    if all_countries:
        console.print(_all_table(frames, label))
        with user_errors():
            _plot_all(frames, label, out, overwrite)
    else:
        code = codes[0]
        console.print(_country_table(code, frames[code], label))
        with user_errors():
            _plot_country(code, frames[code], label, out, overwrite)
    err_console.print(f"plot: {out}" if out else "no plot written (add --out FILE.png)")
