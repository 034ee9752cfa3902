"""Wind turbines as a flexibility source: curtailment only (paper §2, Fig. 1 "DG", Fig. 2).

Like PV (``localflex.der.pv``), a wind turbine can only lower its output: pitch control
curtails it below the power the wind offers. In localflex's sign convention (UP = more
injection) that is ``DOWN`` flexibility only: ``down_kw`` = the available generation,
``up_kw`` = 0. Curtailment has no state, hence no rebound and no inter-temporal coupling.

The available generation comes from a per-unit profile (e.g. the SimBench ``Wind_MV`` sgen
profiles times the installed power) or from wind speed through a parametric power curve
(``power_curve_pu``)::

    p(v) = 0                                    v < v_in or v >= v_out
    p(v) = (v³ − v_in³) / (v_rated³ − v_in³)    v_in <= v < v_rated
    p(v) = 1                                    v_rated <= v < v_out

with defaults ``v_in = 3``, ``v_rated = 12``, ``v_out = 25`` m/s (a generic 2–3 MW class
onshore turbine; the cubic segment follows the kinetic power of the wind, ``P ∝ v³``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from localflex.der import _validate as v
from localflex.der.pv import PvFleet
from localflex.domain import DerType, InputError, TimeGrid

__all__ = ["WindFleet", "power_curve_pu"]


def power_curve_pu(
    wind_speed_m_s: Any,
    cut_in_m_s: float = 3.0,
    rated_m_s: float = 12.0,
    cut_out_m_s: float = 25.0,
) -> np.ndarray:
    """Output in per unit of rated power for hub-height wind speeds (see module docstring)."""
    if not 0.0 <= cut_in_m_s < rated_m_s <= cut_out_m_s:
        raise InputError("power_curve", (cut_in_m_s, rated_m_s, cut_out_m_s),
                         "0 <= cut_in_m_s < rated_m_s <= cut_out_m_s")
    speed = np.asarray(wind_speed_m_s, dtype=float)
    if np.isnan(speed).any() or (speed < 0).any():
        raise InputError("wind_speed_m_s", speed[np.isnan(speed) | (speed < 0)][0].item(),
                         "a wind speed >= 0 m/s")
    cubic = (speed**3 - cut_in_m_s**3) / (rated_m_s**3 - cut_in_m_s**3)
    return np.where(speed < cut_in_m_s, 0.0,
                    np.where(speed < rated_m_s, cubic, np.where(speed < cut_out_m_s, 1.0, 0.0)))


class WindFleet(PvFleet):
    """``N`` wind turbines: baseline −generation, DOWN flexibility by curtailment.

    Same contract and curtailment logic as ``PvFleet``; ``generation_kw`` [T, N] is required
    (there is no clear-sky default for wind): use ``from_profile`` or ``from_wind_speed``.
    """

    der_type = DerType.WIND
    DEFAULT_RAMP_FRACTION_PER_MIN = 1.0  # pitch control: full range in ~1 min (assumption)

    def __init__(
        self,
        der_id: Any,
        bus: Any,
        rated_kw: Any,
        generation_kw: Any,
        *,
        ramp_kw_per_min: Any | None = None,
        notification_min: Any = 1.0,
        response_min: Any = 1.0,
    ) -> None:
        if generation_kw is None:
            raise InputError("generation_kw", None,
                             "a [T, N] generation profile (from_profile / from_wind_speed)")
        super().__init__(der_id, bus, rated_kw, generation_kw, ramp_kw_per_min=ramp_kw_per_min,
                         notification_min=notification_min, response_min=response_min)

    @property
    def rated_kw(self) -> np.ndarray:
        return self.peak_kw

    @classmethod
    def from_wind_speed(
        cls,
        der_id: Any,
        bus: Any,
        rated_kw: Any,
        wind_speed_m_s: Any,
        *,
        cut_in_m_s: float = 3.0,
        rated_m_s: float = 12.0,
        cut_out_m_s: float = 25.0,
        **kwargs: Any,
    ) -> WindFleet:
        """Generation = ``rated_kw · power_curve_pu(wind speed)``; speed [T] (shared) or [T, N]."""
        n = np.asarray(der_id).size
        rated = v.vector("rated_kw", rated_kw, n, lo=0.0)
        speed = v.matrix("wind_speed_m_s", wind_speed_m_s, n, lo=0.0, allow_1d=True)
        gen = power_curve_pu(speed, cut_in_m_s, rated_m_s, cut_out_m_s) * rated
        return cls(der_id, bus, rated, gen, **kwargs)

    def generation(self, time_grid: TimeGrid) -> np.ndarray:
        assert self.generation_kw is not None  # guaranteed by __init__
        v.rows_match("generation_kw", self.generation_kw, time_grid)
        return self.generation_kw
