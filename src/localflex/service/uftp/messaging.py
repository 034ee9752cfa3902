"""Receiving, recording, answering and delivering signed UFTP messages.

Receive (``receive``), in this order, before anything is written:

1. the body parses as a ``SignedMessage`` (else HTTP 400);
2. ``(SenderDomain, SenderRole)`` is a registered, unrevoked participant (else 419, the
   status ``shapeshifter_uftp`` uses for an unknown key);
3. the sealed body opens with that participant's Ed25519 public key (else 401);
4. the inner SenderDomain equals the envelope's and RecipientDomain is the market's (400);
5. its TimeStamp is within ``max_clock_skew_s`` of the market's clock (else 409, stale);
6. its MessageID was never received from that domain (else 409, replay). The check is
   repeated by a unique index in the transaction that applies the message, so two copies
   racing each other cannot both be applied.

Then the message is applied in one write transaction together with its record and the
messages it causes (the answer to the sender, relays to other participants), all signed with
the market's key and queued (``status='pending'``). A functional refusal (closed gate, a
congestion point of another DSO, an unknown reference) rolls the operation back and records
the message as rejected with a Rejected answer, as UFTP prescribes; the HTTP answer is 200
once the record is committed. Queued messages are the outbox
(``localflex.service.outbox``): sent right after the request (``orders.send_now``) and by
the outbox's background sender, retried with exponential backoff until delivered, across
restarts.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import ValidationError
from shapeshifter_uftp.uftp import (
    AcceptedDisputed,
    AcceptedRejected,
    FlexOrderSettlementStatus,
    FlexSettlementResponse,
    PayloadMessage,
    SignedMessage,
    TestMessage,
    request_response_map,
)
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from localflex.domain import InputError, LocalflexError, Role
from localflex.service.auth import Caller
from localflex.service.context import ServiceContext
from localflex.service.errors import Forbidden, NotFound
from localflex.service.uftp import codec
from localflex.service.uftp.models import UftpMessage, UftpParticipant
from localflex.service.uftp.platform import UftpState
from localflex.store import record
from localflex.store.models import Party

__all__ = [
    "Handled",
    "Inbound",
    "Outgoing",
    "ReceiveError",
    "answer",
    "previous_revisions",
    "probe_participant",
    "queue",
    "receive",
    "snake_case",
    "type_name",
    "validated",
]

log = logging.getLogger("localflex.uftp")

PARTY_ROLE = {"DSO": Role.DSO, "AGR": Role.AGGREGATOR}
OTHER_ROLE = {"DSO": "AGR", "AGR": "DSO"}


class ReceiveError(Exception):
    """A message refused at transport level: answered with ``status`` and nothing stored."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass
class Outgoing:
    message: PayloadMessage
    recipient: UftpParticipant
    reference: str | None = None
    ref_message_id: str | None = None
    detail: dict = field(default_factory=dict)
    conversation_id: str | None = None  # default: the conversation of the message handled


@dataclass
class Handled:
    response: PayloadMessage | None = None  # to the sender, headers filled by ``queue``
    forwards: list[Outgoing] = field(default_factory=list)
    status: str = "accepted"
    reference: str | None = None
    ref_message_id: str | None = None
    detail: dict = field(default_factory=dict)


@dataclass
class Inbound:
    svc: ServiceContext
    state: UftpState
    session: Session
    participant: UftpParticipant
    caller: Caller
    message: PayloadMessage
    row: UftpMessage


Handler = Callable[[Inbound], Handled]


def snake_case(name: str) -> str:
    return re.sub(r"(.)([A-Z][a-z])", r"\1_\2", name).lower()


def type_name(message: PayloadMessage) -> str:
    return type(message).__name__


def _parse_time(value: str | None) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(value or "")
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else None


