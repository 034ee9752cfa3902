"""The small study (2 designs × 2 seeds × 2 days of the demo grid) of the study tests."""

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def small_study(**changes) -> dict:
    data = {
        "name": "small",
        "scenario": str(EXAMPLES / "demo.yaml"),
        "designs": ["sequential_dso_first", "conditional_bdew"],
        "seeds": [1, 2],
        "dates": [{"start": "2016-06-20", "end": "2016-06-21"}],
    }
    data.update(changes)
    return data
