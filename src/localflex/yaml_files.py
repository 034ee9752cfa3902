"""Reading a user's YAML file (scenario, planning costs): bad input ends in one line.

A missing file or a YAML syntax error raises the given ``InputError`` subclass naming the
field, the path and — for a syntax error — the problem with its line and column, on one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from localflex.domain import InputError

__all__ = ["read_yaml"]


def read_yaml(path: str | Path, field: str, error: type[InputError] = InputError) -> Any:
    """The parsed document of ``path``; ``error(field, path, expected)`` on bad input."""
    path = Path(path)
    if not path.is_file():
        raise error(field, str(path), "an existing YAML file")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise error(field, str(path), f"valid YAML ({problem}{where})") from None
    except UnicodeDecodeError:
        raise error(field, str(path), "a UTF-8 text file") from None
