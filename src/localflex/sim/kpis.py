"""Key performance indicators of a market day (paper §5.3: what congestion management by
flexibility achieves and costs).

``compute_kpis`` returns a JSON-ready dict; its keys are the contract of ``kpis.json``:

| key | unit | meaning |
|---|---|---|
| overload_energy_before_kwh / _after_kwh | kWh | Σ over points and ISPs of flow above limit × h |
| overload_reduction_pct | % | 100 × (1 − after / before) |
| worst_loading_before_pct / _after_pct | % | highest loading of any congestion point in any ISP |
| dso_cost_eur | EUR | pay-as-bid cost of the awards |
| dso_paid_eur | EUR | what the DSO pays after the delivery check (utilisation − penalty) |
| penalty_eur | EUR | penalties of under-delivery (``engine.DELIVERY_RULES``) |
| activated_energy_kwh | kWh | awarded volume × ISP length |
| delivered_energy_kwh | kWh | what the DERs really did in the awarded direction |
| rebound_energy_kwh | kWh | deviation from baseline in ISPs without activation |
| per_aggregator, per_der_type | | activated energy and cost split |
| voltage | p.u. | min/max before/after, bus-ISPs outside the band before/after (by more than
  ``VOLTAGE_TOLERANCE_PU``) and ``violations_new_after``: bus-ISPs inside the band before and
  outside after (a violation the awards created); ``violations_worsened_after``: bus-ISPs
  outside before and further out after (by more than the tolerance), and of those
  ``worsened_in_isps_without_award``: in ISPs where nothing was bought, i.e. moved by the
  rebound of activations in earlier ISPs (a CHP turned down catches up its heat, a heat pump
  or storage its energy), which the single-ISP offers of the market day do not carry |
| unsolved | | congestion left after verification, per point, with its cause |
| unsolved_voltage | | buses still outside their band, per bus, with the cause |

Congested counts and ``unsolved`` ignore overloads below ``OVERLOAD_TOLERANCE_KW``; the
overload energies count everything.

A run of several days (``combine_kpis``) has the same keys over the whole run — sums of
energies, money and ISP counts, points and buses counted if congested on any day, extremes
over every day, ``rounds`` with their ``day``, ``unsolved`` per point / bus with ISPs of the
run — and ``days``: each day's headline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from localflex.grid import overload_kw
from localflex.sim.engine import (
    OVERLOAD_TOLERANCE_KW,
    VOLTAGE_TOLERANCE_PU,
    DayResult,
    voltage_violations,
)

__all__ = ["combine_kpis", "compute_kpis", "unsolved_congestion", "unsolved_voltage",
           "worsened_voltage"]


def worsened_voltage(day: DayResult) -> tuple[np.ndarray, np.ndarray]:
    """[T, B] bus-ISPs outside the band before and further out after (by more than
    ``VOLTAGE_TOLERANCE_PU``), and [T] whether the ISP had any award."""
    vmax = day.voltage_limits["vm_max_pu"].to_numpy()[None, :]
    vmin = day.voltage_limits["vm_min_pu"].to_numpy()[None, :]

    def excess(vm: np.ndarray) -> np.ndarray:
        return np.maximum(vm - vmax, vmin - vm)

    before, after = excess(day.before.bus_vm_pu), excess(day.after.bus_vm_pu)
    with np.errstate(invalid="ignore"):
        worse = (before > VOLTAGE_TOLERANCE_PU) & (after > before + VOLTAGE_TOLERANCE_PU)
    awarded = np.zeros(day.time_grid.n_isps, dtype=bool)
    awarded[day.awards["isp"].to_numpy(dtype=np.int64)] = True
    return worse, awarded


def unsolved_voltage(day: DayResult) -> list[dict[str, Any]]:
    """Buses still outside their band after the last verification, each with its cause (the
    clearing's voltage shortfall of the last round that had one, most frequent first)."""
    after = voltage_violations(day.after.bus_vm_pu, day.voltage_limits)
    bus_ids = day.grid.bus_ids
    vm = day.after.bus_vm_pu
    vmax = day.voltage_limits["vm_max_pu"].to_numpy()
    vmin = day.voltage_limits["vm_min_pu"].to_numpy()
    short = day.voltage_shortfalls
    if len(short):
        short = short[short["round"] == short["round"].max()]
    causes = (short.groupby("bus")["cause"].agg(lambda c: c.value_counts().index[0])
              if len(short) else pd.Series(dtype=object))
    monitored = (set(bus_ids[day.monitored.bus_pos].tolist()) if day.monitored is not None
                 else set())
    out = []
    for b in np.flatnonzero(after.any(axis=0)):
        isps = np.flatnonzero(after[:, b])
        bus = int(bus_ids[b])
        excess = np.maximum(vm[isps, b] - vmax[b], vmin[b] - vm[isps, b])
        if bus in causes.index:
            cause = str(causes[bus])
        elif bus not in monitored:
            cause = "left its band only after re-dispatch (not monitored in the forecast)"
        else:
            cause = ("the linear sensitivities or the DERs' response (rebound) left it outside "
                     f"its band after {len(day.rounds)} clearing round(s)")
        out.append({"bus": bus, "isps": isps.tolist(),
                    "max_excess_pu": round(float(np.nanmax(excess)), 5), "cause": cause})
    return out


def unsolved_congestion(day: DayResult) -> list[dict[str, Any]]:
    """Congestion points still overloaded after the last verification, each with its cause."""
    residual = overload_kw(day.after, day.congestion_points)
    cp_ids = day.congestion_points["cp_id"].to_numpy()
    shortfalls = day.shortfalls
    out = []
    for c in np.flatnonzero(residual.max(axis=0) > OVERLOAD_TOLERANCE_KW):
        isps = np.flatnonzero(residual[:, c] > OVERLOAD_TOLERANCE_KW)
        causes: list[str] = []
        if len(shortfalls):
            here = shortfalls[(shortfalls["cp_id"] == cp_ids[c]) & shortfalls["isp"].isin(isps)]
            causes = sorted(set(here["cause"].astype(str)))
        if not causes:
            causes = [
                "the linear sensitivities underestimated the relief needed, or DERs delivered "
                f"less or rebounded more than planned; still left after {len(day.rounds)} "
                "clearing round(s) (raise market.max_rounds)"
            ]
        out.append({
            "cp_id": str(cp_ids[c]),
            "isps": isps.tolist(),
            "max_overload_kw": round(float(residual[:, c].max()), 3),
            "energy_kwh": round(float(residual[:, c].sum() * day.time_grid.isp_hours), 3),
            "cause": "; ".join(causes),
        })
    return out


def compute_kpis(day: DayResult, *, exact: bool = False) -> dict[str, Any]:
    """The KPIs of ``day`` (module docstring), rounded as ``kpis.json`` shows them; with
    ``exact`` unrounded (``combine_kpis`` adds days up before it rounds)."""

    def rnd(value: float, digits: int) -> float:
        return float(value) if exact else round(value, digits)

    h = day.time_grid.isp_hours
    cps = day.congestion_points
    ov_before = overload_kw(day.before, cps)
    ov_after = overload_kw(day.after, cps)
    before_kwh = float(ov_before.sum() * h)
    after_kwh = float(ov_after.sum() * h)
    awards = day.awards
    signed_request = day.requested_delta_kw
    realised_delta = day.baseline_kw - day.realised_kw  # positive = more injection (UP)
    activated = signed_request != 0
    delivered = np.where(activated, np.sign(signed_request) * realised_delta, 0.0)
    rebound = np.where(activated, 0.0, np.abs(realised_delta))

    def split(column: str) -> dict[str, dict[str, float]]:
        if awards.empty:
            return {}
        frame = awards.assign(
            energy_kwh=awards["power_kw"] * h,
            up_kwh=np.where(awards["direction"] == "up", awards["power_kw"] * h, 0.0),
            down_kwh=np.where(awards["direction"] == "down", awards["power_kw"] * h, 0.0),
        )
        grouped = frame.groupby(column).agg(
            activated_up_kwh=("up_kwh", "sum"),
            activated_down_kwh=("down_kwh", "sum"),
            cost_eur=("cost_eur", "sum"),
            n_awards=("offer_id", "count"),
        )
        return {str(k): {c: rnd(float(v), 3) for c, v in row.items()}
                for k, row in grouped.iterrows()}

    limits = day.voltage_limits
    unsolved = unsolved_congestion(day)
    v_before = voltage_violations(day.before.bus_vm_pu, limits)
    v_after = voltage_violations(day.after.bus_vm_pu, limits)
    worse, awarded = worsened_voltage(day)
    worst_b = int(np.argmax(day.before.cp_loading_pct.max(axis=0)))
    worst_a = int(np.argmax(day.after.cp_loading_pct.max(axis=0)))
    return {
        "scenario": day.scenario.name,
        "seed": day.scenario.seed,
        "grid": day.scenario.grid.simbench_code,
        "start_utc": day.time_grid.start.isoformat(),
        "n_isps": day.time_grid.n_isps,
        "isp_minutes": day.time_grid.isp_minutes,
        "n_congestion_points": len(cps),
        "congested_points_before": int((ov_before.max(axis=0) > OVERLOAD_TOLERANCE_KW).sum()),
        "congested_points_after": int((ov_after.max(axis=0) > OVERLOAD_TOLERANCE_KW).sum()),
        "congested_isps_before": int((ov_before.max(axis=1) > OVERLOAD_TOLERANCE_KW).sum()),
        "congested_isps_after": int((ov_after.max(axis=1) > OVERLOAD_TOLERANCE_KW).sum()),
        "overload_energy_before_kwh": rnd(before_kwh, 3),
        "overload_energy_after_kwh": rnd(after_kwh, 3),
        "overload_reduction_pct": rnd(100.0 * (1 - after_kwh / before_kwh), 2)
        if before_kwh > 0 else None,
        "worst_loading_before_pct": rnd(float(day.before.cp_loading_pct.max()), 2),
        "worst_loading_before_cp": str(cps["cp_id"].iloc[worst_b]),
        "worst_loading_after_pct": rnd(float(day.after.cp_loading_pct.max()), 2),
        "worst_loading_after_cp": str(cps["cp_id"].iloc[worst_a]),
        "dso_cost_eur": rnd(float(awards["cost_eur"].sum()), 2),
        "dso_paid_eur": rnd(float(day.payments["amount_eur"].sum()), 2)
        if len(day.payments) else 0.0,
        "penalty_eur": rnd(float(day.delivery["penalty_eur"].sum()), 2)
        if len(day.delivery) else 0.0,
        "activated_energy_kwh": rnd(float(awards["power_kw"].sum() * h), 3),
        "delivered_energy_kwh": rnd(float(delivered.sum() * h), 3),
        "rebound_energy_kwh": rnd(float(rebound.sum() * h), 3),
        "n_units": int(day.envelope.n_units),
        "n_units_pooled": int((day.unit_aggregator != "").sum()),
        "n_offers": len(day.offers),
        "n_awards": len(awards),
        "per_aggregator": split("aggregator_id"),
        "per_der_type": split("der_type"),
        "voltage": {
            "min_before_pu": rnd(float(np.nanmin(day.before.bus_vm_pu)), 4),
            "max_before_pu": rnd(float(np.nanmax(day.before.bus_vm_pu)), 4),
            "min_after_pu": rnd(float(np.nanmin(day.after.bus_vm_pu)), 4),
            "max_after_pu": rnd(float(np.nanmax(day.after.bus_vm_pu)), 4),
            "violations_before": int(v_before.sum()),
            "violations_after": int(v_after.sum()),
            "violations_new_after": int((v_after & ~v_before).sum()),
            "violations_worsened_after": int(worse.sum()),
            "worsened_in_isps_without_award": int((worse & ~awarded[:, None]).sum()),
            "buses_violated_before": int(v_before.any(axis=0).sum()),
            "buses_violated_after": int(v_after.any(axis=0).sum()),
        },
        "rounds": day.rounds,
        "unsolved": unsolved,
        "unsolved_voltage": unsolved_voltage(day),
    }


_SUMMED = {  # key -> decimals of its rounding (None: an integer count)
    "overload_energy_before_kwh": 3, "overload_energy_after_kwh": 3, "dso_cost_eur": 2,
    "dso_paid_eur": 2, "penalty_eur": 2, "activated_energy_kwh": 3,
    "delivered_energy_kwh": 3, "rebound_energy_kwh": 3, "n_offers": None, "n_awards": None,
    "congested_isps_before": None, "congested_isps_after": None,
}
_VOLTAGE_SUMMED = ("violations_before", "violations_after", "violations_new_after",
                   "violations_worsened_after", "worsened_in_isps_without_award")


def _sum_splits(parts: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for part in parts:
        for name, split in part.items():
            acc = out.setdefault(name, dict.fromkeys(split, 0.0))
            for key, value in split.items():
                acc[key] = acc.get(key, 0.0) + value
    return {name: {k: round(v, 3) for k, v in split.items()} for name, split in out.items()}


def _merge_unsolved(days: list[dict[str, Any]], key: str, name: str, per_day: int
                    ) -> list[dict[str, Any]]:
    """Per point (``name`` cp_id) or bus: the days' entries with ISPs of the horizon."""
    merged: dict[Any, dict[str, Any]] = {}
    for k, day in enumerate(days):
        for item in day[key]:
            isps = [i + k * per_day for i in item["isps"]]
            acc = merged.get(item[name])
            if acc is None:
                merged[item[name]] = {**item, "isps": isps}
                continue
            acc["isps"] = acc["isps"] + isps
            for field, how in (("max_overload_kw", max), ("max_excess_pu", max),
                               ("energy_kwh", lambda a, b: round(a + b, 3))):
                if field in item:
                    acc[field] = how(acc[field], item[field])
            if item["cause"] not in acc["cause"].split("; "):
                acc["cause"] = f"{acc['cause']}; {item['cause']}"
    return list(merged.values())


def combine_kpis(days: list[dict[str, Any]], cp_summary: pd.DataFrame,
                 bus_summary: pd.DataFrame) -> dict[str, Any]:
    """The KPIs of a run of several days from each day's ``compute_kpis(exact=True)`` (one
    day: its rounded ``compute_kpis``, returned as it is) and the run's summaries over every
    day (``sim.outputs``: ``cp_summary`` with ``max_overload_before_kw`` / ``_after_kw`` per
    point, ``bus_summary``); sums are rounded once, as ``kpis.json`` shows them.

    Energies, money, counts of ISPs and bus-ISPs add up; the points and buses counted are
    those congested / outside their band on any day; extremes are over every day; ``rounds``
    carry their ``day``; ``unsolved`` lists are per point / bus with ISPs of the horizon;
    ``days`` is the headline of each day."""
    if len(days) == 1:
        return days[0]
    out = dict(days[0])
    per_day = int(days[0]["n_isps"])
    out["n_isps"] = per_day * len(days)
    for key, decimals in _SUMMED.items():
        total = sum(d[key] for d in days)
        out[key] = int(total) if decimals is None else round(float(total), decimals)
    before = sum(d["overload_energy_before_kwh"] for d in days)
    after = sum(d["overload_energy_after_kwh"] for d in days)
    out["overload_reduction_pct"] = (round(100.0 * (1 - after / before), 2) if before > 0
                                     else None)
    for when in ("before", "after"):
        worst = cp_summary[f"worst_loading_{when}_pct"].to_numpy()
        c = int(np.argmax(worst))
        out[f"worst_loading_{when}_pct"] = round(float(worst[c]), 2)
        out[f"worst_loading_{when}_cp"] = str(cp_summary["cp_id"].iloc[c])
        out[f"congested_points_{when}"] = int(
            (cp_summary[f"max_overload_{when}_kw"].to_numpy() > OVERLOAD_TOLERANCE_KW).sum())
        out[f"buses_violated_{when}"] = int(
            (bus_summary[f"isps_violated_{when}"].to_numpy() > 0).sum())
    out["n_units"] = max(int(d["n_units"]) for d in days)
    out["n_units_pooled"] = max(int(d["n_units_pooled"]) for d in days)
    out["per_aggregator"] = _sum_splits([d["per_aggregator"] for d in days])
    out["per_der_type"] = _sum_splits([d["per_der_type"] for d in days])
    volt = dict(days[0]["voltage"])
    for key in _VOLTAGE_SUMMED:
        volt[key] = int(sum(d["voltage"][key] for d in days))
    for key, how in (("min_before_pu", min), ("min_after_pu", min), ("max_before_pu", max),
                     ("max_after_pu", max)):
        volt[key] = round(how(d["voltage"][key] for d in days), 4)
    volt["buses_violated_before"] = out.pop("buses_violated_before")
    volt["buses_violated_after"] = out.pop("buses_violated_after")
    out["voltage"] = volt
    out["rounds"] = [{"day": d["start_utc"][:10], **r} for d in days for r in d["rounds"]]
    out["unsolved"] = _merge_unsolved(days, "unsolved", "cp_id", per_day)
    out["unsolved_voltage"] = _merge_unsolved(days, "unsolved_voltage", "bus", per_day)
    out["days"] = [{
        "day": d["start_utc"][:10],
        "overload_energy_before_kwh": round(d["overload_energy_before_kwh"], 3),
        "overload_energy_after_kwh": round(d["overload_energy_after_kwh"], 3),
        "worst_loading_before_pct": round(d["worst_loading_before_pct"], 2),
        "worst_loading_after_pct": round(d["worst_loading_after_pct"], 2),
        "dso_cost_eur": round(d["dso_cost_eur"], 2), "dso_paid_eur": round(d["dso_paid_eur"], 2),
        "activated_energy_kwh": round(d["activated_energy_kwh"], 3), "n_awards": d["n_awards"],
    } for d in days]
    return out
