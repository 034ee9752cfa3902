"""localflex: a local flexibility market (LFM) for electricity distribution grids.

The package follows the three stages of the reference paper (Energies 2018, 11, 3074):
DER flexibility (``der``), aggregators that pool it (``aggregator``), the DSO's market
(``market``), grid physics (``grid``) and the scenario driver (``sim``). Importing it changes
nothing global.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
