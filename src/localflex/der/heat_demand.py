"""Space-heating and hot-water heat demand from outdoor temperature (paper §2, Fig. 1: the
heat side of CHP and thermal energy storage).

Degree-day (heating-limit) model per unit, ``kW_th``::

    q(T_out) = q_design · (hw + (1 − hw) · clip((T_lim − T_out) / (T_lim − T_design), 0, 1))

``q_design`` = ``design_heat_kw_th``, ``T_lim`` = heating limit temperature (no space
heating above it, 15 °C in German practice,
VDI 4655 / DIN EN 12831 style), ``T_design`` = design outdoor temperature (−12 °C) at which
the demand reaches ``design_heat_kw_th``, ``hw`` = share of the design heat that is hot water
(a constant all-year base, default 0.1). A documented stand-in where no measured heat profile
is given.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from localflex.der import _validate as v
from localflex.domain import InputError

__all__ = ["heat_demand_kw_th"]


def heat_demand_kw_th(
    outdoor_temp_c: Any,
    design_heat_kw_th: Any,
    *,
    heating_limit_c: float = 15.0,
    design_temp_c: float = -12.0,
    hot_water_share: float = 0.1,
) -> np.ndarray:
    """Heat demand [T, N] kW_th from outdoor temperature [T] (or [T, N]) and design heat [N]."""
    if not design_temp_c < heating_limit_c:
        raise InputError("design_temp_c", design_temp_c, f"below heating_limit_c = "
                         f"{heating_limit_c}")
    if not 0.0 <= hot_water_share <= 1.0:
        raise InputError("hot_water_share", hot_water_share, "a share in [0, 1]")
    design = np.asarray(design_heat_kw_th, dtype=float)
    n = 1 if design.ndim == 0 else design.size
    design = v.vector("design_heat_kw_th", design, n, lo=0.0)
    t_out = v.matrix("outdoor_temp_c", outdoor_temp_c, n, allow_1d=True)
    space = np.clip((heating_limit_c - t_out) / (heating_limit_c - design_temp_c), 0.0, 1.0)
    return design * (hot_water_share + (1.0 - hot_water_share) * space)
