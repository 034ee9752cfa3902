"""The study file: a sweep of market days over grids, designs, parameters, seeds and dates.

Paper §7 asks what each market design is worth; one day on one feeder cannot say. A study
names a base scenario (``localflex.sim.scenario``) and the axes it sweeps:

* ``grids``: SimBench codes (default: the base scenario's grid);
* ``designs``: market designs of ``localflex.market.designs`` (``"all"`` or names), and
  ``dso_market_day``, the DSO's own market day of ``localflex run`` (``sim.engine``: the
  single buyer's network-aware clearing with voltage, in verified rounds), by name only;
* ``parameters``: any scenario key by dotted path (``ders.ev_share_of_households``,
  ``grid.sgen_scale``, ``market.price_cap_eur_per_mwh``, ...) or any design parameter as
  ``design.<key>`` (``design.n_brps``, ``design.thresholds.red_factor``), each with a list of
  values, the forecast-error scale as ``forecast.error_scale``, or the bidding as
  ``bidding.strategy`` / ``bidding.aggregators``; the study takes their Cartesian product;
* ``bidding``: how the aggregators bid (``aggregator.strategies``: ``cost``, ``markup:X``,
  ``learn``, ``best-response[:ROUNDS]``; default ``scenario``, the scenario's markups) and
  optionally ``aggregators: N``, the DERs pooled by N equal aggregators (market
  concentration, paper §7). A learning strategy's state is carried across the days of a
  cell;
* ``seeds`` and ``dates`` (date ranges, both ends included, up to a year each).

Every combination is a **cell** with a stable id (a hash of everything that defines it,
the base scenario included), so a rerun finds the cells it already finished. The schema
forbids unknown keys; every cell's scenario and design parameters are validated when the
study is loaded, so a bad value is refused before any cell runs (``StudyError`` names the
key).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from localflex.domain import InputError

__all__ = [
    "MAX_RANGE_DAYS",
    "BiddingSpec",
    "Cell",
    "DateRange",
    "DeliverySpec",
    "ForecastSpec",
    "Study",
    "StudyError",
    "expand_cells",
    "load_study",
    "parse_study",
]

MAX_RANGE_DAYS = 366
"""A date range covers at most a (leap) year."""


class StudyError(InputError):
    """A study file that does not validate (names the key, the value and what was expected)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DateRange(_Strict):
    start: date = Field(description="first market day (UTC)")
    end: date = Field(description="last market day, included")

    @field_validator("end")
    @classmethod
    def _ordered(cls, end: date, info) -> date:
        start = info.data.get("start")
        if start is not None:
            if end < start:
                raise ValueError(f"end {end} before start {start}")
            if (end - start).days + 1 > MAX_RANGE_DAYS:
                raise ValueError(f"a range of at most {MAX_RANGE_DAYS} days")
        return end

    def days(self) -> list[date]:
        n = (self.end - self.start).days + 1
        return [self.start + timedelta(days=i) for i in range(n)]

    @property
    def label(self) -> str:
        return f"{self.start}..{self.end}"


class DeliverySpec(_Strict):
    """How the delivery check settles each day (``localflex.settlement.delivery``)."""

    tolerance_share: float = Field(0.1, ge=0, lt=1)
    under_delivery: str = Field("penalty", pattern="^(pay_delivered|penalty)$")
    penalty_factor: float = Field(1.0, ge=0)
    baseline: str = Field(
        "intraday", pattern="^(intraday|day_ahead)$",
        description="'intraday': the aggregators re-declare their baseline close to delivery "
        "(1 h-ahead error); 'day_ahead': the forecast declared with the offers")


class ForecastSpec(_Strict):
    """The forecast-error assumption of ``der.forecast`` and how far to scale it."""

    error_scale: float = Field(
        1.0, ge=0, description="multiplier on every family's error std (0: perfect forecast)")


class BiddingSpec(_Strict):
    """How the aggregators bid across the days of a cell (``aggregator.strategies``)."""

    strategy: str = Field(
        "scenario", description="'scenario' (the scenario's markups), 'cost', 'markup:X', "
        "'learn' or 'best-response[:ROUNDS]'")
    aggregators: int | None = Field(
        None, ge=1, le=100, description="pool the DERs into N equal aggregators agg1..aggN")

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, text: str) -> str:
        if text != "scenario":
            from localflex.aggregator.strategies import parse_strategy

            try:
                parse_strategy(text)
            except InputError as exc:
                raise ValueError(f"'scenario' or {exc.expected}") from None
        return text