# ---- outgoing ---------------------------------------------------------------------------------
def queue(state: UftpState, session: Session, out: Outgoing, *,
          conversation_id: str | None, version: str, now: datetime,
          origin_id: int | None) -> UftpMessage:
    """Fill the headers of ``out.message``, sign it with the market's key and queue it in
    the outbox (``status='pending'``, due now)."""
    conversation_id = out.conversation_id or conversation_id or str(uuid.uuid4())
    msg = out.message
    msg.version = version
    msg.sender_domain = state.domain
    msg.recipient_domain = out.recipient.domain
    msg.time_stamp = now.isoformat()
    msg.message_id = str(uuid.uuid4())
    msg.conversation_id = conversation_id
    sender_role = OTHER_ROLE[out.recipient.role]
    sealed = codec.seal(msg, state.signing_key)
    envelope = SignedMessage(sender_domain=state.domain, sender_role=sender_role, body=sealed)
    row = UftpMessage(
        direction="out", message_type=type_name(msg), message_id=msg.message_id,
        conversation_id=conversation_id, sender_domain=state.domain, sender_role=sender_role,
        recipient_domain=out.recipient.domain, recipient_role=out.recipient.role,
        party_id=out.recipient.party_id, reference=out.reference,
        ref_message_id=out.ref_message_id, origin_id=origin_id, status="pending",
        detail=out.detail, payload_xml=codec.to_xml(msg),
        signed_xml=codec.to_xml(envelope), attempts=0, created_at=now, next_attempt_at=now)
    session.add(row)
    return row


def probe_participant(state: UftpState, session: Session, role: str, domain: str,
                      now: datetime) -> UftpMessage:
    """Queue a TestMessage to the registered, unrevoked participant ``(domain, role)``."""
    part = session.get(UftpParticipant, (domain, role))
    if part is None or part.revoked_at is not None:
        raise NotFound("domain", domain, f"a registered, unrevoked {role} participant")
    return queue(state, session, Outgoing(TestMessage(), part), conversation_id=str(uuid.uuid4()),
                 version="3.1.0", now=now, origin_id=None)


def answer(message: PayloadMessage, result: AcceptedRejected, reason: str | None = None,
           **extra) -> PayloadMessage | None:
    """The UFTP response to a request ``message`` (None for a response: it gets none).

    The reference field ``<Request>MessageID`` is set where the response type has one (a
    TestMessageResponse has none: the ConversationID links it); fields the response type
    requires and the request carries (Period, TimeZone of the portfolio queries) are copied.
    None also if the response type cannot be built without content the market lacks
    (shapeshifter-uftp's AgrPortfolioQueryResponse needs at least one DSO view): the request
    is then recorded with its status and not answered.
    """
    answer_type = request_response_map.get(type(message))
    if answer_type is None:
        return None
    names = {f.name: f for f in dataclasses.fields(answer_type)}
    fields = {"result": result, **extra}
    if reason is not None:
        fields["rejection_reason"] = reason[:1000]
    ref = f"{snake_case(type_name(message))}_message_id"
    if ref in names:
        fields[ref] = message.message_id
    for name, f in names.items():
        required = f.default is dataclasses.MISSING and \
            f.default_factory is dataclasses.MISSING
        if required and name not in fields and hasattr(message, name):
            fields[name] = getattr(message, name)
    try:
        return answer_type(**fields)
    except (TypeError, ValueError) as exc:  # e.g. a list the response type needs filled
        log.warning("no %s can be built (%s): the answer is left out", answer_type.__name__,
                    exc)
        return None


def rejection(message: PayloadMessage, reason: str) -> PayloadMessage | None:
    """The Rejected answer to a request message (None for a response: it gets none)."""
    extra = {}
    if request_response_map.get(type(message)) is FlexSettlementResponse:
        refs = [s.order_reference for s in getattr(message, "flex_order_settlements", [])]
        extra["flex_order_settlement_statuses"] = [
            FlexOrderSettlementStatus(order_reference=r, disposition=AcceptedDisputed.DISPUTED,
                                      dispute_reason=reason[:1000]) for r in refs or [None]]
    return answer(message, AcceptedRejected.REJECTED, reason, **extra)


def acceptance(message: PayloadMessage, **extra) -> PayloadMessage | None:
    return answer(message, AcceptedRejected.ACCEPTED, **extra)


