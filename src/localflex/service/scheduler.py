"""The gate scheduler: clears every gate whose closure time has passed (paper §5.3: the
DSO's market clears per ISP at gate closure).

A daemon thread wakes every ``scheduler_interval_s`` seconds and clears the due gates, one
transaction each, with the same ``clear_gate`` as ``POST /api/v1/gates/{id}/clear``. A gate
that cannot be cleared now (grid still loading) is retried on the next tick; any other
error is logged and retried, never silently dropped. Several service processes may run a
scheduler: the gate row lock makes the second clearing of a gate a no-op (409).
"""

from __future__ import annotations

import logging
import threading

from localflex.domain import LocalflexError
from localflex.service.clearing import clear_gate, due_gates
from localflex.service.context import ServiceContext

__all__ = ["GateScheduler"]

log = logging.getLogger("localflex.service.scheduler")


class GateScheduler:
    def __init__(self, svc: ServiceContext) -> None:
        self.svc = svc
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.cleared: list[str] = []

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="localflex-gates", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def tick(self) -> list[str]:
        """Clear every due gate now; return the ids cleared."""
        done = []
        for gate_id in due_gates(self.svc):
            try:
                clear_gate(self.svc, None, gate_id)
                done.append(gate_id)
            except LocalflexError as exc:
                log.warning("gate %s not cleared yet: %s", gate_id, exc)
        self.cleared += done
        return done

    def _run(self) -> None:
        while not self._stop.wait(self.svc.settings.scheduler_interval_s):
            try:
                self.tick()
            except Exception:  # keep the scheduler alive; the next tick retries
                log.exception("gate scheduler tick failed")
