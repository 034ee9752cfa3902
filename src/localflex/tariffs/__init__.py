"""Network tariffs (paper §5.2): what a grid user pays the DSO for the use of the grid, and
the demand response to a tariff's price signal.

``network_tariffs`` holds the tariff kinds (volumetric, time-of-use, critical peak, real-time,
dynamic, capacity) and billing; ``response`` (import it by its full path: it runs power flows)
shifts price-responsive demand and measures a tariff's effect on peaks and congestion.
"""

from localflex.tariffs.network_tariffs import (
    CapacityTariff,
    CriticalPeakEvent,
    CriticalPeakTariff,
    DynamicTariff,
    RealTimeTariff,
    Tariff,
    TariffKind,
    TimeOfUseTariff,
    VolumetricTariff,
    dso_revenue_eur,
)

__all__ = [
    "CapacityTariff",
    "CriticalPeakEvent",
    "CriticalPeakTariff",
    "DynamicTariff",
    "RealTimeTariff",
    "Tariff",
    "TariffKind",
    "TimeOfUseTariff",
    "VolumetricTariff",
    "dso_revenue_eur",
]
