"""Shapeshifter UFTP for the running market (paper §5.2 ICT, §5.3 the DSO market; USEF
Flexibility Trading Protocol 3.1 as implemented by the ``shapeshifter-uftp`` package).

Who is who. UFTP is bilateral: a DSO and an aggregator (AGR) exchange signed messages. The
market sits between them as the DSO's market platform under one UFTP domain
(``LOCALFLEX_UFTP_DOMAIN``) and one Ed25519 key:

* aggregators talk to it as to a DSO (it sends them FlexRequests, FlexOrders and
  FlexSettlements with SenderRole DSO, and accepts their D-Prognoses and FlexOffers);
* DSOs talk to it as to an aggregator (it accepts their FlexRequests, FlexOrders and
  FlexSettlements and sends them FlexOffers and D-Prognoses with SenderRole AGR).

It is not a blind relay: each message is first applied to the market through the same
operations as the REST API (a FlexRequest becomes DSO requests at its congestion point, a
FlexOffer becomes offers, a FlexOrder becomes awards with ledger payments — agreed only once
the aggregator's FlexOrderResponse accepts it, reversed if it rejects — a FlexSettlement is
checked against the market's awards and ledger, Metering becomes meter readings against the
D-Prognosis baseline, a FlexReservationUpdate is kept as a FLECH reservation), in the same
store, and only then relayed, re-signed by the market, to the other side with the market's
own MessageIDs (the ConversationID is kept end to end). Offers also take part in the gate
clearing like REST offers, and the clearing's awards go to the aggregators as FlexOrders.
TestMessage is answered; the CRO portfolio messages are refused with their own response
types (AgrPortfolioQuery is answered with the aggregator's registered connections). Every
outgoing message goes through the persistent outbox (``localflex.service.outbox``). See
``handlers`` for the message table and ``messaging`` for the security checks.

A FlexReservationUpdate caps the later clearings of its gates as FLECH's activation phase
does (``localflex.service.activation_caps``). What is not done: OfferOptions are limited to
one per FlexOffer.

Public surface: ``router`` (mounted by ``localflex.service.app.create_app``),
``UftpSettings``, the participant registration and the store models.
"""

from localflex.service.uftp.congestion_points import uftp_addressing
from localflex.service.uftp.models import UftpMessage, UftpParticipant, UftpPlatform
from localflex.service.uftp.participants import ParticipantIn, ParticipantOut
from localflex.service.uftp.platform import MESSAGE_PATH, UftpSettings
from localflex.service.uftp.protocol import entity_address
from localflex.service.uftp.router import router

__all__ = [
    "MESSAGE_PATH",
    "ParticipantIn",
    "ParticipantOut",
    "UftpMessage",
    "UftpParticipant",
    "UftpPlatform",
    "UftpSettings",
    "entity_address",
    "router",
    "uftp_addressing",
]
