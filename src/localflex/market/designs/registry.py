"""The catalogue of market designs and one call that runs them all on the same input."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from localflex.domain import InputError
from localflex.market.designs.coupling import (
    conditional_bdew,
    conditional_usef,
    no_coupling,
    no_coupling_micro,
    sequential_brp_first,
    sequential_dso_first,
)
from localflex.market.designs.inputs import DesignInput
from localflex.market.designs.reservation import flech_sequential
from localflex.market.designs.restriction import deflex_areas
from localflex.market.designs.result import DesignResult
from localflex.market.designs.tso_dso import (
    tso_dso_centralized,
    tso_dso_common,
    tso_dso_integrated,
    tso_dso_local,
    tso_dso_shared_balancing,
)

__all__ = ["DESIGNS", "resolve_designs", "run_designs"]

DESIGNS: dict[str, Callable[[DesignInput], DesignResult]] = {
    "no_coupling": no_coupling,
    "no_coupling_micro": no_coupling_micro,
    "conditional_usef": conditional_usef,
    "conditional_bdew": conditional_bdew,
    "sequential_dso_first": sequential_dso_first,
    "sequential_brp_first": sequential_brp_first,
    "tso_dso_centralized": tso_dso_centralized,
    "tso_dso_local": tso_dso_local,
    "tso_dso_shared_balancing": tso_dso_shared_balancing,
    "tso_dso_common": tso_dso_common,
    "tso_dso_integrated": tso_dso_integrated,
    "deflex_areas": deflex_areas,
    "flech_sequential": flech_sequential,
}
"""Name -> design. Paper: §6.2 Table 2 (no coupling, conditional, sequential), §6.1
ref. [65] (the five TSO–DSO schemes), §5.3 ref. [57] (De-Flex restriction areas and the DSO's
contracts) and refs. [54, 55] (FLECH reservation then activation)."""


def resolve_designs(names: str | Sequence[str] = "all") -> list[str]:
    """'all', a comma-separated string or a list of names -> known names (InputError else)."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not names or list(names) == ["all"]:
        return list(DESIGNS)
    for name in names:
        if name not in DESIGNS:
            raise InputError("designs", name, f"'all' or any of {', '.join(DESIGNS)}")
    return list(dict.fromkeys(names))


def run_designs(inp: DesignInput, names: str | Sequence[str] = "all") -> list[DesignResult]:
    """Run the named designs (default all) on the same input, in catalogue order given."""
    return [DESIGNS[name](inp) for name in resolve_designs(names)]
