"""``localflex examples``: list the bundled example scenarios, or copy them into a new folder
(``--copy DIR``) to edit and run them with ``localflex run DIR/NAME.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from localflex.cli._app import app, console, user_errors
from localflex.cli.run import OverwriteOption


@app.command()
def examples(
    copy: Annotated[Path | None, typer.Option(
        "--copy", help="new folder to copy every example into")] = None,
    overwrite: OverwriteOption = False,
) -> None:
    """List the example scenarios shipped with localflex, or copy them into a folder."""
    from localflex.bundled_examples import example_names, example_text
    from localflex.safe_io import write_output_dir

    names = example_names()
    if copy is None:
        for name in names:
            console.print(name)
        return

    def write(staging: Path) -> None:
        for name in names:
            (staging / name).write_text(example_text(name), encoding="utf-8")

    with user_errors():
        folder = write_output_dir(copy, write, overwrite=overwrite, option="--copy",
                                  command="examples")
    console.print(f"copied {len(names)} examples to {folder}")
