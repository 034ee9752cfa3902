"""``localflex risk``: how aggregation shrinks the forecast risk of DER flexibility
(paper §4, reference [27]: "aggregation mitigates the risk for error forecasting").

For each DER family it computes the reliable share — the volume a portfolio delivers with
probability ``--confidence`` (P90 by default) over its expected volume — for portfolios of
growing size (``localflex.der.forecast``), prints the table and,
with ``--out FILE.png``, writes a PNG plot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from localflex.cli._app import app, console, user_errors
from localflex.cli.run import OverwriteOption

DEFAULT_SIZES = "1,10,100,1000,10000"


def _sizes(text: str) -> list[int]:
    from localflex.domain import InputError

    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise InputError("--sizes", text, "comma-separated integers, e.g. 10,100,1000") from None
    if not sizes or min(sizes) < 1:
        raise InputError("--sizes", text, "portfolio sizes >= 1")
    return sorted(set(sizes))


@app.command()
def risk(
    family: Annotated[list[str] | None, typer.Option(
        "--family", help="DER family (repeatable); default: every family")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="PNG file to write; no plot without it")] = None,
    overwrite: OverwriteOption = False,
    sizes: Annotated[str, typer.Option("--sizes", help="portfolio sizes")] = DEFAULT_SIZES,
    confidence: Annotated[float, typer.Option("--confidence")] = 0.9,
    horizon_h: Annotated[float, typer.Option("--horizon-h", help="forecast lead time")] = 24.0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    monte_carlo: Annotated[bool, typer.Option(
        "--monte-carlo", help="seeded Monte Carlo instead of the analytic normal formula")] = False,
) -> None:
    """Reliable (P90) share of flexibility vs portfolio size, per DER family."""
    import numpy as np
    from matplotlib.figure import Figure

    from localflex.der.forecast import FORECAST_ERROR, forecast_error_std, reliable_share_by_size
    from localflex.domain import InputError
    from localflex.safe_io import check_output_file, save_figure

    with user_errors():
        families = list(family) if family else [str(f) for f in FORECAST_ERROR]
        unknown = [f for f in families if f not in FORECAST_ERROR]
        if unknown:
            raise InputError("--family", unknown[0], f"one of {sorted(FORECAST_ERROR)}")
        size_list = _sizes(sizes)
        if out is not None:
            if out.suffix.lower() != ".png":
                raise InputError("--out", str(out), "a .png file name")
            check_output_file(out, overwrite=overwrite)
        shares = {
            fam: reliable_share_by_size(fam, size_list, np.random.default_rng([seed, i]),
                                        confidence=confidence, horizon_h=horizon_h,
                                        monte_carlo=monte_carlo, n_samples=1000)
            for i, fam in enumerate(families)
        }

    method = "Monte Carlo" if monte_carlo else "analytic"
    table = Table(title=f"reliable share at P{round(confidence * 100)} "
                        f"({horizon_h:g} h ahead, {method})")
    table.add_column("family")
    table.add_column("σ 1 unit", justify="right")
    for n in size_list:
        table.add_column(f"N={n:,}", justify="right")
    for fam in families:
        table.add_row(fam, f"{forecast_error_std(fam, horizon_h):.0%}",
                      *[f"{s:.1%}" for s in shares[fam]])
    console.print(table)

    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for fam in families:
        ax.plot(size_list, np.asarray(shares[fam]) * 100, marker="o", label=fam)
    ax.set_xscale("log")
    ax.set_ylim(0, 100)
    ax.set_xlabel("units in the portfolio")
    ax.set_ylabel(f"reliable / expected volume at P{round(confidence * 100)} (%)")
    ax.set_title("Aggregation reduces forecast risk (paper §4)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    if out is None:
        console.print("no plot written (add --out FILE.png)")
        return
    with user_errors():
        save_figure(fig, out, overwrite=overwrite)
    console.print(f"wrote {out}")
