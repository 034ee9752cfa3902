"""DSO planning economics: flexibility versus reinforcement versus curtailment, per asset and year.

Paper §5.3: in FLECH the unit cost of flexibility (reservation plus activation) must stay below
the unit cost of new grid capacity to be worth buying; FlexMart (ref. [56]) has the DSO
minimise the sum of flexibility activation, line reinforcement and RES curtailment costs.
§5.1: short-term opex (flexibility) can defer long-term capex (reinforcement), and the
remuneration scheme decides whether the DSO wants that (``economics_regulation``).

Given an ``OverloadForecast`` (``economics_forecast``: overload per year and congestion point
under load/DER growth) and ``PlanningParameters`` (costs, WACC, growth), the cost of each option
for an overloaded asset ``c`` in year ``y`` is

* flexibility: ``reservation_eur_per_kw_year · peak_overload_kw[y, c] +
  activation_eur_per_mwh · overload_mwh[y, c]`` (FLECH: reserve the peak, activate the energy);
  infeasible (∞) when ``flex_max_share_of_rating`` is set and the peak overload exceeds that
  share of the asset's rating;
* curtailment: ``curtailment_eur_per_mwh`` × the feed-in driven overload energy; a demand
  driven overload cannot be curtailed (that would be load shedding) and is covered by
  flexibility at the flexibility prices;
* reinforcement: replace the asset by the smallest size in the cost table that carries the
  highest apparent power of the whole horizon (transformers: ``transformer_sizes_kva``, cost
  ``fixed + eur_per_kva · size``; lines: the ampacity classes of the line's voltage level,
  ``cost_eur_per_km · length``; several parallel units of the largest size if none is large
  enough); from the reinforcement year on, the DSO pays the annuity of the capex over the
  asset's lifetime at the WACC plus O&M (``reinforcement_opex_share_per_year`` · capex) and the
  asset no longer overloads.

Strategies (``PlanningStrategy``), each evaluated per asset (assets are treated as independent):

* ``reinforce``: traditional planning, reinforce in the first year the asset overloads;
* ``flex_only``: buy flexibility every year, never reinforce;
* ``curtail``: curtail RES (flexibility for demand-driven overload), never reinforce;
* ``flex_first``: buy flexibility, reinforce in the year that minimises the discounted cost
  (possibly never within the horizon);
* ``cheapest_mix``: per year the cheaper of flexibility and curtailment, then reinforce in the
  best year — the cheapest plan by construction.

The deferral value of flexibility per asset is the reinforcement year postponed by
``flex_first`` against ``reinforce`` (years) and the difference of their discounted costs
(EUR). Costs are discounted at the WACC to year 0; the capex of a reinforcement counts through
its annuities inside the horizon (so reinforcing late in the horizon is not penalised by a
lump sum whose use lies beyond it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from localflex.domain.errors import InputError
from localflex.planning.economics_forecast import OverloadForecast
from localflex.planning.economics_regulation import (
    DEFAULT_REGIMES,
    RegulatoryRegime,
    regime_outcomes,
)
from localflex.yaml_files import read_yaml

__all__ = [
    "PLANNING_STRATEGIES",
    "LineClass",
    "NetworkPlan",
    "PlanningParameters",
    "PlanningStrategy",
    "annuity_factor",
    "load_planning_parameters",
    "plan_network",
    "reinforcement_options",
]


class PlanningStrategy(StrEnum):
    REINFORCE = "reinforce"
    FLEX_ONLY = "flex_only"
    CURTAIL = "curtail"
    FLEX_FIRST = "flex_first"
    CHEAPEST_MIX = "cheapest_mix"


PLANNING_STRATEGIES: tuple[PlanningStrategy, ...] = tuple(PlanningStrategy)


class LineClass(BaseModel):
    """A cable/overhead-line class the DSO builds: up to ``max_voltage_kv``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_voltage_kv: float = Field(gt=0, description="highest nominal voltage it is used at")
    ampacity_ka: float = Field(gt=0, description="thermal current limit")
    cost_eur_per_km: float = Field(gt=0, description="installed cost incl. civil works")


