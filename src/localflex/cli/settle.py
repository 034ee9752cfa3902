"""``localflex settle RUN_DIR``: settle a finished run folder (paper §4.2, §5.3).

What it does, and the documented choices it makes where a run folder says nothing:

* **Meter data.** The run folder has each unit's activations (``tables/activations``:
  delivered_kw = baseline − realised, injection sign) but not its baseline; the baseline is
  rebuilt from ``scenario.json`` with the simulator's own, seeded DER placement (the ids must
  match ``tables/der_units``), day by day as the run went, each day's DERs starting where the
  run's setpoints (``requested_kw``) left them the day before
  (``sim.market_run.replay_baselines``). Metered = baseline − delivered + meter noise (normal,
  ``--meter-noise-kw`` standard deviation, default 0.01 kW, seeded by the scenario seed or
  ``--seed``). Only units in an aggregator's portfolio are settled. The baseline used for the
  delivery check is the nominated schedule (the DER baseline the aggregator declared).
* **Parties.** The buyer is the scenario's DSO; the TSO is ``TSO``; the units are spread over
  ``--brps`` BRPs/suppliers ``BRP-1 … BRP-n`` round-robin in unit order; each unit's owner is
  ``prosumer:<der_id>`` and receives ``--prosumer-share`` of its award's utilisation payment.
* **Country.** Scenarios carry no country; the default is ``DE`` (SimBench grids are German),
  whose preset regime is ``undefined`` (no compensation). ``--country`` picks another preset
  and ``--regime`` one of its regimes (France: contractual, regulated, corrected).
* **Prices.** Run folders carry no energy prices: flat illustrative defaults (day-ahead
  50 EUR/MWh, retail energy component 80, contract 40, regulated tariff 45, single imbalance
  price 60, dual = single ∓ 10) — options, not market data.
* **Baseline accuracy.** A synthetic meter data set from the run grid's SimBench load
  profiles (``--accuracy-meters`` meters, the 8 weeks up to the run day) scores every baseline
  method in the day's activation window (or 17:00–20:00 UTC without activations) over the
  last 14 days.

Everything is written into ``RUN_DIR/settlement/`` atomically (``localflex.safe_io``); an
earlier settlement there is replaced only with ``--overwrite``. A run folder that lacks a file
ends with an error naming it and exit code 2.
"""

from __future__ import annotations

import html
import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from localflex.cli._app import app, console, user_errors
from localflex.cli.run import OverwriteOption
from localflex.domain import InputError, TimeGrid
from localflex.safe_io import check_output_dir, write_output_dir

REQUIRED_FILES = ("scenario.json", "tables/awards.parquet", "tables/activations.parquet",
                  "tables/der_units.parquet")
DEFAULT_COUNTRY = "DE"


def _check_run_dir(run_dir: Path) -> None:
    if not run_dir.is_dir():
        raise InputError("RUN_DIR", str(run_dir), "a run folder (localflex demo --out DIR)")
    missing = [name for name in REQUIRED_FILES if not (run_dir / name).is_file()]
    if missing:
        raise InputError("RUN_DIR", str(run_dir),
                         f"a run folder with {', '.join(REQUIRED_FILES)} (missing: "
                         f"{', '.join(missing)})")


