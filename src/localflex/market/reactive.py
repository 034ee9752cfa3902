"""The DSO as sole buyer of reactive power for voltage problems (paper §5.3, ref. [58]).

In ref. [58] the DSO runs a reactive power market to relieve voltage problems with the
distributed generation (inverters) of microgrids at the low-voltage level. Here: aggregators
offer reactive power at buses and ISPs (``Q_OFFER_COLUMNS``; ``up`` = inject reactive power,
capacitive, raises the local voltage; ``down`` = absorb, inductive, lowers it); the DSO states
its voltage needs (``VoltageNeeds`` of ``dso_single_buyer``) and buys the cheapest reactive
power that removes them without pushing another bus out of its band.

The clearing is the single-buyer engine of ``dso_single_buyer`` (same LP, same rules: price
cap, indivisible minimums, linked blocks, pay-as-bid or pay-as-clear per location) with kvar in
place of kW, EUR/Mvarh in place of EUR/MWh and ``dv_pu_per_kvar`` in place of the active-power
voltage sensitivity. The thermal effect of reactive power (it adds to the apparent power of
lines and transformers) is not constrained here; pass the result through a power flow.

Voltage-to-reactive-power sensitivities (``dv_pu_per_kvar[i, j]``: change of the voltage at bus
``i`` per kvar injected at bus ``j``):

* ``reactive_voltage_sensitivity(grid, loads, isp)`` — the reference: a central-difference
  perturbation (+-h kvar at every bus, 2B scenarios) solved as one batch with the public
  ``localflex.grid.run_power_flow`` (power-grid-model), exactly as ``grid.flow_sensitivity``
  does for active power. Error O(h^2); h = 1 kvar.
* ``dv_dq_from_dv_dp(dv_pu_per_kw, x_over_r)`` — a cheap approximation: along a feeder
  ``dV ~ (R dP + X dQ) / V``, so ``dV/dQ ~ (X/R) dV/dP`` for one X/R ratio of the paths. It is
  rough where lines of different X/R and the transformer share the path (SimBench MV cable
  feeders have X/R ~ 0.3-0.9 on lines but ~10+ at the HV/MV transformer). On 1-MV-rural--2-sw
  the self-sensitivities (diagonal) come out within a factor of a few with the median line X/R,
  but the cross-feeder entries, which run through the transformer, are wrong even in sign (dV/dP
  there is dominated by losses). Use the perturbation for clearing, the approximation only for
  screening.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from localflex.domain import InputError, OfferError, empty_frame
from localflex.grid import BusLoads, GridModel, run_power_flow
from localflex.market.dso_single_buyer import (
    Pricing,
    VoltageNeeds,
    clear_dso_single_buyer,
)
from localflex.market.outcome import MarketOutcome, prices_frame, single_buyer_fills

__all__ = [
    "Q_AWARD_COLUMNS",
    "Q_OFFER_COLUMNS",
    "ReactiveClearingResult",
    "clear_reactive_power",
    "dv_dq_from_dv_dp",
    "reactive_voltage_sensitivity",
]

Q_OFFER_COLUMNS: dict[str, tuple[str, str, str]] = {
    "offer_id": ("object", "-", "unique id of the offer"),
    "aggregator_id": ("object", "-", "the offering aggregator"),
    "bus": ("int64", "-", "grid bus index"),
    "isp": ("int64", "-", "ISP index"),
    "direction": ("object", "-", "'up' = inject (capacitive), 'down' = absorb (inductive)"),
    "max_power_kvar": ("float64", "kvar", "largest reactive volume offered"),
    "min_power_kvar": ("float64", "kvar", "smallest accepted volume if awarded (0 = divisible)"),
    "price_eur_per_mvarh": ("float64", "EUR/Mvarh", "price asked"),
    "der_type": ("object", "-", "DER family behind the offer (or 'mixed')"),
    "block_id": ("object", "-", "linked offers (as OFFER_COLUMNS); '' = a single offer"),
}
Q_AWARD_COLUMNS: dict[str, tuple[str, str, str]] = {
    "offer_id": ("object", "-", "the awarded offer"),
    "aggregator_id": ("object", "-", "who delivers"),
    "bus": ("int64", "-", "grid bus index"),
    "isp": ("int64", "-", "ISP index"),
    "direction": ("object", "-", "'up' (inject) or 'down' (absorb)"),
    "power_kvar": ("float64", "kvar", "awarded reactive volume"),
    "price_eur_per_mvarh": ("float64", "EUR/Mvarh", "price paid"),
    "cost_eur": ("float64", "EUR", "payment (kvar x ISP hours x price / 1000)"),
    "der_type": ("object", "-", "DER family behind the offer"),
}
_TO_ACTIVE = {"max_power_kvar": "max_power_kw", "min_power_kvar": "min_power_kw",
              "price_eur_per_mvarh": "price_eur_per_mwh"}


@dataclass(frozen=True)
class ReactiveClearingResult:
    """Awards (Q_AWARD_COLUMNS), uncovered voltage needs and location prices."""

    awards: pd.DataFrame
    voltage_shortfalls: pd.DataFrame
    merit_order: pd.DataFrame
    prices: pd.DataFrame  # location ('v:<bus>'), isp, kind, price_eur_per_mwh (= EUR/Mvarh)
    total_cost_eur: float
    solver_status: str
    solve_seconds: float
    isp_hours: float

    def outcome(self, dso_id: str = "dso") -> MarketOutcome:
        awards = self.awards.rename(columns={"price_eur_per_mvarh": "price_eur_per_mwh"})
        fills = single_buyer_fills(awards, mechanism="reactive_power", product="reactive_power",
                                   buyer_id=dso_id, isp_hours=self.isp_hours, unit="kvar",
                                   volume_column="power_kvar")
        prices = prices_frame({
            "mechanism": "reactive_power", "product": "reactive_power",
            "location": self.prices["location"].to_numpy(), "isp": self.prices["isp"].to_numpy(),
            "price_eur_per_mwh": self.prices["price_eur_per_mwh"].to_numpy(),
        })
        return MarketOutcome("reactive_power", fills, prices, self.total_cost_eur, 0.0,
                             float("nan"))


def clear_reactive_power(
    q_offers: pd.DataFrame,
    needs: VoltageNeeds,
    dv_pu_per_kvar: np.ndarray,
    *,
    n_isps: int,
    max_price_eur_per_mvarh: float | None = None,
    voltage_penalty_eur_per_pu: float = 1e7,
    pricing: Pricing | str = Pricing.PAY_AS_BID,
) -> ReactiveClearingResult:
    """Buy the cheapest reactive power that removes the voltage needs (module docstring).

    ``needs.dv_pu_per_kw`` is ignored: ``dv_pu_per_kvar`` ([B, B] or [T, B, B]) is used.
    """
    missing = [c for c in Q_OFFER_COLUMNS
               if c not in q_offers.columns and c not in ("der_type", "block_id")]
    if missing:
        raise OfferError("q_offers", missing, f"columns {list(Q_OFFER_COLUMNS)}")
    frame = q_offers.rename(columns=_TO_ACTIVE)
    result = clear_dso_single_buyer(
        frame, None, n_isps=n_isps, voltage=replace(needs, dv_pu_per_kw=dv_pu_per_kvar),
        max_price_eur_per_mwh=max_price_eur_per_mvarh,
        voltage_penalty_eur_per_pu=voltage_penalty_eur_per_pu, pricing=pricing,
    )
    back = {"power_kw": "power_kvar", "price_eur_per_mwh": "price_eur_per_mvarh"}
    awards = result.awards.rename(columns=back)
    awards = (awards[list(Q_AWARD_COLUMNS)] if len(awards) else empty_frame(Q_AWARD_COLUMNS))
    merit = result.merit_order.rename(columns={v: k for k, v in _TO_ACTIVE.items()}
                                      | {"accepted_kw": "accepted_kvar"})
    return ReactiveClearingResult(
        awards=awards, voltage_shortfalls=result.voltage_shortfalls, merit_order=merit,
        prices=result.prices, total_cost_eur=result.total_cost_eur,
        solver_status=result.solver_status, solve_seconds=result.solve_seconds,
        isp_hours=result.isp_hours,
    )


def reactive_voltage_sensitivity(
    grid: GridModel, loads: BusLoads, isp: int, *, step_kvar: float = 1.0
) -> np.ndarray:
    """dv_pu_per_kvar [B, B] around ISP ``isp`` by a +-h kvar perturbation at every bus.

    One batch of 2B power flows (``localflex.grid.run_power_flow``); active power held.
    Unsupplied buses get 0.
    """
    if not (isinstance(isp, int | np.integer) and 0 <= isp < loads.n_isps):
        raise InputError("isp", isp, f"an ISP index in 0..{loads.n_isps - 1}")
    if not (np.isfinite(step_kvar) and step_kvar > 0):
        raise InputError("step_kvar", step_kvar, "a positive step in kvar")
    n_bus = grid.n_buses
    eye = np.eye(n_bus) * step_kvar
    q = np.concatenate([loads.q_kvar[isp] - eye, loads.q_kvar[isp] + eye])  # inject +h, -h
    p = np.broadcast_to(loads.p_kw[isp], q.shape).copy()
    vm = run_power_flow(grid, BusLoads(p_kw=p, q_kvar=q)).bus_vm_pu
    dv = (vm[:n_bus] - vm[n_bus:]) / (2 * step_kvar)  # [j injected, i voltage]
    return np.nan_to_num(dv.T, nan=0.0)


def dv_dq_from_dv_dp(dv_pu_per_kw: np.ndarray, x_over_r: float | np.ndarray) -> np.ndarray:
    """Approximate dV/dQ as (X/R) * dV/dP (module docstring: screening only).

    ``x_over_r``: one ratio, or one per injecting bus [B] (column scaling).
    """
    ratio = np.asarray(x_over_r, dtype=float)
    if not (np.isfinite(ratio).all() and (ratio > 0).all()):
        raise InputError("x_over_r", x_over_r, "positive finite X/R ratio(s)")
    return np.asarray(dv_pu_per_kw, dtype=float) * ratio
