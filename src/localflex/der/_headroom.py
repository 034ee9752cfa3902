"""Headroom of a unit whose state is held in a band (private; paper §2, Fig. 2 "energy
content" and the comfort constraints of thermostatically controllable loads).

Shared by the families whose flexibility is bounded by a state trajectory [T+1, N] or [T, N]
between a lower and an upper bound: the temperature band of heat pumps and water heaters
(``comfort_request``, ``comfort_headroom``) and the content window of batteries, CHP heat
stores and thermal stores (``band_margins``). The state equations stay in the families'
modules; what is here is the same arithmetic on their results.
"""

from __future__ import annotations

import numpy as np

from localflex.domain import TimeGrid

__all__ = ["band_margins", "comfort_headroom", "comfort_request", "whole_isps"]


def band_margins(
    state: np.ndarray, lo: np.ndarray | float, hi: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Per unit: the least room above ``lo`` and below ``hi`` over the trajectory, ``>= 0``.

    ``lo`` / ``hi`` are per unit [N] or per step like ``state``; the margins are how far the
    state can be moved down (up) at any time without leaving the band afterwards.
    """
    return (np.maximum((state - lo).min(axis=0), 0.0),
            np.maximum((hi - state).min(axis=0), 0.0))


def comfort_request(
    p_kw: np.ndarray,
    p_to_min_kw: np.ndarray,
    p_to_max_kw: np.ndarray,
    rated_kw: np.ndarray,
    p_base_kw: np.ndarray,
    delta_injection_kw: np.ndarray,
) -> np.ndarray:
    """Power in one ISP under an activation of a comfort-banded load.

    Where the delta is non-zero the load is asked for ``baseline − delta``, clipped to
    ``[0, rated]`` and to the power range that ends the ISP in the band (``p_to_min_kw`` /
    ``p_to_max_kw``: unclipped powers reaching its lower / upper edge; the band wins over the
    request, the rated limits over the band). Elsewhere the controller's ``p_kw`` stays.
    """
    lo = np.clip(p_to_min_kw, 0.0, rated_kw)
    hi = np.clip(p_to_max_kw, lo, rated_kw)
    asked = np.clip(p_base_kw - delta_injection_kw, lo, hi)
    return np.where(delta_injection_kw != 0.0, asked, p_kw)


def comfort_headroom(
    temp_end_c: np.ndarray,
    t_min_c: np.ndarray,
    t_max_c: np.ndarray,
    k_per_kw: np.ndarray,
    kwh_el_per_k: np.ndarray,
    p_base_kw: np.ndarray,
    rated_kw: np.ndarray,
    dt_h: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``up_kw``, ``down_kw`` [T, N] and energy bounds [N] of a comfort-banded load.

    ``temp_end_c`` [T, N]: baseline temperature at each ISP's end; ``k_per_kw``: its change
    per kW over one ISP. UP = less power, keeping ``T >= t_min_c`` (at most the baseline);
    DOWN = more, keeping ``T <= t_max_c`` (at most rated − baseline). Energy: the band's
    stored heat, ``kwh_el_per_k`` × the least margin, capped by the baseline energy (UP) and
    the unused rated energy (DOWN).
    """
    up = np.clip((temp_end_c - t_min_c) / k_per_kw, 0.0, p_base_kw)
    down = np.clip((t_max_c - temp_end_c) / k_per_kw, 0.0, rated_kw - p_base_kw)
    above_min_k, below_max_k = band_margins(temp_end_c, t_min_c, t_max_c)
    energy_up = np.minimum(kwh_el_per_k * above_min_k, p_base_kw.sum(axis=0) * dt_h)
    energy_down = np.minimum(kwh_el_per_k * below_max_k,
                             (rated_kw - p_base_kw).sum(axis=0) * dt_h)
    return up, down, energy_up, energy_down


def whole_isps(hours: np.ndarray, time_grid: TimeGrid) -> np.ndarray:
    """``hours`` [N] as whole ISPs [N] (floored, ``inf`` = the horizon), at most ``n_isps``."""
    dt = time_grid.isp_hours
    n_isps = time_grid.n_isps
    return np.minimum(np.floor(np.minimum(hours, n_isps * dt) / dt + 1e-9),
                      n_isps).astype(np.int64)