def _read_run(run_dir: Path):
    from localflex.sim.scenario import parse_scenario

    try:
        data = json.loads((run_dir / "scenario.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError("scenario.json", str(exc), "valid JSON") from None
    scenario = parse_scenario(data, source="scenario.json")
    tables = {}
    for name in ("awards", "activations", "der_units"):
        try:
            tables[name] = pd.read_parquet(run_dir / "tables" / f"{name}.parquet")
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise InputError(f"tables/{name}.parquet", type(exc).__name__,
                             "a readable Parquet table") from None
    return scenario, tables


def _meter_data(scenario, tables, noise_kw: float, seed: int):
    """Baseline and metered kW [T, N] of every unit, and the unit table."""
    from localflex.sim.market_run import replay_baselines
    from localflex.sim.setup import scenario_time_grid

    horizon = scenario_time_grid(scenario)
    units = tables["der_units"]
    acts = tables["activations"]

    def requested(der_id: np.ndarray) -> np.ndarray:
        if units["der_id"].astype(str).tolist() != der_id.tolist():
            raise InputError("tables/der_units.parquet", f"{len(units)} units",
                             f"the {der_id.size} units the scenario places (same ids, same "
                             "order)")
        col = pd.Index(der_id).get_indexer(acts["der_id"].astype(str))
        if (col < 0).any():
            raise InputError("tables/activations.parquet der_id", acts["der_id"].iloc[
                int(np.argmax(col < 0))], "a unit of tables/der_units")
        horizon.check_isps(acts["isp"].to_numpy(dtype=np.int64),
                           "tables/activations.parquet isp")
        out = np.zeros((horizon.n_isps, der_id.size))
        np.add.at(out, (acts["isp"].to_numpy(dtype=np.int64), col),
                  acts["requested_kw"].to_numpy(dtype=float))
        return out

    tg, grid, der_id, baseline = replay_baselines(scenario, requested)
    col = pd.Index(der_id).get_indexer(acts["der_id"].astype(str))
    delivered = np.zeros_like(baseline)
    np.add.at(delivered, (acts["isp"].to_numpy(dtype=np.int64), col),
              acts["delivered_kw"].to_numpy(dtype=float))
    rng = np.random.default_rng([seed, 7])
    metered = baseline - delivered + rng.normal(0.0, noise_kw, baseline.shape)
    return tg, grid, baseline, metered, units


def _accuracy(grid, tg: TimeGrid, awards: pd.DataFrame, n_meters: int, seed: int):
    from localflex.settlement import accuracy_report, synthetic_meter_data

    per_day = 1440 // tg.isp_minutes
    days = 56
    start = pd.Timestamp(tg.start) - timedelta(days=days - 1)
    hist = TimeGrid(start.to_pydatetime(), days * per_day, tg.isp_minutes)
    data = synthetic_meter_data(grid, hist, n_meters, np.random.default_rng([seed, 8]))
    if len(awards):
        of_day = awards["isp"].to_numpy() % per_day
        window = (int(of_day.min()), int(of_day.max()) + 1)
    else:
        window = (17 * per_day // 24, 20 * per_day // 24)
    report = accuracy_report(data, window, eval_days=14)
    return report, window, data


def _html(summary: dict, accuracy: pd.DataFrame, statements: pd.DataFrame,
          scenarios: pd.DataFrame, delivery: pd.DataFrame) -> str:
    def table(frame: pd.DataFrame) -> str:
        return frame.to_html(index=False, float_format=lambda v: f"{v:,.4f}", border=0,
                             classes="t")

    per_day = 1440 // summary["isp_minutes"]
    w0, w1 = summary["accuracy_window_isps"]
    window = (f"{w0 * 24 // per_day:02d}:{(w0 * 1440 // per_day) % 60:02d}–"
              f"{w1 * 24 // per_day:02d}:{(w1 * 1440 // per_day) % 60:02d} UTC")
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in summary.items() if not isinstance(v, dict | list))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>settlement — {html.escape(summary['run'])}
</title><style>body{{font-family:sans-serif;margin:2em;max-width:70em}}
table.t,table.s{{border-collapse:collapse;margin:1em 0}} td,th{{padding:2px 8px;
border-bottom:1px solid #ddd;text-align:right}} th{{text-align:left}}</style></head><body>
<h1>Settlement of run {html.escape(summary['run'])}</h1>
<table class="s">{rows}</table>
<h2>Statements per party (whole run)</h2>{table(statements)}
<h2>Delivery check</h2>{table(delivery)}
<h2>BRP imbalance: single / dual pricing, with / without perimeter correction</h2>
{table(scenarios)}
<h2>Baseline accuracy</h2>
<p>Synthetic meter data from the SimBench load profiles of {html.escape(summary['grid'])}
({summary['accuracy_meters']} meters, seeded noise), scored in the window {window} over the
last 14 of 56 days. bias &gt; 0: the baseline over-estimates consumption (an UP activation would
be over-paid).</p>{table(accuracy)}
</body></html>
"""


def _write_atomic(run_dir: Path, files: dict[str, pd.DataFrame | str],
                  overwrite: bool = False) -> Path:
    def write(staging: Path) -> None:
        for name, content in files.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                path.write_text(content, encoding="utf-8")
            elif name.endswith(".parquet"):
                content.to_parquet(path, index=False)
            else:
                content.to_csv(path, index=False)

    return write_output_dir(run_dir / "settlement", write, overwrite=overwrite,
                            option="RUN_DIR/settlement", command="settle")


def _booked(ledger: pd.DataFrame) -> dict[str, float]:
    """What the ledger books (EUR, from integer cents) to set against the computed amounts:
    utilisation received by the aggregators, remuneration received by the prosumers and
    compensation received by the BRPs (net)."""
    rule = ledger["rule"].astype(str)
    role = ledger["role"].astype(str)
    cents = ledger["amount_cents"]
    return {
        "utilisation": int(cents[(rule == "utilisation") & (role == "aggregator")].sum()) / 100,
        "prosumer_remuneration": int(cents[(rule == "prosumer_remuneration")
                                           & (role == "prosumer")].sum()) / 100,
        "brp_compensation": int(cents[rule.str.startswith("brp_compensation")
                                      & (role == "brp")].sum()) / 100,
    }


def _safe_name(party: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in party)


def settle_run(
    run_dir: Path,
    *,
    country: str = DEFAULT_COUNTRY,
    regime: str | None = None,
    brps: int = 1,
    meter_noise_kw: float = 0.01,
    seed: int | None = None,
    tolerance: float = 0.1,
    penalty_factor: float | None = None,
    pricing: str = "single",
    da_price: float = 50.0,
    retail_energy_price: float = 80.0,
    contract_price: float = 40.0,
    regulated_price: float = 45.0,
    imbalance_price: float = 60.0,
    dual_spread: float = 10.0,
    prosumer_share: float = 0.5,
    accuracy_meters: int = 200,
    overwrite: bool = False,
) -> tuple[Path, dict]:
    """Settle ``run_dir`` and write ``run_dir/settlement``; returns the folder and a summary."""
    from localflex.settlement import (
        CompensationTerms,
        DeliveryRules,
        ImbalancePrices,
        Metering,
        SettlementOptions,
        imbalance_scenarios,
        party_statement,
        regime_of_country,
        settle,
        statements,
    )

    run_dir = Path(run_dir)
    _check_run_dir(run_dir)
    check_output_dir(run_dir / "settlement", overwrite=overwrite, option="RUN_DIR/settlement")
    if brps < 1:
        raise InputError("--brps", brps, "at least 1 BRP")
    if meter_noise_kw < 0:
        raise InputError("--meter-noise-kw", meter_noise_kw, "a standard deviation >= 0")
    if accuracy_meters < 1:
        raise InputError("--accuracy-meters", accuracy_meters, "at least 1 meter")
    chosen = regime_of_country(country.upper(), regime)
    scenario, tables = _read_run(run_dir)
    seed = scenario.seed if seed is None else seed
    tg, grid, baseline, metered, units = _meter_data(scenario, tables, meter_noise_kw, seed)
    in_portfolio = units["aggregator_id"].astype(str).to_numpy() != ""
    idx = np.flatnonzero(in_portfolio)
    unit_brp = np.array([f"BRP-{k % brps + 1}" for k in range(idx.size)], dtype=object)
    metering = Metering(
        unit_id=units["der_id"].astype(str).to_numpy(dtype=object)[idx],
        unit_aggregator=units["aggregator_id"].astype(str).to_numpy(dtype=object)[idx],
        unit_bus=units["bus"].to_numpy()[idx],
        unit_der_type=units["der_type"].astype(str).to_numpy(dtype=object)[idx],
        unit_brp=unit_brp,
        baseline_kw=baseline[:, idx],
        metered_kw=metered[:, idx],
    )
    terms = CompensationTerms(
        chosen, contract_price_eur_per_mwh=contract_price,
        regulated_price_eur_per_mwh=regulated_price,
        retail_energy_price_eur_per_mwh=retail_energy_price,
        day_ahead_price_eur_per_mwh=da_price,
    )
    single = ImbalancePrices("single", single_eur_per_mwh=imbalance_price)
    dual = ImbalancePrices("dual", long_eur_per_mwh=imbalance_price - dual_spread,
                           short_eur_per_mwh=imbalance_price + dual_spread)
    if pricing not in ("single", "dual"):
        raise InputError("--pricing", pricing, "'single' or 'dual'")
    rules = DeliveryRules(
        tolerance_share=tolerance,
        under_delivery="pay_delivered" if penalty_factor is None else "penalty",
        penalty_factor=0.0 if penalty_factor is None else penalty_factor,
    )
    options = SettlementOptions(
        compensation=terms, imbalance=single if pricing == "single" else dual, delivery=rules,
        buyer_id=scenario.market.dso_name, prosumer_share=prosumer_share,
    )
    awards = tables["awards"]
    result = settle(awards, metering, tg, options)
    brp_ids = np.array(sorted(set(unit_brp.tolist())), dtype=object)
    act = result.compensation
    pos = pd.Index(brp_ids).get_indexer(act["brp_id"])
    activated = np.zeros((tg.n_isps, brp_ids.size))
    comp_grid = np.zeros_like(activated)
    np.add.at(activated, (act["isp"].to_numpy(dtype=np.int64), pos), act["energy_kwh"].to_numpy())
    np.add.at(comp_grid, (act["isp"].to_numpy(dtype=np.int64), pos),
              act["amount_to_brp_eur"].to_numpy())
    # the imbalance table is ISP-major with the BRPs in sorted order, as brp_ids
    dev = result.imbalance["activation_deviation_kwh"].to_numpy().reshape(tg.n_isps, brp_ids.size)
    scenarios = imbalance_scenarios(dev, brp_ids, activated, single, dual, comp_grid)
    accuracy, window, _ = _accuracy(grid, tg, awards, accuracy_meters, seed)
    per_period = result.statements("D")
    whole = statements(result.ledger, None, by_rule=False)
    delivery = result.delivery
    tx = result.transactions
    summary = {
        "run": run_dir.name,
        "grid": scenario.grid.simbench_code,
        "isp_minutes": tg.isp_minutes,
        "country": country.upper(),
        "compensation_regime": chosen.value,
        "imbalance_pricing": pricing,
        "meter_noise_kw": meter_noise_kw,
        "seed": seed,
        "brps": brps,
        "awards": len(delivery),
        "awards_within_tolerance": int(delivery["within_tolerance"].sum()),
        "awarded_kwh": float(delivery["awarded_kwh"].sum()),
        "delivered_kwh": float((delivery["delivered_kw"] * tg.isp_hours).sum()),
        "utilisation_eur": float(delivery["utilisation_eur"].sum()),
        "penalty_eur": float(delivery["penalty_eur"].sum()),
        "run_pay_as_bid_eur": float(awards["cost_eur"].sum()),
        "brp_compensation_eur": float(act["amount_to_brp_eur"].sum()),
        "prosumer_remuneration_eur": float(tx.loc[tx["rule"] == "prosumer_remuneration",
                                                  "amount_eur"].sum()),
        "booked_eur": _booked(result.ledger),
        "activated_energy_kwh": float(act["energy_kwh"].sum()),
        "brp_imbalance_eur": float(result.imbalance["imbalance_eur"].sum()),
        "ledger_lines": len(result.ledger),
        "ledger_sum_cents": int(result.ledger["amount_cents"].sum()),
        "accuracy_meters": accuracy_meters,
        "accuracy_window_isps": list(window),
        "parties": result.parties,
    }
    files: dict[str, pd.DataFrame | str] = {}
    for name, frame in (("ledger", result.ledger), ("statements", per_period),
                        ("delivery", delivery), ("compensation", result.compensation),
                        ("imbalance", result.imbalance), ("imbalance_scenarios", scenarios),
                        ("baseline_accuracy", accuracy), ("transactions", result.transactions)):
        files[f"{name}.parquet"] = frame
        files[f"{name}.csv"] = frame
    for party in sorted(result.parties):
        if (result.ledger["party_id"] == party).any():
            files[f"statements/{_safe_name(party)}.csv"] = party_statement(result.ledger, party)
    files["settlement.json"] = json.dumps(summary, indent=2)
    files["settlement.html"] = _html(summary, accuracy, whole, scenarios, delivery[[
        "award_id", "isp", "direction", "awarded_kw", "delivered_kw", "within_tolerance",
        "utilisation_eur", "penalty_eur"]])
    summary["statements"] = whole
    summary["accuracy"] = accuracy
    return _write_atomic(run_dir, files, overwrite), summary


@app.command()
def settle(
    run_dir: Annotated[Path, typer.Argument(help="run folder (localflex demo --out DIR)")],
    country: Annotated[str, typer.Option(help="country preset (default DE: SimBench grids "
                                              "are German)")] = DEFAULT_COUNTRY,
    regime: Annotated[str | None, typer.Option(help="compensation regime of the country "
                                                    "(default: the first its preset lists)")]
    = None,
    brps: Annotated[int, typer.Option(help="BRPs the units are spread over")] = 1,
    meter_noise_kw: Annotated[float, typer.Option(help="meter noise standard deviation")] = 0.01,
    seed: Annotated[int | None, typer.Option(help="noise seed (default: scenario seed)")]
    = None,
    tolerance: Annotated[float, typer.Option(help="delivery tolerance share")] = 0.1,
    penalty_factor: Annotated[float | None, typer.Option(
        help="penalty factor × missing energy × price (default: pay for delivered only)")]
    = None,
    pricing: Annotated[str, typer.Option(help="imbalance pricing: single or dual")] = "single",
    da_price: Annotated[float, typer.Option(help="day-ahead price EUR/MWh (flat)")] = 50.0,
    retail_energy_price: Annotated[float, typer.Option(
        help="supplier's retail energy component EUR/MWh")] = 80.0,
    contract_price: Annotated[float, typer.Option(help="contractual price EUR/MWh")] = 40.0,
    regulated_price: Annotated[float, typer.Option(help="regulated tariff EUR/MWh")] = 45.0,
    imbalance_price: Annotated[float, typer.Option(help="imbalance price EUR/MWh")] = 60.0,
    prosumer_share: Annotated[float, typer.Option(
        help="share of utilisation the aggregator passes on to prosumers")] = 0.5,
    accuracy_meters: Annotated[int, typer.Option(
        help="meters in the synthetic baseline-accuracy data set")] = 200,
    overwrite: OverwriteOption = False,
) -> None:
    """Settle a finished run: delivery, BRP compensation, imbalance, ledger, statements."""
    with user_errors():
        out, summary = settle_run(
            run_dir, country=country, regime=regime, brps=brps, meter_noise_kw=meter_noise_kw,
            seed=seed, tolerance=tolerance, penalty_factor=penalty_factor, pricing=pricing,
            da_price=da_price, retail_energy_price=retail_energy_price,
            contract_price=contract_price, regulated_price=regulated_price,
            imbalance_price=imbalance_price, prosumer_share=prosumer_share,
            accuracy_meters=accuracy_meters, overwrite=overwrite,
        )
    head = Table(title=f"settlement of {summary['run']}: {summary['country']}, "
                       f"regime {summary['compensation_regime']}, "
                       f"{summary['imbalance_pricing']} imbalance pricing")
    head.add_column("item")
    head.add_column("value", justify="right")
    head.add_row("awards (within tolerance)",
                 f"{summary['awards']} ({summary['awards_within_tolerance']})")
    head.add_row("awarded / delivered (kWh)",
                 f"{summary['awarded_kwh']:,.2f} / {summary['delivered_kwh']:,.2f}")
    booked = summary["booked_eur"]
    head.add_row("utilisation paid (EUR, computed / booked)",
                 f"{summary['utilisation_eur']:,.2f} / {booked['utilisation']:,.2f}")
    head.add_row("prosumer remuneration (EUR, computed / booked)",
                 f"{summary['prosumer_remuneration_eur']:,.2f} / "
                 f"{booked['prosumer_remuneration']:,.2f}")
    head.add_row("  run's pay-as-bid, full delivery (EUR)",
                 f"{summary['run_pay_as_bid_eur']:,.2f}")
    head.add_row("penalties (EUR)", f"{summary['penalty_eur']:,.2f}")
    head.add_row("BRP compensation (EUR, computed / booked)",
                 f"{summary['brp_compensation_eur']:,.2f} / {booked['brp_compensation']:,.2f}")
    head.add_row("BRP imbalance, TSO → BRP (EUR)", f"{summary['brp_imbalance_eur']:,.2f}")
    head.add_row("ledger lines / sum (cents)",
                 f"{summary['ledger_lines']} / {summary['ledger_sum_cents']}")
    console.print(head)
    parties = Table(title="statements (whole run)")
    for col in ("party", "role", "received EUR", "paid EUR", "net EUR"):
        parties.add_column(col, justify="left" if col in ("party", "role") else "right")
    for row in summary["statements"].itertuples():
        parties.add_row(row.party_id, row.role, f"{row.received_eur:,.2f}",
                        f"{row.paid_eur:,.2f}", f"{row.net_eur:,.2f}")
    console.print(parties)
    acc = Table(title="baseline accuracy (synthetic SimBench meters, event window)")
    for col in ("method", "bias kW", "MAE kW", "RMSE kW", "rel. error"):
        acc.add_column(col, justify="left" if col == "method" else "right")
    for row in summary["accuracy"].itertuples():
        acc.add_row(row.method, f"{row.bias_kw:+.3f}", f"{row.mae_kw:.3f}",
                    f"{row.rmse_kw:.3f}", f"{row.relative_error:.1%}")
    console.print(acc)
    console.print(f"settlement folder: {out}  (ledger, statements, delivery, compensation, "
                  f"imbalance, baseline_accuracy, settlement.html)")
