"""A quiet HiGHS solver object.

HiGHS prints its licence banner on the C-level standard output when the first solver object
of a process is built; the ``output_flag`` option comes too late to stop it. A market
clearing inside a CLI progress bar or a service must not write to stdout, so the first
construction runs with file descriptor 1 pointed at /dev/null.
"""

from __future__ import annotations

import os
import sys
import threading

import highspy

__all__ = ["quiet_highs"]

_lock = threading.Lock()
_banner_done = False


def quiet_highs() -> highspy.Highs:
    """A new ``highspy.Highs`` with output off and no banner on stdout."""
    global _banner_done
    with _lock:
        if _banner_done:
            solver = highspy.Highs()
        else:
            sys.stdout.flush()
            saved = os.dup(1)
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, 1)
                solver = highspy.Highs()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
                os.close(devnull)
            _banner_done = True
    solver.setOptionValue("output_flag", False)
    return solver
