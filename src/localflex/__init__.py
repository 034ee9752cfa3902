"""localflex: a local flexibility market (LFM) for electricity distribution grids.

The package follows the three stages of the reference paper (Energies 2018, 11, 3074):
DER flexibility (``der``), aggregators that pool it (``aggregator``), the DSO's market
(``market``), grid physics (``grid``), the scenario driver (``sim``) and studies over many
days, designs and seeds (``study``). Importing it changes nothing global and loads nothing
heavy: the functions below (``localflex.api``) import what they need when called::

    import localflex as lf
    results = lf.run_study("examples/study_quick.yaml", "runs/quick")
    results.statistics
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = [
    "__version__",
    "compare",
    "designs",
    "kpi_statistics",
    "load_scenario",
    "load_study",
    "paired_differences",
    "run",
    "run_study",
    "study_results",
]

if TYPE_CHECKING:
    from localflex.api import (
        compare,
        designs,
        kpi_statistics,
        load_scenario,
        load_study,
        paired_differences,
        run,
        run_study,
        study_results,
    )


def __getattr__(name: str):
    if name in __all__ and name != "__version__":
        from localflex import api

        return getattr(api, name)
    raise AttributeError(f"module 'localflex' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
