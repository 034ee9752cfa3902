"""Atomic writes: all or nothing, and the user's permissions."""

import os
import stat

import pytest

from localflex.safe_io import atomic_path, write_bytes_atomic


def test_atomic_write_keeps_the_umask_and_leaves_nothing_on_failure(tmp_path):
    old = os.umask(0o022)
    try:
        write_bytes_atomic(tmp_path / "a.json", b"{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "b.csv") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
