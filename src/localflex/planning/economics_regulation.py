"""The DSO's regulatory remuneration and the option it prefers under each regime.

Paper §5.1: the regulator (NRA) sets the DSO's allowed revenue (revenue cap); "traditionally,
remuneration schemes induced DSO to invest only in grid reinforcement", because capital
expenditure enters the regulated asset base (RAB) and earns the allowed return, while
operational expenditure — such as buying flexibility — is at best passed through. A *totex*
regime treats capex and opex alike (a fixed capitalisation rate of all expenditure goes to the
RAB) and lets the DSO keep a share of what it saves against an ex-ante allowance; *output-based
incentives* reward results such as congestion relieved without curtailing RES (hosting
capacity). This module computes, for each planning strategy of ``dso_economics``, the DSO's
allowed revenue and its profit under each regime, and so which option it prefers.

Model, per year ``y`` (costs in the annuitised form of the planning model, ``capex_y`` the
capital annuity and ``opex_y`` flexibility, curtailment and grid O&M), for a regime with
capitalisation rates ``c_capex``, ``c_opex``, allowed return ``r`` on the RAB over a
regulatory life ``L``, expensed-cost recovery ``ρ``, efficiency sharing ``σ`` against the
allowance ``A_y`` (the totex of the regime's benchmark strategy), output bonus ``b`` per MWh of
congestion relieved by flexibility and penalty ``k`` per MWh of curtailed RES:

* capitalised ``K_y = c_capex·capex_y + c_opex·opex_y`` enters the RAB; its remuneration
  (straight-line depreciation plus ``r`` on the remaining RAB over ``L`` years) is worth
  ``v·K_y`` at the DSO's cost of capital (WACC), ``v = Σ_{j=1..L} (1/L + r·(1 − (j−1)/L))
  / (1+WACC)^j`` (``v = 1`` when ``r`` equals the WACC);
* expensed ``E_y = (capex_y + opex_y) − K_y`` is recovered at ``ρ·E_y``;
* allowed revenue ``R_y = v·K_y + ρ·E_y + σ·(A_y − totex_y) + b·flex_mwh_y − k·curtailed_mwh_y``;
* the DSO's profit is ``Σ_y (R_y − totex_y)/(1+WACC)^y``; it prefers the strategy with the
  highest profit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from localflex.domain.errors import InputError

__all__ = [
    "DEFAULT_REGIMES",
    "RegulatoryRegime",
    "rab_value_per_eur",
    "regime_outcomes",
]


class RegulatoryRegime(BaseModel):
    """A remuneration regime (see the module docstring for the symbols)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    allowed_return: float = Field(0.065, ge=0, le=0.3, description="r: return on the RAB")
    capex_capitalisation: float = Field(1.0, ge=0, le=1, description="c_capex")
    opex_capitalisation: float = Field(0.0, ge=0, le=1, description="c_opex")
    regulatory_life_years: int = Field(40, ge=1, le=100, description="L: RAB depreciation")
    expensed_recovery: float = Field(
        1.0, ge=0, le=1, description="ρ: share of expensed cost recovered in allowed revenue")
    efficiency_sharing: float = Field(
        0.0, ge=0, le=1, description="σ: DSO's share of savings against the allowance")
    allowance_strategy: str = Field(
        "reinforce", description="strategy whose totex sets the ex-ante allowance")
    bonus_eur_per_mwh_flex: float = Field(
        0.0, ge=0, description="b: output bonus per MWh of congestion relieved by flexibility")
    penalty_eur_per_mwh_curtailed: float = Field(
        0.0, ge=0, description="k: output penalty per MWh of curtailed RES")


DEFAULT_REGIMES: tuple[RegulatoryRegime, ...] = (
    RegulatoryRegime(
        name="capex_biased", allowed_return=0.065, capex_capitalisation=1.0,
        opex_capitalisation=0.0, expensed_recovery=0.5,
    ),
    RegulatoryRegime(
        name="totex", allowed_return=0.065, capex_capitalisation=0.65,
        opex_capitalisation=0.65, expensed_recovery=1.0, efficiency_sharing=0.5,
    ),
    RegulatoryRegime(
        name="totex_output", allowed_return=0.065, capex_capitalisation=0.65,
        opex_capitalisation=0.65, expensed_recovery=1.0, efficiency_sharing=0.5,
        bonus_eur_per_mwh_flex=20.0, penalty_eur_per_mwh_curtailed=50.0,
    ),
)


def rab_value_per_eur(allowed_return: float, wacc: float, life_years: int) -> float:
    """Present value at ``wacc`` of the remuneration of 1 EUR put into the RAB (``v``)."""
    j = np.arange(1, life_years + 1)
    cash = 1.0 / life_years + allowed_return * (1.0 - (j - 1) / life_years)
    return float((cash / (1.0 + wacc) ** j).sum())


def regime_outcomes(
    yearly: pd.DataFrame,
    regimes: tuple[RegulatoryRegime, ...] | list[RegulatoryRegime],
    wacc: float,
) -> pd.DataFrame:
    """DSO revenue and profit per regime and strategy.

    ``yearly`` has one row per strategy and year with columns ``strategy``, ``year``,
    ``capex_eur``, ``opex_eur``, ``flex_mwh``, ``curtailed_mwh``. Returns one row per regime
    and strategy: ``regime``, ``strategy``, ``totex_pv_eur``, ``revenue_pv_eur``,
    ``profit_pv_eur``, ``preferred`` (True for the strategy the DSO picks under the regime).
    """
    strategies = list(dict.fromkeys(yearly["strategy"]))
    rows = []
    for regime in regimes:  # a handful of regimes × strategies
        if regime.allowance_strategy not in strategies:
            raise InputError(f"regimes[{regime.name}].allowance_strategy",
                             regime.allowance_strategy, f"one of {strategies}")
        v = rab_value_per_eur(regime.allowed_return, wacc, regime.regulatory_life_years)
        bench = yearly[yearly["strategy"] == regime.allowance_strategy].set_index("year")
        allowance = bench["capex_eur"] + bench["opex_eur"]
        for strategy in strategies:
            s = yearly[yearly["strategy"] == strategy].set_index("year")
            capex, opex = s["capex_eur"], s["opex_eur"]
            totex = capex + opex
            cap = regime.capex_capitalisation * capex + regime.opex_capitalisation * opex
            expensed = totex - cap
            revenue = (v * cap + regime.expensed_recovery * expensed
                       + regime.efficiency_sharing * (allowance.reindex(s.index) - totex)
                       + regime.bonus_eur_per_mwh_flex * s["flex_mwh"]
                       - regime.penalty_eur_per_mwh_curtailed * s["curtailed_mwh"])
            disc = (1.0 + wacc) ** -s.index.to_numpy(dtype=float)
            rows.append({
                "regime": regime.name,
                "strategy": strategy,
                "totex_pv_eur": float((totex.to_numpy() * disc).sum()),
                "revenue_pv_eur": float((revenue.to_numpy() * disc).sum()),
            })
    frame = pd.DataFrame(rows)
    frame["profit_pv_eur"] = frame["revenue_pv_eur"] - frame["totex_pv_eur"]
    best = frame.groupby("regime", sort=False)["profit_pv_eur"].transform("max")
    # ties: the first strategy in order wins
    frame["preferred"] = False
    for _regime, group in frame[frame["profit_pv_eur"] >= best - 1e-6].groupby(
            "regime", sort=False):
        frame.loc[group.index[0], "preferred"] = True
    return frame
