"""Output safety (localflex.safe_io): no command deletes or overwrites a file it did not write."""

import json
import os
import stat
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from localflex.cli import app
from localflex.cli.run import DEMO_SCENARIO
from localflex.domain import InputError
from localflex.safe_io import MARKER, check_output_dir, save_figure, write_output_dir

runner = CliRunner()


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _writer(**files: str):
    def write(staging: Path) -> None:
        for name, text in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_text(text)
    return write


def _one_line_exit_2(result, needle: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert needle in result.output, result.output


def test_run_refuses_a_folder_with_foreign_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "v" / "sub").mkdir(parents=True)
    (tmp_path / "v" / "thesis.tex").write_text("x")
    for extra in ([], ["--overwrite"]):
        result = runner.invoke(app, ["run", str(DEMO_SCENARIO), "--out", "v", *extra])
        _one_line_exit_2(result, "--out")
    assert (tmp_path / "v" / "thesis.tex").read_text() == "x"
    assert (tmp_path / "v" / "sub").is_dir()


def test_demo_out_dot_refuses_a_non_empty_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("keep")
    _one_line_exit_2(runner.invoke(app, ["demo", "--out", "."]), "--out")
    _one_line_exit_2(runner.invoke(app, ["demo", "--out", ".", "--overwrite"]), "--out")
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


@pytest.mark.parametrize("name", ["/tmp/elsewhere", "../../elsewhere", "a/b", "..", ".hidden",
                                  "x" * 101, ""])
def test_scenario_name_must_be_a_plain_file_name(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    data = yaml.safe_load(DEMO_SCENARIO.read_text())
    data["name"] = name
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    _one_line_exit_2(runner.invoke(app, ["run", "s.yaml"]), "name")
    assert sorted(os.listdir(tmp_path)) == ["s.yaml"]


def test_out_under_a_regular_file_or_read_only_place_is_refused_before_the_run(tmp_path):
    (tmp_path / "file").write_text("x")
    _one_line_exit_2(runner.invoke(app, ["demo", "--out", str(tmp_path / "file" / "run")]),
                     "regular file")
    _one_line_exit_2(runner.invoke(app, ["demo", "--out", str(tmp_path / "file")]), "--out")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        _one_line_exit_2(runner.invoke(app, ["demo", "--out", str(locked / "run")]),
                         "not writable")
    assert (tmp_path / "file").read_text() == "x"


def test_overwrite_replaces_only_localflexs_own_files(tmp_path):
    out = tmp_path / "run"
    write_output_dir(out, _writer(**{"a.csv": "1", "t/b.csv": "2", "t/c.csv": "3"}))
    assert json.loads((out / MARKER).read_text())["files"] == ["a.csv", "t/b.csv", "t/c.csv"]
    (out / "mine.txt").write_text("user")
    (out / "t" / "user.csv").write_text("user")
    with pytest.raises(InputError, match="--overwrite"):
        write_output_dir(out, _writer(**{"a.csv": "new"}))
    write_output_dir(out, _writer(**{"a.csv": "new", "t/b.csv": "new"}), overwrite=True)
    assert _files(out) == {MARKER: (out / MARKER).read_text(), "a.csv": "new",
                           "mine.txt": "user", "t/b.csv": "new", "t/user.csv": "user"}


def test_overwrite_never_replaces_a_foreign_file_of_the_same_name(tmp_path):
    out = tmp_path / "run"
    write_output_dir(out, _writer(**{"a.csv": "1"}))
    (out / "b.csv").write_text("user")
    with pytest.raises(InputError, match="in the way"):
        write_output_dir(out, _writer(**{"a.csv": "2", "b.csv": "2"}), overwrite=True)
    assert (out / "b.csv").read_text() == "user"
    assert (out / "a.csv").read_text() == "1"  # refused before anything was replaced


def test_a_hostile_marker_cannot_reach_outside(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "run"
    out.mkdir()
    (out / MARKER).write_text(json.dumps({"files": ["../victim.txt"]}))
    with pytest.raises(InputError, match="inside the folder"):
        write_output_dir(out, _writer(**{"a.csv": "1"}), overwrite=True)
    (out / MARKER).write_text(json.dumps({"files": [str(victim)]}))
    with pytest.raises(InputError, match="inside the folder"):
        check_output_dir(out, overwrite=True)
    assert victim.read_text() == "precious"


def test_a_failed_write_leaves_nothing(tmp_path):
    def broken(staging: Path) -> None:
        (staging / "half.csv").write_text("x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_output_dir(tmp_path / "new" / "run", broken)
    assert os.listdir(tmp_path) == []


def test_overwriting_a_run_removes_its_stale_settlement_but_not_the_users_files(tmp_path):
    out = tmp_path / "run"
    write_output_dir(out, _writer(**{"kpis.json": "{}"}))
    write_output_dir(out / "settlement", _writer(**{"ledger.csv": "old"}))
    write_output_dir(out / "other", _writer(**{"x.csv": "old"}))
    (out / "other" / "mine.txt").write_text("user")
    write_output_dir(out, _writer(**{"kpis.json": "{1}"}), overwrite=True)
    assert not (out / "settlement").exists()
    assert _files(out) == {MARKER: (out / MARKER).read_text(), "kpis.json": "{1}",
                           "other/mine.txt": "user"}


def test_an_interrupted_run_is_named_not_removed(tmp_path):
    partial = tmp_path / "run" / ".localflex-partial-123"
    partial.mkdir(parents=True)
    (partial / "half.csv").write_text("x")
    with pytest.raises(InputError, match="interrupted"):
        write_output_dir(tmp_path / "run", _writer(**{"a.csv": "1"}), overwrite=True)
    assert (partial / "half.csv").read_text() == "x"


def test_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        out = write_output_dir(tmp_path / "run", _writer(**{"t/a.csv": "1"}))
        from matplotlib.figure import Figure

        png = save_figure(Figure(), tmp_path / "p.png")
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "t").stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "t" / "a.csv").stat().st_mode) == 0o644
    assert stat.S_IMODE(png.stat().st_mode) == 0o644


