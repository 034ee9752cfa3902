"""A fresh install works: every third-party package ``src/localflex`` imports is declared, and
every module imports.

The declared distributions come from the installed localflex's metadata
(``importlib.metadata.requires``) — what ``pip install`` actually installs — and the module →
distribution map from ``importlib.metadata.packages_distributions()``; nothing is kept by hand.
When the installed metadata is older than this checkout's ``pyproject.toml`` (a shared dev venv
with ``src`` on the path), the checkout's declaration is used, which is what a fresh install
of it would record.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

import pytest

import localflex

PACKAGE_DIR = Path(localflex.__file__).parent
PYPROJECT = PACKAGE_DIR.parents[1] / "pyproject.toml"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(spec: str) -> str:
    return _normal(re.split(r"[\s\[<>=!~;(@]", spec.strip(), maxsplit=1)[0])


def declared_distributions() -> set[str]:
    """Runtime dependencies of localflex (no extras), normalised."""
    try:
        specs = [s for s in requires("localflex") or [] if "extra ==" not in s]
    except PackageNotFoundError:
        specs = []
    names = {_requirement_name(s) for s in specs}
    if PYPROJECT.is_file():
        project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
        source = {_requirement_name(s) for s in project["dependencies"]}
        if source != names:
            names = source
    return names


def imported_top_level() -> dict[str, str]:
    """Top-level module -> first file of src/localflex that imports it (absolute imports)."""
    found: dict[str, str] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "localflex" and top not in sys.stdlib_module_names:
                    found.setdefault(top, str(path.relative_to(PACKAGE_DIR.parent)))
    return found


def test_every_imported_package_is_declared():
    declared = declared_distributions()
    assert declared, "localflex declares no dependencies?"
    providers = packages_distributions()
    problems = []
    for module, where in sorted(imported_top_level().items()):
        dists = providers.get(module, [])
        if not dists:
            problems.append(f"{where} imports '{module}', which no installed distribution "
                            "provides")
        elif not {_normal(d) for d in dists} & declared:
            problems.append(f"{where} imports '{module}' from distribution "
                            f"'{dists[0]}', which pyproject.toml [project] dependencies does "
                            "not declare")
    assert not problems, "\n".join(problems)


def test_the_import_scan_sees_known_packages():
    seen = imported_top_level()
    assert {"numpy", "pydantic_settings", "nacl"} <= set(seen)


# Alembic runs env.py inside its migration context (alembic.context.config); it is a script.
NOT_IMPORTABLE = {"localflex.store.migrations.env"}


def _all_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(localflex.__path__, "localflex.")
                  if m.name not in NOT_IMPORTABLE)


@pytest.mark.parametrize("module", _all_modules())
def test_every_module_imports(module):
    importlib.import_module(module)