def reason_of(exc: LocalflexError) -> str:
    if isinstance(exc, Forbidden):
        return f"Unauthorized: {exc}"
    return str(exc)


# ---- incoming ---------------------------------------------------------------------------------
def _participant(svc: ServiceContext, domain: str, role: str) -> UftpParticipant:
    with svc.db.read() as session:
        part = session.get(UftpParticipant, (domain, str(role)))
    if part is None or part.revoked_at is not None:
        raise ReceiveError(419, f"unknown participant {domain} ({role})")
    return part


def _open(raw: bytes, svc: ServiceContext, state: UftpState):
    if len(raw) > state.settings.max_message_bytes:
        raise ReceiveError(413, "message too large")
    try:
        envelope = codec.from_xml(raw)
    except Exception:  # xsdata raises several types for malformed XML
        raise ReceiveError(400, "not a SignedMessage") from None
    if not isinstance(envelope, SignedMessage) or not envelope.body:
        raise ReceiveError(400, "not a SignedMessage")
    part = _participant(svc, envelope.sender_domain, envelope.sender_role)
    try:
        message = codec.unseal(envelope.body, part.public_key)
    except codec.BadSignatureError:
        raise ReceiveError(401, "invalid signature") from None
    except Exception as exc:  # xsdata parser errors, dataclass validation
        raise ReceiveError(400, f"schema: {exc}") from None
    if not isinstance(message, PayloadMessage):
        raise ReceiveError(400, "the signed body is not a UFTP payload message")
    if message.sender_domain != envelope.sender_domain:
        raise ReceiveError(400, "Invalid Sender: SenderDomain differs from the envelope's")
    if message.recipient_domain != state.domain:
        raise ReceiveError(400, f"Unknown Recipient: this endpoint is {state.domain}")
    if not message.message_id or not message.conversation_id:
        raise ReceiveError(400, "MessageID and ConversationID are required")
    stamp = _parse_time(message.time_stamp)
    now = svc.now()
    if stamp is None or abs(now - stamp) > timedelta(seconds=state.settings.max_clock_skew_s):
        raise ReceiveError(409, f"stale or missing TimeStamp {message.time_stamp!r}: at most "
                           f"{state.settings.max_clock_skew_s:g} s from {now.isoformat()}")
    return envelope, part, message


def _seen(session: Session, domain: str, message_id: str) -> bool:
    return session.scalar(select(UftpMessage.id).where(
        UftpMessage.sender_domain == domain, UftpMessage.message_id == message_id)) is not None


