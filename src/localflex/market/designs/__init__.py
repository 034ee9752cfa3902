"""Market designs: how grid-, system- and market-oriented use of flexibility coexist.

Paper §6 (local flexibility market design challenges): §6.2 and Table 2 — no coupling,
conditional coupling (USEF / BDEW traffic light), sequential coupling (refs. [65], [70]);
§6.1 — the five TSO–DSO coordination schemes of ref. [65] and gaming between markets.
Every design runs on one ``DesignInput`` and reports the same ``KPI_KEYS`` in a
``DesignResult``, so designs can be compared (the quantification §7 asks for).

Modules: ``inputs`` (the shared scenario), ``ledger`` (trades, offer pool, grid guard),
``stages`` (DSO clearing, continuous book, direct control / curtailment), ``joint`` (one LP
for joint clearings), ``coupling`` (§6.2), ``tso_dso`` (§6.1), ``gaming`` (inc–dec),
``result`` (KPIs by power flow), ``registry`` (the catalogue).
"""

from localflex.market.designs.coupling import (
    conditional,
    no_coupling,
    no_coupling_micro,
    sequential_brp_first,
    sequential_dso_first,
)
from localflex.market.designs.gaming import MITIGATIONS, inc_dec_game, inc_dec_indicator
from localflex.market.designs.inputs import (
    REQUEST_FRAME_COLUMNS,
    DesignInput,
    DesignParams,
    brp_requests,
    design_params_from_mapping,
    make_design_input,
    tso_requests,
)
from localflex.market.designs.ledger import (
    DESIGN_TRADE_COLUMNS,
    GridGuard,
    OfferPool,
    TradeLog,
    TradePurpose,
)
from localflex.market.designs.registry import DESIGNS, resolve_designs, run_designs
from localflex.market.designs.result import KPI_KEYS, DesignResult, evaluate
from localflex.market.designs.tso_dso import (
    tso_dso_centralized,
    tso_dso_common,
    tso_dso_integrated,
    tso_dso_local,
    tso_dso_shared_balancing,
)

__all__ = [
    "DESIGNS",
    "DESIGN_TRADE_COLUMNS",
    "KPI_KEYS",
    "MITIGATIONS",
    "REQUEST_FRAME_COLUMNS",
    "DesignInput",
    "DesignParams",
    "DesignResult",
    "GridGuard",
    "OfferPool",
    "TradeLog",
    "TradePurpose",
    "brp_requests",
    "conditional",
    "design_params_from_mapping",
    "evaluate",
    "inc_dec_game",
    "inc_dec_indicator",
    "make_design_input",
    "no_coupling",
    "no_coupling_micro",
    "resolve_designs",
    "run_designs",
    "sequential_brp_first",
    "sequential_dso_first",
    "tso_dso_centralized",
    "tso_dso_common",
    "tso_dso_integrated",
    "tso_dso_local",
    "tso_dso_shared_balancing",
    "tso_requests",
]
