"""The on-disk SimBench grid cache: built once, read back equal, stale/corrupt entries rebuilt."""

from __future__ import annotations

import json

import numpy as np
import pytest

from localflex.domain import TimeGrid
from localflex.grid import grid_cache
from localflex.grid.simbench_loader import forget_loaded_grids, load_simbench_grid

CODE = "1-LV-rural1--2-sw"


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(grid_cache.CACHE_DIR_ENV, str(tmp_path))
    forget_loaded_grids()
    yield tmp_path
    forget_loaded_grids()


def _profiles(grid):
    return grid.element_profiles_kw(TimeGrid.for_day("2030-01-15", 60))


def test_cached_grid_equals_the_simbench_grid(cache_dir) -> None:
    fresh = load_simbench_grid(CODE, use_cache=False)
    forget_loaded_grids()
    built = load_simbench_grid(CODE, use_cache=True)  # miss: builds the entry
    entry = grid_cache.entry_dir(CODE)
    assert entry.parent.parent == cache_dir
    manifest = json.loads((entry / "manifest.json").read_text())
    assert manifest["code"] == CODE and "net.pickle" in manifest["files"]
    forget_loaded_grids()
    cached = load_simbench_grid(CODE, use_cache=True)  # hit: read from disk
    for grid in (built, cached):
        np.testing.assert_array_equal(grid.bus_ids, fresh.bus_ids)
        for name in ("load_p_kw", "load_q_kvar", "sgen_p_kw", "storage_p_kw"):
            np.testing.assert_array_equal(getattr(_profiles(grid), name),
                                          getattr(_profiles(fresh), name))
    assert len(cached.net.line) == len(fresh.net.line)
    assert (cached.net.trafo["sn_mva"].to_numpy() == fresh.net.trafo["sn_mva"].to_numpy()).all()
    assert not list(entry.parent.glob(f".{CODE}.*"))  # no temporary directory left


@pytest.mark.parametrize("damage", ["truncate_parquet", "stale_version", "no_manifest"])
def test_a_corrupt_or_stale_entry_is_rebuilt(cache_dir, damage) -> None:
    load_simbench_grid(CODE, use_cache=True)
    entry = grid_cache.entry_dir(CODE)
    if damage == "truncate_parquet":
        target = next(entry.glob("profiles-load.parquet"))
        target.write_bytes(target.read_bytes()[:100])
    elif damage == "stale_version":
        manifest = json.loads((entry / "manifest.json").read_text())
        manifest["versions"]["simbench"] = "0.0.1"
        (entry / "manifest.json").write_text(json.dumps(manifest))
    else:
        (entry / "manifest.json").unlink()
    assert grid_cache.valid_manifest(entry, CODE) is None
    forget_loaded_grids()
    grid = load_simbench_grid(CODE, use_cache=True)
    assert grid_cache.valid_manifest(entry, CODE) is not None  # rebuilt
    assert _profiles(grid).load_p_kw.shape[1] == len(grid.net.load)


def test_the_cache_can_be_switched_off(cache_dir, monkeypatch) -> None:
    monkeypatch.setenv(grid_cache.CACHE_SWITCH_ENV, "off")
    assert not grid_cache.cache_enabled()
    load_simbench_grid(CODE)
    assert not grid_cache.entry_dir(CODE).exists()
    grid_cache.set_cache_enabled(True)
    try:
        assert grid_cache.cache_enabled()
    finally:
        grid_cache.set_cache_enabled(None)


def test_no_cache_option_of_the_cli_writes_no_entry(cache_dir, tmp_path) -> None:
    from typer.testing import CliRunner

    from localflex.cli._app import app

    try:
        result = CliRunner().invoke(app, ["demo", "--no-cache", "--out", str(tmp_path / "run")])
    finally:
        grid_cache.set_cache_enabled(None)
    assert result.exit_code == 0, result.output
    assert not grid_cache.entry_dir(CODE).exists()
    assert (tmp_path / "run" / "kpis.json").is_file()


_ADDER = """
import sys
import numpy as np
from localflex.grid import grid_cache
code, who = sys.argv[1], int(sys.argv[2])
for i in range(15):
    if who < 0:  # a reader: every manifest it sees is complete and names an intact file
        assert grid_cache.valid_manifest(grid_cache.entry_dir(code), code) is not None
        got = grid_cache.read_arrays(code, "extra", 1)
        assert got is None or got["x"].size == 2000 and (got["x"] == got["x"][0]).all()
    else:
        assert grid_cache.add_arrays(code, "extra", 1, {"x": np.full(2000, 100 * who + i)})
"""


def test_arrays_added_by_several_processes_at_once_leave_a_valid_entry(cache_dir) -> None:
    """Array files (the Jacobian's AC model) are added to an entry without a lock: writers
    racing each other and a reader never see a torn manifest or file."""
    import os
    import subprocess
    import sys

    load_simbench_grid(CODE, use_cache=True)
    env = {**os.environ, grid_cache.CACHE_DIR_ENV: str(cache_dir)}
    procs = [subprocess.Popen([sys.executable, "-c", _ADDER, CODE, str(who)], env=env)
             for who in (0, 1, 2, -1)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    entry = grid_cache.entry_dir(CODE)
    manifest = grid_cache.valid_manifest(entry, CODE)
    assert manifest is not None and "net.pickle" in manifest["files"]
    got = grid_cache.read_arrays(CODE, "extra", 1)
    assert got is not None and got["x"][0] in {100 * w + i for w in range(3) for i in range(15)}
    assert grid_cache.read_arrays(CODE, "extra", 2) is None  # another format: rebuilt
    assert not list(entry.glob(".*"))  # no temporary file left
    forget_loaded_grids()
    assert load_simbench_grid(CODE, use_cache=True).n_buses > 0  # the entry still loads


def test_without_the_cache_the_ac_model_stays_in_the_process(cache_dir, monkeypatch) -> None:
    from localflex.grid import bus_loads
    from localflex.grid.jacobian import pandapower_model

    monkeypatch.setenv(grid_cache.CACHE_SWITCH_ENV, "off")
    grid = load_simbench_grid(CODE)
    loads = bus_loads(grid, _profiles(grid))
    model = pandapower_model(grid, loads.p_kw[0], loads.q_kvar[0])
    assert grid.cache["jacobian_model"] is model
    assert model["Ybus"].shape == (model["n_bus"], model["n_bus"])
    assert not grid_cache.entry_dir(CODE).exists()


def test_a_bad_array_file_name_is_refused(cache_dir) -> None:
    with pytest.raises(ValueError, match="array file name"):
        grid_cache.add_arrays(CODE, "../x", 1, {})


def test_the_known_codes_are_kept_in_the_cache(cache_dir, monkeypatch) -> None:
    """Checking a study's grid codes needs simbench (and pandapower) once per version only."""
    from localflex.grid import known_codes, simbench_loader

    first = known_codes()
    assert CODE in first
    path = next(cache_dir.glob("simbench-*/codes.json"))
    assert CODE in json.loads(path.read_text())["codes"]

    def no_simbench() -> list[str]:
        raise AssertionError("simbench asked again")

    monkeypatch.setattr(simbench_loader, "_simbench_codes", no_simbench)
    assert known_codes() == first
    stored = json.loads(path.read_text())
    stored["versions"]["simbench"] = "0.0.1"  # another version: asked again
    path.write_text(json.dumps(stored))
    with pytest.raises(AssertionError, match="asked again"):
        known_codes()
