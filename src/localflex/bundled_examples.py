"""The example scenarios shipped with localflex (every file of the source tree's ``examples/``).

They are package data (``localflex/examples`` links to the repository's ``examples/`` folder,
and the wheel carries a copy of every file in it), so ``localflex demo`` and
``localflex examples --copy DIR`` work from an installed package in any directory; a new
example file needs nothing but the file.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path

from localflex.domain import InputError

__all__ = ["example_names", "example_path", "example_text"]


def _folder() -> Traversable:
    return files("localflex") / "examples"


def example_names() -> list[str]:
    """File names of the bundled examples, sorted."""
    folder = _folder()
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _resolve(name: str) -> Traversable:
    names = example_names()
    file_name = name if name in names else f"{name}.yaml"
    if file_name not in names:
        raise InputError("example", name, f"one of {', '.join(names) or '(none bundled)'}")
    return _folder() / file_name


def example_text(name: str) -> str:
    """The text of a bundled example (``demo`` or ``demo.yaml``)."""
    return _resolve(name).read_text(encoding="utf-8")


def example_path(name: str) -> Path:
    """A real file path of a bundled example (package data is a plain folder when installed
    from a wheel or in editable mode)."""
    with as_file(_resolve(name)) as path:
        return Path(path)
