"""The outbox: every message the market sends is delivered at least once (paper §5.2: the
market's ICT must not lose an exchange between the parties; UFTP 3.1 transport: a message
is delivered when the recipient's endpoint answers HTTP 200).

A message to send is a row of ``uftp_messages`` (``direction='out'``), written in the same
transaction as the market change that causes it and signed once, so every retry carries the
same bytes and MessageID: the recipient can drop a repeat by its MessageID (idempotent).

``deliver_due`` sends the rows whose ``next_attempt_at`` has come, oldest first. A row is
*claimed* before it is sent (its ``next_attempt_at`` moved ``claim_s`` ahead by an update
that succeeds only if nobody moved it since), so several senders (threads, API workers)
never post the same row at the same time; a sender killed mid-delivery leaves the claim to
expire and the row is sent again (at least once). After an answer other than 200 or a
transport error the row waits ``retry_base_s × 2^(attempts − 1)`` (at most
``retry_max_s``) and is tried again, up to ``max_delivery_attempts``; then it is ``failed``
and kept with the last error. Rows survive restarts in the store.

``OutboxSender`` runs ``step`` in a daemon thread every ``outbox_interval_s``: it first
turns new awards of the gate clearing into FlexOrders (``uftp.orders.clearing_orders``),
then delivers what is due.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, update

from localflex.service.context import ServiceContext
from localflex.store.uftp_records import UftpMessage, UftpParticipant

__all__ = ["OutboxSender", "backoff_s", "deliver_due"]

log = logging.getLogger("localflex.outbox")


def backoff_s(attempts: int, base_s: float, max_s: float) -> float:
    """Wait before the next attempt after ``attempts`` failed ones (exponential, capped)."""
    return min(max_s, base_s * 2.0 ** max(0, attempts - 1))


def _claim(svc: ServiceContext, row_id: int, due: datetime | None, until: datetime) -> bool:
    with svc.db.write() as session:
        done = session.execute(update(UftpMessage).where(
            UftpMessage.id == row_id, UftpMessage.status == "pending",
            UftpMessage.next_attempt_at.is_(None) if due is None
            else UftpMessage.next_attempt_at == due).values(next_attempt_at=until))
        return done.rowcount == 1


def _post(endpoint: str, body: str, timeout_s: float) -> str | None:
    """None if the recipient answered 200, else the error."""
    try:
        answer = httpx.post(endpoint, content=body.encode("utf-8"), timeout=timeout_s,
                            headers={"Content-Type": "text/xml; charset=utf-8"})
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if answer.status_code != 200:
        return f"HTTP {answer.status_code}: {answer.text[:200]}"
    return None


def deliver_due(svc: ServiceContext, settings, *, limit: int = 200) -> dict[str, int]:
    """Send every due outgoing message once; counts of ``sent``, ``retry`` and ``failed``."""
    counts = {"sent": 0, "retry": 0, "failed": 0}
    now = svc.now()
    with svc.db.read() as session:
        rows = session.execute(select(
            UftpMessage.id, UftpMessage.next_attempt_at, UftpMessage.signed_xml,
            UftpParticipant.endpoint).join(
            UftpParticipant, (UftpParticipant.domain == UftpMessage.recipient_domain)
            & (UftpParticipant.role == UftpMessage.recipient_role)).where(
            UftpMessage.direction == "out", UftpMessage.status == "pending",
            UftpMessage.next_attempt_at.is_(None) | (UftpMessage.next_attempt_at <= now))
            .order_by(UftpMessage.id).limit(limit)).all()
    for row_id, due, signed_xml, endpoint in rows:
        claim_until = svc.now() + timedelta(seconds=settings.delivery_timeout_s * 3)
        if not _claim(svc, row_id, due, claim_until):
            continue  # another sender has it
        error = _post(endpoint, signed_xml, settings.delivery_timeout_s)
        with svc.db.write() as session:
            row = session.get(UftpMessage, row_id)
            row.attempts += 1
            if error is None:
                row.status, row.delivered_at, row.next_attempt_at = "sent", svc.now(), None
                counts["sent"] += 1
                continue
            row.reason = error
            if row.attempts >= settings.max_delivery_attempts:
                row.status, row.next_attempt_at = "failed", None
                counts["failed"] += 1
                log.warning("UFTP %s %s to %s failed after %d attempts: %s", row.message_type,
                            row.message_id, row.recipient_domain, row.attempts, error)
            else:
                wait = backoff_s(row.attempts, settings.retry_base_s, settings.retry_max_s)
                row.next_attempt_at = svc.now() + timedelta(seconds=wait)
                counts["retry"] += 1
    return counts


class OutboxSender:
    """A daemon thread running ``step`` every ``interval_s`` seconds until ``stop``."""

    def __init__(self, step: Callable[[], object], interval_s: float) -> None:
        self.step, self.interval_s = step, interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="localflex-outbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.step()
            except Exception:  # keep sending; the next tick retries
                log.exception("outbox step failed")