_DEFAULT_LINE_CLASSES = [
    # LV cables (0.4 kV): NAYY 4x150, 4x240, two parallel 4x240
    LineClass(max_voltage_kv=1.0, ampacity_ka=0.27, cost_eur_per_km=90_000),
    LineClass(max_voltage_kv=1.0, ampacity_ka=0.357, cost_eur_per_km=110_000),
    LineClass(max_voltage_kv=1.0, ampacity_ka=0.714, cost_eur_per_km=200_000),
    # MV cables (10-20 kV): NA2XS2Y 1x150, 1x240, 1x400, two parallel 1x400
    LineClass(max_voltage_kv=36.0, ampacity_ka=0.319, cost_eur_per_km=125_000),
    LineClass(max_voltage_kv=36.0, ampacity_ka=0.417, cost_eur_per_km=140_000),
    LineClass(max_voltage_kv=36.0, ampacity_ka=0.535, cost_eur_per_km=165_000),
    LineClass(max_voltage_kv=36.0, ampacity_ka=1.07, cost_eur_per_km=310_000),
]
_DEFAULT_TRAFO_SIZES_KVA = [100, 160, 250, 400, 630, 800, 1000, 1250, 1600, 2000, 2500,
                            6300, 10000, 16000, 25000, 31500, 40000, 63000]


