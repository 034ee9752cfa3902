"""The append-only audit log (paper §5.2: a transparent record of every market exchange).

``record(session, ...)`` adds one entry in the caller's transaction, so an entry exists iff
the change it describes was committed. No function updates or deletes an entry; a
``before_flush`` guard refuses it in the ORM, and database triggers (initial migration) refuse
``UPDATE``/``DELETE`` on ``audit_log`` for SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from localflex.store.models import AuditEntry

__all__ = ["AppendOnlyError", "record"]


class AppendOnlyError(RuntimeError):
    """An attempt to change or delete an audit entry."""


def record(session: Session, party_id: str | None, action: str, entity: str, entity_id: str,
           **detail: Any) -> None:
    session.add(AuditEntry(party_id=party_id, action=action, entity=entity,
                           entity_id=entity_id, detail=detail))


@event.listens_for(Session, "before_flush")
def _refuse_changes(session: Session, _ctx: Any, _instances: Any) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AuditEntry):
            raise AppendOnlyError("audit_log is append-only: entries are never changed")
