"""Fixtures of the study tests: the small study run serially (the reference)."""

import pytest
from study_builders import small_study


@pytest.fixture(scope="session")
def serial_run(tmp_path_factory):
    """The small study run in this process: the reference numbers."""
    from localflex.study import parse_study, run_study

    out = tmp_path_factory.mktemp("study") / "serial"
    run = run_study(parse_study(small_study()), out, scheduler="serial")
    assert not run.failed, run.failed
    return run
