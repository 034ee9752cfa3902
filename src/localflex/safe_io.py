"""Output safety: localflex never deletes or overwrites a file it did not write itself.

Every command that writes puts its results into an *output folder* (``--out``) or one *plot
file*. The rules, checked before any work is done (``check_output_dir`` / ``check_output_file``):

* A folder that does not exist, or exists and is empty, is written.
* An existing non-empty folder is refused (one line naming the path, exit code 2) unless it
  is a localflex output folder — it holds the marker ``.localflex-run.json`` that localflex
  writes last, listing the files it wrote — *and* ``--overwrite`` is given. Then only the
  files that marker lists are replaced or removed (and nested localflex folders, e.g.
  ``settlement/``, the same way); every other file stays. A marker that lists a path outside
  the folder, or a symlink, is refused.
* A path under a regular file, a folder that is a file, or a place the user cannot write to,
  is refused before the run.
* A plot file that exists is replaced only with ``--overwrite`` and only if localflex wrote it
  (its metadata carries ``localflex`` as the creating software).

Files are staged in a hidden folder *inside* the target and moved into place when every file
is complete; the marker is written last, so a folder without it never looks finished. Folders
and files are created with ``os.mkdir``/``open`` and so follow the user's umask (no
``mkdtemp``/``mkstemp``, which force 0700/0600). A single file that other processes may read
while it is written (a study's cells, the grid cache's manifest and arrays) is written next
to its place and renamed onto it (``atomic_path``, ``write_bytes_atomic``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from localflex.domain import InputError

__all__ = [
    "MARKER",
    "PLOT_CREATOR",
    "SAFE_NAME",
    "atomic_path",
    "check_output_dir",
    "check_output_file",
    "is_output_dir",
    "plot_metadata",
    "save_figure",
    "write_bytes_atomic",
    "write_output_dir",
]

MARKER = ".localflex-run.json"
PLOT_CREATOR = "localflex"
_PARTIAL = ".localflex-partial-"  # staging folder inside the target
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def is_output_dir(path: Path) -> bool:
    """True if ``path`` is a folder localflex wrote (it carries the marker file)."""
    return path.is_dir() and not path.is_symlink() and (path / MARKER).is_file()


def _writable_ancestor(path: Path, option: str) -> None:
    """Refuse a path under a regular file, or whose nearest existing folder is read-only."""
    probe = path
    while not probe.exists():
        if probe.is_symlink():  # dangling symlink
            raise InputError(option, str(path), f"a path without the dangling link {probe}")
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(option, str(path), f"a path not under the regular file {probe}")
    if not os.access(probe, os.R_OK | os.W_OK | os.X_OK):
        raise InputError(option, str(path), f"a place you can write to ({probe} is not "
                                            "writable)")


def _listed_files(folder: Path) -> list[Path]:
    """The files the marker of a localflex folder lists, each checked to lie inside it."""
    try:
        listed = json.loads((folder / MARKER).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError("--out", str(folder), f"a readable {MARKER} (it is damaged; "
                                               "choose another folder)") from None
    root = folder.resolve()
    files = []
    for name in listed:
        rel = Path(str(name))
        target = folder / rel
        if rel.is_absolute() or ".." in rel.parts or root not in target.resolve().parents:
            raise InputError(f"{folder / MARKER}", str(name), "paths inside the folder")
        files.append(target)
    return files


def check_output_dir(out: Path, *, overwrite: bool = False, option: str = "--out") -> Path:
    """Check, before any work, that ``out`` may be written; returns it (absolute)."""
    out = Path(os.path.abspath(out))
    if out.is_symlink():
        raise InputError(option, str(out), "a folder path, not a symlink")
    if out.exists() and not out.is_dir():
        raise InputError(option, str(out), "a folder (this is a file)")
    _writable_ancestor(out, option)
    entries = sorted(out.iterdir()) if out.is_dir() else []
    if entries:
        if not is_output_dir(out) and all(e.name.startswith(_PARTIAL) for e in entries):
            raise InputError(option, str(out), f"a new or empty folder (it holds "
                                               f"{entries[0].name}, left by an interrupted "
                                               "localflex run; remove it)")
        if not is_output_dir(out):
            raise InputError(option, str(out), "a new or empty folder (it holds files "
                                               "localflex did not write; choose another)")
        if not overwrite:
            raise InputError(option, str(out), "a new folder, or --overwrite to replace this "
                                               "earlier localflex output")
        _listed_files(out)
    return out


def check_output_file(out: Path, *, overwrite: bool = False, option: str = "--out") -> Path:
    """Check that a single plot file may be written; returns it (absolute)."""
    out = Path(os.path.abspath(out))
    _writable_ancestor(out.parent, option)
    if out.is_symlink() or (out.exists() and not out.is_file()):
        raise InputError(option, str(out), "a plot file path (this is a folder or a link)")
    if out.exists():
        if not _written_by_localflex(out):
            raise InputError(option, str(out), "a new file (this file was not written by "
                                               "localflex; choose another name)")
        if not overwrite:
            raise InputError(option, str(out), "a new file, or --overwrite to replace this "
                                               "earlier localflex plot")
    return out


def _written_by_localflex(path: Path) -> bool:
    """A PNG/SVG/PDF plot of localflex names it as its creator in the file's metadata."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(65536)
        handle.seek(max(0, size - 65536))
        tail = handle.read()
    tag = f"{PLOT_CREATOR} ".encode()
    return tag in head or tag in tail