def receive(svc: ServiceContext, state: UftpState, raw: bytes,
            handlers: dict[str, dict[type, Handler]]) -> UftpMessage:
    """Check, apply and record one signed message; the committed inbound record."""
    _envelope, part, message = _open(raw, svc, state)
    with svc.db.read() as session:
        if _seen(session, part.domain, message.message_id):
            raise ReceiveError(409, f"replayed MessageID {message.message_id}")
        party = session.get(Party, part.party_id)
    if party is None or party.role != PARTY_ROLE[part.role]:
        raise ReceiveError(419, f"participant {part.domain} is not linked to a "
                           f"{PARTY_ROLE[part.role].value} party")
    caller = Caller(part.party_id, Role(party.role), f"uftp:{part.domain}")
    handler = handlers.get(part.role, {}).get(type(message))
    raw_text = raw.decode("utf-8", "replace")

    def new_row(now: datetime) -> UftpMessage:
        return UftpMessage(
            direction="in", message_type=type_name(message), message_id=message.message_id,
            conversation_id=message.conversation_id, sender_domain=part.domain,
            sender_role=part.role, recipient_domain=state.domain,
            recipient_role=OTHER_ROLE[part.role], party_id=part.party_id, status="accepted",
            detail={}, payload_xml=codec.to_xml(message), signed_xml=raw_text,
            attempts=0, created_at=now)

    def reply_all(session: Session, row: UftpMessage, handled: Handled, now: datetime):
        version = message.version or "3.1.0"
        if handled.response is not None:
            queue(state, session, Outgoing(handled.response, part,
                                                 ref_message_id=message.message_id),
                  conversation_id=message.conversation_id, version=version, now=now,
                  origin_id=row.id)
        for out in handled.forwards:
            queue(state, session, out, conversation_id=message.conversation_id,
                  version=version, now=now, origin_id=row.id)

    try:
        with svc.db.write() as session:
            now = svc.now()
            row = new_row(now)
            session.add(row)
            session.flush()  # the unique (sender, MessageID) guard fires here on a replay
            if handler is None:
                raise InputError("message", type_name(message),
                                 f"a message the market accepts from a {part.role}")
            handled = handler(Inbound(svc, state, session, part, caller, message, row))
            row.status, row.detail = handled.status, handled.detail
            row.reference, row.ref_message_id = handled.reference, handled.ref_message_id
            reply_all(session, row, handled, now)
            record(session, part.party_id, "uftp_receive", "uftp_message", message.message_id,
                   type=row.message_type, sender=part.domain, status=row.status)
        return row
    except IntegrityError:
        with svc.db.read() as session:
            if _seen(session, part.domain, message.message_id):
                raise ReceiveError(409, f"replayed MessageID {message.message_id}") from None
        raise
    except (LocalflexError, ValueError, TypeError) as exc:
        reason = reason_of(exc) if isinstance(exc, LocalflexError) else f"Invalid Message: {exc}"
        if handler is None:
            reason = f"Invalid Message: {type_name(message)} is not accepted from a {part.role}"
        log.info("UFTP %s %s from %s rejected: %s", type_name(message), message.message_id,
                 part.domain, reason)
    try:
        with svc.db.write() as session:
            now = svc.now()
            row = new_row(now)
            row.status, row.reason = "rejected", reason
            session.add(row)
            session.flush()
            answer = rejection(message, reason)
            reply_all(session, row, Handled(response=answer), now)
            record(session, part.party_id, "uftp_reject", "uftp_message", message.message_id,
                   type=row.message_type, sender=part.domain, reason=reason[:200])
        return row
    except IntegrityError:
        raise ReceiveError(409, f"replayed MessageID {message.message_id}") from None


def copy_message(message: PayloadMessage, **changes) -> PayloadMessage:
    """A copy of ``message`` to relay (headers are refilled by ``queue``)."""
    return dataclasses.replace(message, **changes)


def previous_revisions(inb: Inbound, message_type: str, reference: str,
                       revision: int) -> list[UftpMessage]:
    """The sender's accepted ``message_type`` messages for ``reference``; InputError unless
    ``revision`` is above all of theirs (UFTP: a new revision replaces the previous)."""
    rows = list(inb.session.scalars(select(UftpMessage).where(
        UftpMessage.direction == "in", UftpMessage.sender_domain == inb.participant.domain,
        UftpMessage.message_type == message_type, UftpMessage.status == "accepted",
        UftpMessage.reference == reference)))
    latest = max((r.detail.get("revision", 0) for r in rows), default=None)
    if latest is not None and revision <= latest:
        raise InputError("Revision", revision, f"a revision above {latest} for {reference} "
                         "(Subordinate Sequence Number)")
    return rows


def validated(model, **values):
    """``model(**values)``; a pydantic error becomes the InputError naming its field."""
    try:
        return model(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError(".".join(str(x) for x in err["loc"]), err.get("input"),
                         err["msg"]) from None


def expand_isps(isps) -> list[tuple[int, object]]:
    """``[(ISP number, element)]`` with each element's Duration expanded."""
    out = []
    for isp in isps:
        if isp.start is None or isp.start < 1 or (isp.duration or 1) < 1:
            raise InputError("ISP.Start", isp.start, "ISP numbers from 1 and a Duration ≥ 1")
        out += [(isp.start + k, isp) for k in range(isp.duration or 1)]
    numbers = [n for n, _ in out]
    if len(set(numbers)) != len(numbers):
        raise InputError("ISP", numbers, "each ISP once")
    return out

