"""Aggregators split their flexibility between two uncoupled markets ex ante (paper §6.2,
Table 2 "no coupling": a DSO market and an IMO market side by side; §4 Figure 3 and §4.2:
"the aggregator is expected to allocate flexibility with the objective of profit
maximization"; §6.1: an aggregator "finds it more profitable to offer its flexibility to
the TSO AS market, thus not notifying the DSO").

Without coupling nobody tells an aggregator where its flexibility is needed: before either
market opens it decides, per ISP and direction, how much of its offered kW goes to the DSO's
market and how much to the IMO's (BRPs and the TSO), with the multi-market allocation
``aggregator.allocation.allocate_flexibility`` (a HiGHS program) on *expected* prices:

* it is paid its ask in both markets (one pricing rule, ``ledger.PAY_AS_OFFER``), so the
  expected value of one MWh offered in market ``m`` is ``p_m[t, d]`` × its mean ask in
  ``(t, d)``, where ``p_m`` is the expected acceptance probability, the same for every
  price-taking aggregator: ``min(1, expected demand / offered supply)`` in ``(t, d)``;
* expected IMO demand: the expected volume of the BRP and TSO requests from the design's
  published parameters (``DesignParams``: ``n_brps`` × ``brp_active_share`` ×
  E|N(0, ``brp_imbalance_kw``)| / 2 per direction, plus ``tso_active_share`` × the mean
  TSO volume / 2) — not the requests themselves (no foresight of the day's orders);
* expected DSO demand: the forecast need that the DSO publishes with its market, in offered
  kW: per point the overload divided by the mean relief per kW of the offers of ``(t, d)``
  that relieve it (the largest over the points); zero in the direction that worsens.

Each offer is then split in the proportion its aggregator chose for its ``(t, d)`` (an offer
that touches no congestion point cannot serve the DSO and goes to the IMO whole): one part
rests in the DSO's market, the other in the IMO's (same offer id, two pools: no kW is
offered twice).
Linear expected profit makes the choice all-or-nothing per ``(t, d)`` unless markets tie
(then the IMO, which trades every day, gets the volume: documented tie-break).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from localflex.aggregator.allocation import MarketOutlook, allocate_flexibility
from localflex.market.designs.inputs import DesignInput
from localflex.market.designs.ledger import row_sums
from localflex.market.dso_single_buyer import RELIEF_EPS_KW_PER_KW

__all__ = ["expected_acceptance", "split_offers"]

MARKETS = ("imo", "dso")  # order = tie-break priority


def _per_isp_dir(offers: pd.DataFrame, values: np.ndarray, n_isps: int) -> np.ndarray:
    """[T, 2] sums of ``values`` per (ISP, direction) (axis 1: up, down)."""
    out = np.zeros((n_isps, 2))
    d = (offers["direction"].to_numpy() != "up").astype(np.int64)
    np.add.at(out, (offers["isp"].to_numpy(dtype=np.int64), d), values)
    return out


def expected_acceptance(inp: DesignInput) -> dict[str, np.ndarray]:
    """{market: [T, 2]} expected acceptance probability per ISP and direction (module doc)."""
    offers = inp.offers
    prm = inp.params
    supply = _per_isp_dir(offers, offers["max_power_kw"].to_numpy(dtype=float), inp.n_isps)
    brp_kw = prm.n_brps * prm.brp_active_share * prm.brp_imbalance_kw * math.sqrt(2 / math.pi)
    tso_kw = prm.tso_active_share * float(np.mean(prm.tso_power_kw))
    imo = np.full((inp.n_isps, 2), (brp_kw + tso_kw) / 2.0)
    # DSO: offered kW needed per point = overload / mean relief per kW of the relieving offers
    isp = offers["isp"].to_numpy(dtype=np.int64)
    d = (offers["direction"].to_numpy() != "up").astype(np.int64)
    sign = np.where(d == 0, 1.0, -1.0)
    pos = np.searchsorted(inp.bus_ids, offers["bus"].to_numpy(dtype=np.int64))
    rel = np.maximum(inp.relief[isp, :, pos] * sign[:, None], 0.0)  # [O, CP]
    n_cp = rel.shape[1]
    rel_sum = row_sums(2 * isp + d, rel, 2 * inp.n_isps).reshape(inp.n_isps, 2, n_cp)
    count = row_sums(2 * isp + d, (rel > 0).astype(float), 2 * inp.n_isps
                     ).reshape(inp.n_isps, 2, n_cp)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_rel = np.where(count > 0, rel_sum / np.maximum(count, 1.0), 0.0)
        need = inp.needs.overload_kw[:, None, :]  # [T, 1, CP]
        kw = np.where((mean_rel > 1e-6) & (need > 0), need / np.maximum(mean_rel, 1e-6), 0.0)
    dso = kw.max(axis=2) if n_cp else np.zeros((inp.n_isps, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        return {m: np.where(supply > 0, np.minimum(1.0, dem / np.maximum(supply, 1e-9)), 0.0)
                for m, dem in (("imo", imo), ("dso", dso))}


def split_offers(inp: DesignInput) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(DSO-market offers, IMO-market offers, the allocation per aggregator) (module doc).

    The allocation frame has one row per aggregator, market, ISP and direction
    (``aggregator.allocation.ALLOCATION_COLUMNS`` + ``aggregator_id``)."""
    offers = inp.offers
    accept = expected_acceptance(inp)
    share_dso = np.zeros(len(offers))
    allocations = []
    for agg, mine in offers.groupby("aggregator_id", sort=True):
        kw = mine["max_power_kw"].to_numpy(dtype=float)
        avail = _per_isp_dir(mine, kw, inp.n_isps)
        with np.errstate(divide="ignore", invalid="ignore"):
            ask = np.where(avail > 0, _per_isp_dir(
                mine, mine["price_eur_per_mwh"].to_numpy(dtype=float) * kw, inp.n_isps)
                / np.maximum(avail, 1e-9), 0.0)
        # a tie goes to the first market of MARKETS: a hair of value, not a volume
        outlooks = [MarketOutlook(market=m, value_up_eur_per_mwh=accept[m][:, 0] * ask[:, 0]
                                  + 1e-6 * (len(MARKETS) - i),
                                  value_down_eur_per_mwh=accept[m][:, 1] * ask[:, 1]
                                  + 1e-6 * (len(MARKETS) - i))
                    for i, m in enumerate(MARKETS)]
        res = allocate_flexibility(avail[:, 0], avail[:, 1], outlooks, isp_hours=inp.isp_hours,
                                   integral=False)
        allocations.append(res.allocation.assign(aggregator_id=agg))
        power = res.power_kw  # [M, 2, T]
        total = power.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(total > 1e-9, power[MARKETS.index("dso")] / np.maximum(total, 1e-9),
                            0.0)  # [2, T]
        d = (mine["direction"].to_numpy() != "up").astype(np.int64)
        rows = offers.index.get_indexer(mine.index)
        share_dso[rows] = frac[d, mine["isp"].to_numpy(dtype=np.int64)]
    # an offer that relieves no congestion point (e.g. a BRP's, outside the area) cannot
    # serve the DSO: it all goes to the IMO
    pos = np.searchsorted(inp.bus_ids, offers["bus"].to_numpy(dtype=np.int64))
    touches = (np.abs(inp.relief[offers["isp"].to_numpy(dtype=np.int64), :, pos])
               > RELIEF_EPS_KW_PER_KW).any(axis=1)
    share_dso = np.where(touches, share_dso, 0.0)
    kw = offers["max_power_kw"].to_numpy(dtype=float)
    dso = offers.assign(max_power_kw=kw * share_dso)
    imo = offers.assign(max_power_kw=kw * (1 - share_dso))
    for part in (dso, imo):
        part["min_power_kw"] = np.minimum(part["min_power_kw"], part["max_power_kw"])
    allocation = (pd.concat(allocations, ignore_index=True) if allocations
                  else pd.DataFrame())
    return (dso[dso["max_power_kw"] > 1e-6].reset_index(drop=True),
            imo[imo["max_power_kw"] > 1e-6].reset_index(drop=True), allocation)
