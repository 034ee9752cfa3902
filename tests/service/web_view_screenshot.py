"""Refresh the README's screenshot of the web view (docs/web-view.png) from the browser test.

Runs tests/service/test_service_web.py (headless Chromium clicking through the operator's,
a DSO's and the aggregators' flows), which saves the final page as
test-artifacts/web-view.png, and copies that file to docs/web-view.png. The test itself
never writes under docs/.

    python tests/service/web_view_screenshot.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOT = ROOT / "test-artifacts" / "web-view.png"
DOCS = ROOT / "docs" / "web-view.png"


def main() -> int:
    if SHOT.exists():
        SHOT.unlink()  # only the run below may produce it
    test = "tests/service/test_service_web.py::test_service_web_each_role_works_in_chromium"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
                         cwd=ROOT, check=False)
    if run.returncode != 0 or not SHOT.exists():
        print(f"the browser test failed (exit {run.returncode}); {DOCS} left as it was",
              file=sys.stderr)
        return 2
    shutil.copyfile(SHOT, DOCS)
    print(f"{DOCS} <- {SHOT} ({DOCS.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