class Study(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    scenario: str | dict[str, Any] = Field(
        description="base scenario: a YAML path (relative to the study file) or inline")
    grids: list[str] | None = Field(None, min_length=1)
    designs: list[str] | str = "all"
    parameters: dict[str, list[Any]] = Field(default_factory=dict)
    design_params: dict[str, Any] = Field(
        default_factory=dict, description="base design parameters (DesignParams fields)")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    dates: list[DateRange] = Field(min_length=1)
    intraday: bool = Field(True, description="clear the residual closer to delivery")
    delivery: DeliverySpec = DeliverySpec()
    forecast: ForecastSpec = ForecastSpec()
    bidding: BiddingSpec = BiddingSpec()

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int]) -> list[int]:
        if any(s < 0 for s in seeds):
            raise ValueError("seeds >= 0")
        if len(set(seeds)) != len(seeds):
            raise ValueError("distinct seeds")
        return seeds

    @field_validator("parameters")
    @classmethod
    def _values(cls, parameters: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in parameters.items():
            if not values:
                raise ValueError(f"at least one value for {key}")
        return parameters


@dataclass(frozen=True)
class Cell:
    """One combination of a study: a scenario, a design and a date range, with a stable id."""

    cell_id: str
    design: str
    grid: str
    seed: int
    dates: DateRange
    parameters: dict[str, Any]  # the swept values of this cell (dotted keys)
    scenario: dict[str, Any]  # the full scenario mapping (validated)
    design_params: dict[str, Any]  # DesignParams mapping (validated)
    intraday: bool
    delivery: dict[str, Any]
    forecast: dict[str, Any]
    bidding: dict[str, Any]

    def days(self) -> list[date]:
        return self.dates.days()

    def meta(self) -> dict[str, Any]:
        """The columns that name the cell in every result row."""
        return {"cell_id": self.cell_id, "design": self.design, "grid": self.grid,
                "seed": self.seed, "date_range": self.dates.label,
                **{f"param:{k}": _scalar(v) for k, v in self.parameters.items()}}


def _scalar(value: Any) -> Any:
    return value if isinstance(value, int | float | str | bool) else json.dumps(value)


def _first_error(exc: ValidationError, prefix: str = "") -> tuple[str, Any, str]:
    from localflex.sim.scenario import first_validation_error

    return first_validation_error(exc, "study", prefix=prefix)


def parse_study(data: object, base_dir: Path | None = None, source: str = "study") -> Study:
    """Validate a parsed study mapping; raise StudyError naming the first bad key."""
    if not isinstance(data, dict):
        raise StudyError(source, type(data).__name__, "a mapping of study keys")
    try:
        study = Study.model_validate(data)
    except ValidationError as exc:
        raise StudyError(*_first_error(exc)) from None
    expand_cells(study, base_dir)  # validates every cell's scenario and design parameters
    return study


def _read_yaml(path: Path, field: str, shown: str) -> Any:
    if not path.is_file():
        raise StudyError(field, shown, "an existing YAML file")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise StudyError(field, shown, f"valid YAML ({exc})") from None


def load_study(path: str | Path) -> tuple[Study, Path]:
    """Read and validate a study YAML file; returns it with its folder (for relative paths)."""
    path = Path(path)
    data = _read_yaml(path, "study", str(path))
    base_dir = path.resolve().parent
    return parse_study(data, base_dir, source=str(path)), base_dir


def _base_scenario(study: Study, base_dir: Path | None) -> dict[str, Any]:
    if isinstance(study.scenario, dict):
        return dict(study.scenario)
    path = Path(study.scenario)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    data = _read_yaml(path, "scenario", study.scenario)
    if not isinstance(data, dict):
        raise StudyError("scenario", study.scenario, "a mapping of scenario keys")
    return data


def _set_dotted(mapping: dict[str, Any], dotted: str, value: Any, where: str) -> None:
    keys = dotted.split(".")
    node = mapping
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise StudyError(where, dotted, f"a path through mappings ({key!r} is a value)")
        node = child
    node[keys[-1]] = value


def _copy(data: Any) -> Any:
    return json.loads(json.dumps(data, default=str))


def _validated_scenario(data: dict[str, Any], param_keys: dict[str, str]) -> dict[str, Any]:
    from localflex.domain import ScenarioError
    from localflex.sim.scenario import parse_scenario

    try:
        scenario = parse_scenario(data)
    except ScenarioError as exc:
        # a swept key reports under ``parameters.<key>`` so the user finds it in the study
        field = next((param_keys[k] for k in param_keys
                      if exc.field == k or exc.field.startswith(k + ".")),
                     f"scenario.{exc.field}")
        raise StudyError(field, exc.value, exc.expected) from None
    return scenario.model_dump(mode="json")


def _validated_section(model: type[_Strict], prefix: str, data: dict[str, Any],
                       swept: list[str]) -> dict[str, Any]:
    """A ``forecast`` / ``bidding`` section with its swept values; a bad swept value is
    reported under ``parameters.<key>``."""
    try:
        return model.model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        field, value, expected = _first_error(exc, prefix)
        if field in swept:
            field = f"parameters.{field}"
        raise StudyError(field, value, expected) from None


def _validated_design_params(data: dict[str, Any], source: str) -> dict[str, Any]:
    from localflex.market.designs import design_params_from_mapping

    try:
        design_params_from_mapping(data, source=source)
    except InputError as exc:
        raise StudyError(exc.field, exc.value, exc.expected) from None
    return data


def _check_grid_codes(grids: list[str], where: str) -> None:
    from localflex.grid import known_codes

    known = known_codes()
    for i, code in enumerate(grids):
        if code not in known:
            raise StudyError(f"{where}[{i}]" if where == "grids" else where, code,
                             "a SimBench code such as '1-LV-rural1--2-sw'")


def cell_id(definition: dict[str, Any]) -> str:
    """Stable id of a cell: design, seed and a hash of its full definition."""
    digest = hashlib.sha256(json.dumps(definition, sort_keys=True, default=str)
                            .encode("utf-8")).hexdigest()[:12]
    return f"{definition['design']}-s{definition['seed']}-{digest}"


def expand_cells(study: Study, base_dir: Path | None = None) -> list[Cell]:
    """Every combination grid × design × parameters × seed × date range, in a fixed order."""
    from localflex.market.designs import resolve_designs
    from localflex.sim.engine import DSO_MARKET_DAY

    names = (study.designs if isinstance(study.designs, list)
             else [n.strip() for n in study.designs.split(",") if n.strip()])
    try:
        if DSO_MARKET_DAY in names:  # the DSO's own market day (sim.engine), by name only
            designs = list(dict.fromkeys(
                d for n in names for d in ([n] if n == DSO_MARKET_DAY else resolve_designs([n]))))
        else:
            designs = resolve_designs(study.designs)
    except InputError as exc:
        raise StudyError("designs", exc.value,
                         f"{exc.expected}, or {DSO_MARKET_DAY}") from None
    base = _base_scenario(study, base_dir)
    _validated_scenario(base, {})
    grids = study.grids or [str(base.get("grid", {}).get("simbench_code"))]
    _check_grid_codes(grids, "grids" if study.grids else "scenario.grid.simbench_code")
    keys = list(study.parameters)
    for key in keys:
        if key.startswith("design.") and len(key) <= len("design."):
            raise StudyError(f"parameters.{key}", key, "design.<DesignParams field>")
    combos = list(itertools.product(*(study.parameters[k] for k in keys))) or [()]
    cells: list[Cell] = []
    scenario_cache: dict[str, dict[str, Any]] = {}
    for grid, combo in itertools.product(grids, combos):
        values = dict(zip(keys, combo, strict=True))
        scen = _copy(base)
        _set_dotted(scen, "grid.simbench_code", grid, "grids")
        dparams = _copy(study.design_params)
        forecast = study.forecast.model_dump(mode="json")
        bidding = study.bidding.model_dump(mode="json")
        param_keys: dict[str, str] = {}
        for key, value in values.items():
            if key.startswith("design."):
                _set_dotted(dparams, key.removeprefix("design."), value, f"parameters.{key}")
            elif key.startswith("forecast."):
                _set_dotted(forecast, key.removeprefix("forecast."), value,
                            f"parameters.{key}")
            elif key.startswith("bidding."):
                _set_dotted(bidding, key.removeprefix("bidding."), value, f"parameters.{key}")
            else:
                _set_dotted(scen, key, value, f"parameters.{key}")
                param_keys[key] = f"parameters.{key}"
        forecast = _validated_section(ForecastSpec, "forecast", forecast, keys)
        bidding = _validated_section(BiddingSpec, "bidding", bidding, keys)
        if DSO_MARKET_DAY in designs and bidding.get("strategy", "scenario") != "scenario":
            raise StudyError("bidding.strategy", bidding["strategy"],
                             f"'scenario' when designs include {DSO_MARKET_DAY}")
        token = json.dumps([scen, dparams], sort_keys=True, default=str)
        if token not in scenario_cache:
            scen = _validated_scenario(scen, param_keys)
            dparams = _validated_design_params(dparams, "design_params")
            scenario_cache[token] = scen
        scen = scenario_cache[token]
        for design, seed, dates in itertools.product(designs, study.seeds, study.dates):
            definition = {"design": design, "grid": grid, "seed": seed,
                          "dates": [str(dates.start), str(dates.end)],
                          "scenario": scen, "design_params": dparams,
                          "intraday": study.intraday,
                          "delivery": study.delivery.model_dump(mode="json")}
            if forecast != ForecastSpec().model_dump(mode="json"):
                definition["forecast"] = forecast  # ids of studies without it stay as they were
            if bidding != BiddingSpec().model_dump(mode="json"):
                definition["bidding"] = bidding
            definition["der_state"] = "carried"  # days chain their DER state (new numbers)
            cells.append(Cell(cell_id(definition), design, grid, seed, dates, values, scen,
                              dparams, study.intraday, definition["delivery"], forecast,
                              bidding))
    return cells