class PlanningParameters(BaseModel):
    """Every number of the planning study; unknown keys are rejected (``--costs`` file).

    Defaults are round, documented planning figures, meant to be replaced by a DSO's own.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    load_growth_per_year: float = Field(0.01, gt=-0.5, le=1.0,
                                        description="yearly growth of every load (0.01 = 1 %)")
    der_growth_per_year: float = Field(0.03, gt=-0.5, le=1.0,
                                       description="yearly growth of generation and storage")
    wacc: float = Field(0.05, ge=0, le=0.3, description="discount rate and cost of capital")
    flex_reservation_eur_per_kw_year: float = Field(15.0, ge=0)
    flex_activation_eur_per_mwh: float = Field(150.0, ge=0)
    flex_max_share_of_rating: float | None = Field(
        None, gt=0, description="flexibility can cover at most this share of the rating")
    curtailment_eur_per_mwh: float = Field(100.0, ge=0,
                                           description="compensation per MWh of curtailed RES")
    transformer_sizes_kva: list[float] = Field(
        default_factory=lambda: list(map(float, _DEFAULT_TRAFO_SIZES_KVA)), min_length=1)
    transformer_fixed_eur: float = Field(10_000.0, ge=0, description="per unit installed")
    transformer_eur_per_kva: float = Field(40.0, ge=0)
    transformer_lifetime_years: int = Field(40, ge=1, le=100)
    line_classes: list[LineClass] = Field(default_factory=lambda: list(_DEFAULT_LINE_CLASSES),
                                          min_length=1)
    line_lifetime_years: int = Field(40, ge=1, le=100)
    reinforcement_opex_share_per_year: float = Field(0.01, ge=0, le=0.2)
    regimes: list[RegulatoryRegime] = Field(default_factory=lambda: list(DEFAULT_REGIMES))

    @field_validator("transformer_sizes_kva")
    @classmethod
    def _sizes(cls, sizes: list[float]) -> list[float]:
        if any(s <= 0 for s in sizes):
            raise ValueError("transformer sizes must be positive kVA")
        return sorted(sizes)

    @field_validator("regimes")
    @classmethod
    def _regimes(cls, regimes: list[RegulatoryRegime]) -> list[RegulatoryRegime]:
        names = [r.name for r in regimes]
        if len(set(names)) != len(names):
            raise ValueError(f"regime names must be unique: {names}")
        for r in regimes:
            if r.allowance_strategy not in set(PlanningStrategy):
                raise ValueError(f"regime {r.name!r}: allowance_strategy must be one of "
                                 f"{[s.value for s in PlanningStrategy]}")
        return regimes


def _validation_error(exc: ValidationError, source: str) -> InputError:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or source
    if err["type"] == "extra_forbidden":
        expected = "no such key (see PlanningParameters)"
    else:
        expected = str(err["msg"]).removeprefix("Value error, ")
    return InputError(field, err.get("input"), expected)


def load_planning_parameters(
    path: str | Path | None = None, **overrides: object
) -> PlanningParameters:
    """Parameters from a YAML file (optional) with ``overrides`` on top (None values ignored);
    InputError names the first bad field."""
    data: dict = {}
    if path is not None:
        loaded = read_yaml(path, "costs")
        if loaded is not None and not isinstance(loaded, dict):
            raise InputError("costs", type(loaded).__name__, "a mapping of planning parameters")
        data = dict(loaded or {})
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return PlanningParameters.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc, "costs") from None


def annuity_factor(rate: float, years: int) -> float:
    """Capital recovery factor: yearly payment per EUR of capex over ``years`` at ``rate``."""
    if rate == 0:
        return 1.0 / years
    growth = (1.0 + rate) ** years
    return rate * growth / (growth - 1.0)


def reinforcement_options(forecast: OverloadForecast, params: PlanningParameters) -> pd.DataFrame:
    """Per congestion point: the replacement that carries the horizon's peak, and its cost.

    Columns: ``cp_id``, ``kind``, ``rated_kva``, ``required_kva`` (horizon peak at the
    element's loading limit), ``new_unit_kva`` (transformer size, or line class as kVA at the
    line voltage), ``units`` (parallel units), ``capex_eur``, ``lifetime_years``,
    ``annual_cost_eur`` (annuity + O&M).
    """
    cps = forecast.cps
    limit = cps["max_loading_pct"].to_numpy(dtype=float) / 100.0
    required = forecast.peak_kva.max(axis=0) / limit
    is_trafo = (cps["kind"] == "trafo").to_numpy()
    vn = cps["vn_kv"].to_numpy(dtype=float)
    length = cps["length_km"].to_numpy(dtype=float)

    sizes = np.asarray(params.transformer_sizes_kva)
    pos = np.searchsorted(sizes, required, side="left")
    fits = pos < sizes.size
    t_unit = np.where(fits, sizes[np.minimum(pos, sizes.size - 1)], sizes[-1])
    t_units = np.where(fits, 1, np.ceil(required / sizes[-1]))
    t_capex = t_units * (params.transformer_fixed_eur + params.transformer_eur_per_kva * t_unit)

    classes = pd.DataFrame([c.model_dump() for c in params.line_classes])
    l_unit = np.zeros(len(cps))
    l_units = np.ones(len(cps))
    l_capex = np.zeros(len(cps))
    for i in np.flatnonzero(~is_trafo):  # per line; only lines of one or two voltage levels
        level = classes[classes["max_voltage_kv"] >= vn[i]]
        if level.empty:
            raise InputError("line_classes", f"{vn[i]} kV",
                             f"a line class for {cps['cp_id'].iloc[i]} (max_voltage_kv >= "
                             f"{vn[i]})")
        level = level[level["max_voltage_kv"] == level["max_voltage_kv"].min()]
        level = level.sort_values("ampacity_ka")
        kva = np.sqrt(3) * vn[i] * level["ampacity_ka"].to_numpy() * 1e3
        ok = np.flatnonzero(kva >= required[i])
        j = int(ok[0]) if ok.size else len(level) - 1
        l_units[i] = 1 if ok.size else np.ceil(required[i] / kva[-1])
        l_unit[i] = kva[j]
        l_capex[i] = l_units[i] * level["cost_eur_per_km"].to_numpy()[j] * length[i]

    capex = np.where(is_trafo, t_capex, l_capex)
    life = np.where(is_trafo, params.transformer_lifetime_years, params.line_lifetime_years)
    annuity = np.array([annuity_factor(params.wacc, int(n)) for n in life])
    return pd.DataFrame({
        "cp_id": cps["cp_id"].to_numpy(),
        "kind": cps["kind"].to_numpy(),
        "rated_kva": cps["rated_kva"].to_numpy(dtype=float),
        "required_kva": required,
        "new_unit_kva": np.where(is_trafo, t_unit, l_unit),
        "units": np.where(is_trafo, t_units, l_units).astype(np.int64),
        "capex_eur": capex,
        "lifetime_years": life.astype(np.int64),
        "annual_cost_eur": capex * (annuity + params.reinforcement_opex_share_per_year),
    })


@dataclass(frozen=True, eq=False)
class NetworkPlan:
    """The planning answer.

    * ``assets``: one row per asset that overloads in the horizon — reinforcement option
      (``reinforcement_options`` columns), ``first_overload_year``, ``reinforce_year_<s>`` per
      strategy (= years when never), ``pv_<s>_eur``, ``deferral_years``,
      ``deferred_beyond_horizon``, ``deferral_value_eur``;
    * ``decisions``: per strategy, asset and year: ``overload_mwh``, ``peak_overload_kw``,
      ``flex_cost_eur``, ``curtail_cost_eur``, ``reinforce_annual_eur``, ``decision`` (none |
      flex | curtail | reinforce | reinforced), ``cost_eur``;
    * ``yearly``: per strategy and year (all assets): ``capex_eur`` (annuities), ``grid_opex_eur``,
      ``flex_eur``, ``curtail_eur``, ``opex_eur``, ``cost_eur``, ``discounted_eur``,
      ``cumulative_discounted_eur``, ``flex_mwh``, ``curtailed_mwh``;
    * ``strategies``: per strategy ``total_pv_eur`` and its parts, ``assets_reinforced``;
    * ``regimes``: ``regime_outcomes`` (DSO revenue and profit per regime and strategy);
    * ``recommended``: the cheapest strategy (ties go to the simpler one, in
      PLANNING_STRATEGIES order).
    """

    params: PlanningParameters
    forecast: OverloadForecast
    assets: pd.DataFrame
    decisions: pd.DataFrame
    yearly: pd.DataFrame
    strategies: pd.DataFrame
    regimes: pd.DataFrame
    recommended: PlanningStrategy

    @property
    def deferral_value_eur(self) -> float:
        return float(self.assets["deferral_value_eur"].sum()) if len(self.assets) else 0.0

    def preferred_by_regime(self) -> dict[str, str]:
        rows = self.regimes[self.regimes["preferred"]]
        return dict(zip(rows["regime"], rows["strategy"], strict=True))


def _choose_year(cost_by_year: np.ndarray) -> np.ndarray:
    """Index of the cheapest reinforcement year per asset (first on ties) from [Y+1, C]."""
    return np.argmin(np.where(np.isnan(cost_by_year), np.inf, cost_by_year), axis=0)


def plan_network(forecast: OverloadForecast, params: PlanningParameters) -> NetworkPlan:
    """Cost of each option per asset and year, the strategies, deferral, regimes (module doc)."""
    n_years = forecast.years
    years = np.arange(n_years)
    disc = (1.0 + params.wacc) ** -years.astype(float)
    over = forecast.overload_mwh
    overloaded_any = (over > 0) | (forecast.peak_overload_kw > 0)
    mask = overloaded_any.any(axis=0)
    options = reinforcement_options(forecast, params)[mask].reset_index(drop=True)
    sel = np.flatnonzero(mask)
    n_assets = sel.size

    e_all = over[:, sel]
    e_feed = forecast.feedin_overload_mwh[:, sel]
    e_dem = np.maximum(e_all - e_feed, 0.0)
    pk = forecast.peak_overload_kw[:, sel]
    pk_dem = forecast.peak_demand_overload_kw[:, sel]
    p = params
    flex = p.flex_reservation_eur_per_kw_year * pk + p.flex_activation_eur_per_mwh * e_all
    demand_flex = p.flex_reservation_eur_per_kw_year * pk_dem + p.flex_activation_eur_per_mwh \
        * e_dem
    if p.flex_max_share_of_rating is not None:
        cap_kw = p.flex_max_share_of_rating * options["rated_kva"].to_numpy()[None, :]
        flex = np.where(pk > cap_kw + 1e-9, np.inf, flex)
        demand_flex = np.where(pk_dem > cap_kw + 1e-9, np.inf, demand_flex)
    curtail = p.curtailment_eur_per_mwh * e_feed + demand_flex
    annual = options["annual_cost_eur"].to_numpy()
    first = np.where(overloaded_any[:, sel].any(axis=0),
                     np.argmax(overloaded_any[:, sel], axis=0), n_years)

    cum_disc = np.concatenate([[0.0], np.cumsum(disc)])
    tail = cum_disc[-1] - cum_disc  # [Y+1] discounted years from y* to the end
    use_flex_mix = flex <= curtail
    mixes = {
        PlanningStrategy.REINFORCE: (flex, np.ones_like(flex, dtype=bool)),
        PlanningStrategy.FLEX_ONLY: (flex, np.ones_like(flex, dtype=bool)),
        PlanningStrategy.CURTAIL: (curtail, np.zeros_like(flex, dtype=bool)),
        PlanningStrategy.FLEX_FIRST: (flex, np.ones_like(flex, dtype=bool)),
        PlanningStrategy.CHEAPEST_MIX: (np.minimum(flex, curtail), use_flex_mix),
    }
    yearly_rows, decision_frames, pv = [], [], {}
    assets = options.assign(first_overload_year=first)
    for strategy, (op, use_flex) in mixes.items():
        with np.errstate(invalid="ignore"):
            cum_op = np.concatenate([np.zeros((1, n_assets)),
                                     np.cumsum(disc[:, None] * op, axis=0)])
        by_year = cum_op + annual[None, :] * tail[:, None]  # [Y+1, C]
        if strategy is PlanningStrategy.REINFORCE:
            ystar = first
        elif strategy in (PlanningStrategy.CURTAIL, PlanningStrategy.FLEX_ONLY):
            ystar = np.full(n_assets, n_years)
        else:
            ystar = _choose_year(by_year)
        pv[strategy] = by_year[ystar, np.arange(n_assets)] if n_assets else np.zeros(0)
        reinforced = years[:, None] >= ystar[None, :]
        pre = ~reinforced
        grid_opex_y = np.where(reinforced, p.reinforcement_opex_share_per_year
                               * options["capex_eur"].to_numpy()[None, :], 0.0)
        capex_y = np.where(reinforced, annual[None, :], 0.0) - grid_opex_y
        flex_part = np.where(pre & use_flex, flex, 0.0) + np.where(pre & ~use_flex, demand_flex,
                                                                   0.0)
        curt_part = np.where(pre & ~use_flex, p.curtailment_eur_per_mwh * e_feed, 0.0)
        flex_mwh = np.where(pre & use_flex, e_all, 0.0) + np.where(pre & ~use_flex, e_dem, 0.0)
        curt_mwh = np.where(pre & ~use_flex, e_feed, 0.0)
        cost = capex_y + grid_opex_y + flex_part + curt_part
        has_over = (e_all > 0) | (pk > 0)
        decision = np.where(
            reinforced,
            np.where(years[:, None] == ystar[None, :], "reinforce", "reinforced"),
            np.where(~has_over, "none", np.where(use_flex, "flex", "curtail")),
        )
        decision_frames.append(pd.DataFrame({
            "strategy": strategy.value,
            "year": np.repeat(years, n_assets),
            "cp_id": np.tile(options["cp_id"].to_numpy(), n_years),
            "overload_mwh": e_all.ravel(),
            "peak_overload_kw": pk.ravel(),
            "flex_cost_eur": flex.ravel(),
            "curtail_cost_eur": curtail.ravel(),
            "reinforce_annual_eur": np.tile(annual, n_years),
            "decision": decision.ravel(),
            "cost_eur": cost.ravel(),
        }))
        totals = {
            "capex_eur": capex_y.sum(axis=1), "grid_opex_eur": grid_opex_y.sum(axis=1),
            "flex_eur": flex_part.sum(axis=1), "curtail_eur": curt_part.sum(axis=1),
            "flex_mwh": flex_mwh.sum(axis=1), "curtailed_mwh": curt_mwh.sum(axis=1),
        }
        frame = pd.DataFrame({"strategy": strategy.value, "year": years, **totals})
        frame["opex_eur"] = frame["grid_opex_eur"] + frame["flex_eur"] + frame["curtail_eur"]
        frame["cost_eur"] = frame["capex_eur"] + frame["opex_eur"]
        frame["discounted_eur"] = frame["cost_eur"] * disc
        frame["cumulative_discounted_eur"] = frame["discounted_eur"].cumsum()
        yearly_rows.append(frame)
        assets[f"reinforce_year_{strategy.value}"] = ystar
        assets[f"pv_{strategy.value}_eur"] = pv[strategy]

    yearly = pd.concat(yearly_rows, ignore_index=True)
    decisions = pd.concat(decision_frames, ignore_index=True)
    assets["deferral_years"] = assets[f"reinforce_year_{PlanningStrategy.FLEX_FIRST}"] - first
    assets["deferred_beyond_horizon"] = assets[f"reinforce_year_{PlanningStrategy.FLEX_FIRST}"] \
        >= n_years
    assets["deferral_value_eur"] = (assets[f"pv_{PlanningStrategy.REINFORCE}_eur"]
                                    - assets[f"pv_{PlanningStrategy.FLEX_FIRST}_eur"])

    def part(column: str) -> pd.Series:
        return (yearly[column] * disc[yearly["year"].to_numpy()]).groupby(
            yearly["strategy"], sort=False).sum()

    strategies = pd.DataFrame({
        "total_pv_eur": part("cost_eur"),
        "capex_pv_eur": part("capex_eur"),
        "grid_opex_pv_eur": part("grid_opex_eur"),
        "flex_pv_eur": part("flex_eur"),
        "curtail_pv_eur": part("curtail_eur"),
        "flex_mwh": yearly.groupby("strategy", sort=False)["flex_mwh"].sum(),
        "curtailed_mwh": yearly.groupby("strategy", sort=False)["curtailed_mwh"].sum(),
        "assets_reinforced": pd.Series({
            s.value: int((assets[f"reinforce_year_{s}"] < n_years).sum())
            for s in PLANNING_STRATEGIES}),
    })
    strategies.index.name = "strategy"
    strategies["feasible"] = np.isfinite(strategies["total_pv_eur"])
    feasible = strategies.index[strategies["feasible"]]
    totals_pv = strategies.loc[feasible, "total_pv_eur"]
    best = totals_pv.min()
    recommended = PlanningStrategy(next(s.value for s in PLANNING_STRATEGIES
                                if s.value in feasible and totals_pv[s.value] <= best + 0.5))
    regimes = regime_outcomes(yearly[yearly["strategy"].isin(feasible)], params.regimes,
                              params.wacc)
    return NetworkPlan(params, forecast, assets, decisions, yearly, strategies.reset_index(),
                       regimes, recommended)