def plot_metadata(suffix: str) -> dict[str, str]:
    """The matplotlib ``metadata=`` that marks a plot file as written by localflex."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        label = f"{PLOT_CREATOR} {version('localflex')}"
    except PackageNotFoundError:  # pragma: no cover - source tree without install
        label = f"{PLOT_CREATOR} dev"
    key = "Software" if suffix.lower() == ".png" else "Creator"
    return {key: label}


def save_figure(fig: Any, out: Path, *, overwrite: bool = False, dpi: int = 110,
                **kwargs: Any) -> Path:
    """Save a matplotlib figure to ``out`` (checked), atomically, following the umask."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    out = check_output_file(out, overwrite=overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fig.canvas is None or not hasattr(fig.canvas, "print_png"):
        FigureCanvasAgg(fig)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}{out.suffix}")
    try:
        fig.savefig(tmp, dpi=dpi, metadata=plot_metadata(out.suffix), **kwargs)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


def _remove_listed(folder: Path) -> None:
    """Remove what an earlier localflex run wrote into ``folder`` (and nothing else)."""
    for sub in folder.iterdir():
        if is_output_dir(sub):
            _remove_listed(sub)
            if not any(sub.iterdir()):
                sub.rmdir()
    listed = _listed_files(folder)
    for path in listed:
        if path.is_file() and not path.is_symlink():
            path.unlink()
    (folder / MARKER).unlink(missing_ok=True)
    parents = {p for path in listed for p in path.parents if folder in p.parents}
    for d in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        if d.is_dir() and not d.is_symlink() and not any(d.iterdir()):
            d.rmdir()  # a folder emptied by the removal; one holding a user's file stays


@contextmanager
def _staging(out: Path, *, overwrite: bool, option: str) -> Iterator[Path]:
    out = check_output_dir(out, overwrite=overwrite, option=option)
    created = []
    probe = out
    while not probe.exists():
        created.append(probe)
        probe = probe.parent
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f"{_PARTIAL}{os.getpid()}"
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in created:  # only folders this call created, innermost first
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise


def write_output_dir(out: Path, write: Callable[[Path], None], *, overwrite: bool = False,
                     option: str = "--out", command: str = "") -> Path:
    """Let ``write(staging)`` fill a staging folder, then move its files into ``out``.

    ``out`` is checked first (``check_output_dir``). With ``overwrite`` the files the old
    marker lists are removed before the new ones move in; a new file whose name is taken by
    a file localflex did not write is refused.
    """
    with _staging(out, overwrite=overwrite, option=option) as staging:
        write(staging)
        out = staging.parent
        names = sorted(str(p.relative_to(staging)) for p in staging.rglob("*")
                       if p.is_file())
        ours = set()
        if overwrite and is_output_dir(out):
            ours = {str(p.relative_to(out)) for p in _listed_files(out)}
        clash = [n for n in names if n not in ours
                 and ((out / n).exists() or (out / n).is_symlink())]
        if clash:
            raise InputError(option, str(out / clash[0]), "a name localflex may write (a file "
                                                          "it did not write is in the way)")
        if ours or (overwrite and is_output_dir(out)):
            _remove_listed(out)
        for name in names:
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, out / name)
        shutil.rmtree(staging)
        marker = {"tool": "localflex", "command": command, "files": names}
        (out / MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
    return out


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` if the block succeeds,
    remove it otherwise. Readers never see a half-written ``path``."""
    path = Path(path)
    # a fresh name, not mkstemp: the writer creates the file with the user's umask (mkstemp
    # would leave every result readable by its owner only)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through ``atomic_path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
