"""``localflex demo`` and ``localflex run``: the market days of a scenario file.

The days run as the study loop's cell of the DSO's market day with one seed and a perfect
forecast (``localflex.sim.market_run``), DER state carried from day to day, and stream into
the run folder (``localflex.sim.outputs``).

Bad input (a scenario that does not validate, an unknown grid, an offer off the grid) ends
with a one-line error naming the field, exit code 2, and no run folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from localflex.bundled_examples import example_path
from localflex.cli._app import app, console, user_errors
from localflex.domain import InputError

DEMO_SCENARIO = example_path("demo")

OutOption = Annotated[Path | None, typer.Option("--out", help="run folder (default runs/NAME)")]
SeedOption = Annotated[int | None, typer.Option("--seed", help="override the scenario's seed")]
OverwriteOption = Annotated[bool, typer.Option(
    "--overwrite", help="replace the files of an earlier localflex run folder at --out "
                        "(other files there stay; a folder localflex did not write is refused)")]
NoCacheOption = Annotated[bool, typer.Option(
    "--no-cache", help="read the SimBench grid from its CSV files, bypassing the grid cache")]


def with_seed(scenario, seed: int | None):
    """The scenario with ``--seed`` applied, validated like the file (one-line error)."""
    from localflex.sim.scenario import MAX_SEED

    if seed is None:
        return scenario
    if not 0 <= seed <= MAX_SEED:
        raise InputError("--seed", seed, "an integer in 0..2**63-1")
    return scenario.model_copy(update={"seed": seed})


def _summary(kpis: dict) -> Table:
    days = len(kpis.get("days", [])) or 1
    what = "market day" if days == 1 else f"{days} market days"
    table = Table(title=f"{what}: {kpis['scenario']} on {kpis['grid']}", show_header=True)
    table.add_column("KPI")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    table.add_row("overload energy (kWh)", f"{kpis['overload_energy_before_kwh']:,.1f}",
                  f"{kpis['overload_energy_after_kwh']:,.1f}")
    table.add_row("worst loading (%)", f"{kpis['worst_loading_before_pct']:.1f}",
                  f"{kpis['worst_loading_after_pct']:.1f}")
    table.add_row("congested points / ISPs",
                  f"{kpis['congested_points_before']} / {kpis['congested_isps_before']}",
                  f"{kpis['congested_points_after']} / {kpis['congested_isps_after']}")
    volt = kpis["voltage"]
    table.add_row("voltage min–max (p.u.)",
                  f"{volt['min_before_pu']:.3f}–{volt['max_before_pu']:.3f}",
                  f"{volt['min_after_pu']:.3f}–{volt['max_after_pu']:.3f}")
    table.add_row("voltage violations (bus-ISPs)", f"{volt['violations_before']:,}",
                  f"{volt['violations_after']:,} ({volt['violations_new_after']} new)")
    table.add_row("DSO cost (EUR)", "", f"{kpis['dso_cost_eur']:,.2f}")
    if "dso_paid_eur" in kpis:
        table.add_row("  paid on delivery (EUR)", "",
                      f"{kpis['dso_paid_eur']:,.2f} (penalties {kpis['penalty_eur']:,.2f})")
    table.add_row("activated / delivered (kWh)", "",
                  f"{kpis['activated_energy_kwh']:,.1f} / {kpis['delivered_energy_kwh']:,.1f}")
    table.add_row("rebound (kWh)", "", f"{kpis['rebound_energy_kwh']:,.1f}")
    for name, split in sorted(kpis["per_aggregator"].items()):
        energy = split["activated_up_kwh"] + split["activated_down_kwh"]
        table.add_row(f"  {name}", "", f"{energy:,.1f} kWh, {split['cost_eur']:,.2f} EUR")
    return table


def _print_voltage(kpis: dict, shown: int = 5) -> None:
    """What voltage problems remain and why (a few buses, then a count)."""
    left = kpis.get("unsolved_voltage", [])
    if not left:
        console.print("[green]no voltage problem left after re-dispatch[/]")
        return
    volt = kpis["voltage"]
    console.print(f"[yellow]voltage[/] {volt['violations_after']} bus-ISPs at {len(left)} buses "
                  f"still outside their band ({volt['violations_new_after']} created by awards):")
    by_cause: dict[str, list[int]] = {}
    for item in left:  # group by the kind of cause (its text before any figures)
        by_cause.setdefault(item["cause"].split(":")[0], []).append(item["bus"])
    for cause, buses in sorted(by_cause.items(), key=lambda kv: -len(kv[1]))[:shown]:
        more = f" and {len(buses) - 3} more" if len(buses) > 3 else ""
        console.print(f"  buses {', '.join(map(str, buses[:3]))}{more} — {cause}")
    worse, no_award = volt.get("violations_worsened_after", 0), volt.get(
        "worsened_in_isps_without_award", 0)
    if worse:
        console.print(f"  {worse} bus-ISPs ended further outside, {no_award} of them in ISPs "
                      "without awards (rebound of earlier activations)")


def _run(scenario_path: Path, out: Path | None, seed: int | None,
         overwrite: bool = False, no_cache: bool = False) -> None:
    # Imported here so that `localflex --help` stays fast.
    from localflex.grid.grid_cache import set_cache_enabled
    from localflex.safe_io import check_output_dir
    from localflex.sim.engine import STEPS
    from localflex.sim.market_run import check_horizon, market_days
    from localflex.sim.outputs import write_run_folder
    from localflex.sim.scenario import load_scenario

    if no_cache:
        set_cache_enabled(False)
    with user_errors():
        scenario = load_scenario(scenario_path)
        scenario = with_seed(scenario, seed)
        out_dir = check_output_dir(out or Path("runs") / scenario.name, overwrite=overwrite)
        check_horizon(scenario)
        n_days = scenario.time.days
        with Progress(SpinnerColumn(), TextColumn("{task.description:<36}"), BarColumn(),
                      TimeElapsedColumn(), console=console, transient=False) as progress:
            task = progress.add_task("starting", total=n_days * len(STEPS) + 2)
            done = [0]

            def step(name: str) -> None:
                label = name if n_days == 1 else f"day {done[0] + 1}/{n_days}: {name}"
                progress.update(task, description=label, advance=1)

            def day_done(_day) -> None:
                done[0] += 1
                progress.update(task, completed=done[0] * len(STEPS))

            written, kpis = write_run_folder(market_days(scenario, step), scenario, out_dir,
                                             overwrite=overwrite, day_done=day_done)
            progress.update(task, description="done", completed=n_days * len(STEPS) + 2)
    console.print(_summary(kpis))
    for item in kpis["unsolved"]:
        console.print(f"[yellow]unsolved[/] {item['cp_id']}: {item['energy_kwh']} kWh over "
                      f"{len(item['isps'])} ISPs, max {item['max_overload_kw']} kW — "
                      f"{item['cause']}")
    if not kpis["unsolved"]:
        console.print("[green]no congestion left after re-dispatch[/]")
    _print_voltage(kpis)
    console.print(f"run folder: {written}  (kpis.json, report.html, tables/)")


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file")],
    out: OutOption = None,
    seed: SeedOption = None,
    overwrite: OverwriteOption = False,
    no_cache: NoCacheOption = False,
) -> None:
    """Run the market days a scenario file describes (time.days, DER state carried)."""
    _run(scenario, out, seed, overwrite, no_cache)


@app.command()
def demo(out: OutOption = None, seed: SeedOption = None,
         overwrite: OverwriteOption = False, no_cache: NoCacheOption = False) -> None:
    """Run the demo market day (the bundled examples/demo.yaml) on a congested SimBench grid."""
    _run(DEMO_SCENARIO, out, seed, overwrite, no_cache)