def test_plot_files_are_replaced_only_if_localflex_wrote_them(tmp_path):
    from matplotlib.figure import Figure

    foreign = tmp_path / "photo.png"
    foreign.write_bytes(b"\x89PNG not ours")
    with pytest.raises(InputError, match="not written by localflex"):
        save_figure(Figure(), foreign, overwrite=True)
    assert foreign.read_bytes() == b"\x89PNG not ours"
    ours = save_figure(Figure(), tmp_path / "plot.png")
    with pytest.raises(InputError, match="--overwrite"):
        save_figure(Figure(), ours)
    save_figure(Figure(), ours, overwrite=True)


def test_examples_copy_into_a_new_folder(tmp_path):
    result = runner.invoke(app, ["examples"])
    assert result.exit_code == 0
    assert "demo.yaml" in result.output.split()
    result = runner.invoke(app, ["examples", "--copy", str(tmp_path / "ex")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ex" / "demo.yaml").read_text() == DEMO_SCENARIO.read_text()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "x").write_text("x")
    _one_line_exit_2(runner.invoke(app, ["examples", "--copy", str(tmp_path / "mine")]),
                     "--copy")


@pytest.mark.parametrize("args", [["access", "--country", "de"], ["risk", "--family", "pv"]])
def test_plots_are_written_only_when_asked(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert os.listdir(tmp_path) == []
    result = runner.invoke(app, [*args, "--out", "p.png"])
    assert result.exit_code == 0, result.output
    assert os.listdir(tmp_path) == ["p.png"]
    _one_line_exit_2(runner.invoke(app, [*args, "--out", "p.png"]), "--overwrite")
