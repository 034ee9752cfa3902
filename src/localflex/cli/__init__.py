"""The ``localflex`` command line. Each module of this package adds its commands to ``app``
(``run.py``: ``demo`` and ``run``); every module here is imported, so a new command is a new
module."""

from __future__ import annotations

import importlib
import pkgutil

from localflex.cli._app import app

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["app"]
