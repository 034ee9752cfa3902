"""The typer application and the consoles every ``localflex`` command shares."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from localflex.domain import LocalflexError

__all__ = ["app", "console", "err_console", "user_errors"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="localflex: a local flexibility market for distribution grids.",
)
console = Console()
err_console = Console(stderr=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a LocalflexError into a one-line message naming the field, and exit code 2."""
    try:
        yield
    except LocalflexError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(code=2) from None
