"""The on-disk SimBench grid cache: a grid is read from SimBench's CSV files once per
(SimBench version, code) and afterwards loaded from the user's cache directory.

Paper §5 puts the DSO's congestion management on a real grid; reading a SimBench grid from
its CSV files (``simbench.get_simbench_net``) takes 2–10 s every run, longer than the market
day of an LV feeder. Layout of one entry, ``<root>/simbench-<version>/<code>/``:

| file | content |
|---|---|
| net.pickle | the pandapower net's tables as a plain dict (pickle of pandas objects only:
  read without importing pandapower, 10–50× faster than pandapower's JSON; the entry is
  private to the user and its hash is checked first) |
| profiles-<table>.parquet | SimBench's relative profiles of one table (load, renewables, ...) |
| ac_model-<sha>.npz | the load-independent AC model of the Jacobian sensitivities
  (``localflex.grid.jacobian``): sparse ``Ybus``/``Yf``/``Yt`` as CSR arrays, bus types,
  pandapower's bus/branch lookups; plain numpy arrays, read with ``allow_pickle=False``.
  Added lazily, see below |
| manifest.json | format, code, simbench/pandapower/pandas versions, SHA-256 of each file;
  ``arrays``: name → file and format of each lazily added array file |

``root`` is ``platformdirs.user_cache_dir("localflex")/grids`` or ``$LOCALFLEX_CACHE_DIR``.
An entry is written into a temporary directory next to its place and renamed into place
(atomic on one file system); a half-written entry is never visible. An entry whose manifest
is missing or unreadable, whose versions differ from the installed ones, or whose file hashes
do not match is stale or corrupt: it is removed and rebuilt. ``LOCALFLEX_GRID_CACHE=off``
(or ``localflex run --no-cache``, ``set_cache_enabled(False)``) bypasses the cache.

``<root>/simbench-<version>/codes.json`` keeps the list of SimBench codes the simbench
package knows (``cached_codes``; written once, atomically, with the versions it belongs to).

Array files (``add_arrays``/``read_arrays``) are added to an existing entry on first use: the
AC model needs pandapower's ``runpp``, which most runs never call, and entries written before
it existed get it without a rebuild (an entry's FORMAT is unchanged; older localflex versions
validate it and ignore the file). Adding is atomic and safe with several processes at once
without a lock: the file is written under a temporary name and renamed to a name holding its
own SHA-256 (a file is only ever replaced by the same bytes), then a new manifest listing
it is written to a temporary file and ``os.replace``d onto ``manifest.json``. A reader sees the
old or the new manifest, each naming complete files; if two processes race, the last manifest
wins and the other's file stays unreferenced (a few MB, removed with the entry). Should an
entry be rebuilt while a file is added, the manifest may name hashes of the old entry: it is
then corrupt and rebuilt on the next load. Reading an array file checks the manifest's code
and versions and that file's hash only.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import re
import shutil
import tempfile
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from localflex.domain.errors import InputError
from localflex.safe_io import write_bytes_atomic

__all__ = [
    "CACHE_DIR_ENV",
    "CACHE_SWITCH_ENV",
    "FORMAT",
    "add_arrays",
    "cache_enabled",
    "cache_root",
    "cached_codes",
    "entry_dir",
    "has_entry",
    "load_or_build",
    "read_arrays",
    "set_cache_enabled",
    "valid_manifest",
]

CACHE_DIR_ENV = "LOCALFLEX_CACHE_DIR"
CACHE_SWITCH_ENV = "LOCALFLEX_GRID_CACHE"
FORMAT = 2
_enabled: bool | None = None


def set_cache_enabled(enabled: bool | None) -> None:
    """Switch the cache on/off for this process (None: back to the environment)."""
    global _enabled
    _enabled = enabled


def cache_enabled() -> bool:
    if _enabled is not None:
        return _enabled
    return os.environ.get(CACHE_SWITCH_ENV, "on").strip().lower() not in {"off", "0", "no"}


def cache_root() -> Path:
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("localflex")) / "grids"


def _versions() -> dict[str, str]:
    return {"simbench": version("simbench"), "pandapower": version("pandapower"),
            "pandas": version("pandas"), "format": str(FORMAT)}


def entry_dir(code: str) -> Path:
    return cache_root() / f"simbench-{version('simbench')}" / code


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def valid_manifest(entry: Path, code: str) -> dict | None:
    """The manifest of a complete, current entry; None if missing, stale or corrupt."""
    try:
        manifest = json.loads((entry / "manifest.json").read_text())
        if manifest.get("code") != code or manifest.get("versions") != _versions():
            return None
        for name, digest in manifest["files"].items():
            if _sha256(entry / name) != digest:
                return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return manifest


def _read(entry: Path, manifest: dict) -> tuple[Any, dict[str, pd.DataFrame]]:
    from localflex.grid.simbench_loader import NetTables

    with (entry / "net.pickle").open("rb") as fh:
        net = NetTables(pickle.load(fh))  # the user's own cache entry, hash checked
    relative = {table: pd.read_parquet(entry / f"profiles-{table}.parquet")
                for table in manifest["tables"]}
    return net, relative


def _write(entry: Path, code: str, net: Any, relative: dict[str, pd.DataFrame]) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{code}.", dir=entry.parent))
    try:
        with (tmp / "net.pickle").open("wb") as fh:
            pickle.dump(dict(net), fh, protocol=pickle.HIGHEST_PROTOCOL)
        for table, frame in relative.items():
            frame.to_parquet(tmp / f"profiles-{table}.parquet")
        files = sorted(p.name for p in tmp.iterdir())
        manifest = {"code": code, "versions": _versions(), "tables": sorted(relative),
                    "files": {name: _sha256(tmp / name) for name in files}}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        if entry.exists():
            shutil.rmtree(entry, ignore_errors=True)
        try:
            tmp.rename(entry)
        except OSError:  # another process won the race: its entry is as good as ours
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def has_entry(code: str) -> bool:
    """True when a current, intact entry for ``code`` is stored (then ``code`` is known)."""
    return valid_manifest(entry_dir(code), code) is not None


def load_or_build(code: str) -> tuple[Any, dict[str, pd.DataFrame]]:
    """Net and relative profiles of ``code`` from the cache; built and stored on a miss.

    A cache that cannot be written (read-only or full disk) is not an error: the grid is
    then read from SimBench each time.
    """
    from localflex.grid.simbench_loader import read_simbench

    entry = entry_dir(code)
    manifest = valid_manifest(entry, code)
    if manifest is not None:
        try:
            return _read(entry, manifest)
        except (OSError, ValueError, pickle.UnpicklingError, AttributeError, ImportError):
            # unreadable despite matching hashes: rebuild below
            pass
    net, relative = read_simbench(code)
    with contextlib.suppress(OSError):
        _write(entry, code, net, relative)
    return net, relative


_ARRAY_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _array_name_ok(name: str) -> str:
    if not isinstance(name, str) or not _ARRAY_NAME.fullmatch(name):
        raise InputError("array file name", name,
                         "a lower-case letter, then lower-case letters, digits or _")
    return name


def read_arrays(code: str, name: str, fmt: int) -> dict[str, np.ndarray] | None:
    """The arrays stored as ``name`` (format ``fmt``) in the entry of ``code``; None when the
    entry or the file is missing, stale (other versions or format) or corrupt."""
    _array_name_ok(name)
    entry = entry_dir(code)
    try:
        manifest = json.loads((entry / "manifest.json").read_text())
        if manifest.get("code") != code or manifest.get("versions") != _versions():
            return None
        meta = manifest.get("arrays", {}).get(name)
        if meta is None or meta.get("format") != fmt:
            return None
        path = entry / meta["file"]
        if _sha256(path) != manifest["files"][meta["file"]]:
            return None
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def add_arrays(code: str, name: str, fmt: int, arrays: dict[str, np.ndarray]) -> bool:
    """Add ``arrays`` as ``name`` (format ``fmt``) to the current entry of ``code`` (module
    docstring: atomic, no lock needed). False when there is no current entry or it cannot be
    written (read-only or full disk): the caller keeps its arrays in memory."""
    _array_name_ok(name)
    entry = entry_dir(code)
    manifest = valid_manifest(entry, code)
    if manifest is None:
        return False
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    file_name = f"{name}-{digest[:16]}.npz"
    manifest["files"][file_name] = digest
    manifest.setdefault("arrays", {})[name] = {"file": file_name, "format": fmt}
    try:
        write_bytes_atomic(entry / file_name, data)  # same content under the same name
        write_bytes_atomic(entry / "manifest.json", json.dumps(manifest, indent=1).encode())
    except OSError:
        return False
    return True


def cached_codes(build: Callable[[], list[str]]) -> list[str]:
    """The SimBench codes from ``<root>/simbench-<version>/codes.json``; on a miss (or a
    file of other versions, or unreadable) ``build()`` and stored (temporary file and
    ``os.replace``: atomic; not stored when the cache cannot be written)."""
    path = cache_root() / f"simbench-{version('simbench')}" / "codes.json"
    try:
        stored = json.loads(path.read_text())
        if stored.get("versions") == _versions() and isinstance(stored.get("codes"), list):
            return [str(code) for code in stored["codes"]]
    except (OSError, ValueError, AttributeError):
        pass
    codes = list(build())
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, json.dumps({"versions": _versions(), "codes": codes}).encode())
    return codes
