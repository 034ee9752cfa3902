"""A running market on loopback plus DSO and aggregator participants built with the
``shapeshifter_uftp`` package's own service and client classes (no DNS: key and endpoint
lookups are the package's constructor hooks, answering from the registrations below)."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response
from shapeshifter_uftp import (
    AcceptedRejected,
    FlexOrderSettlementStatus,
    ShapeshifterAgrDsoClient,
    ShapeshifterAgrService,
    ShapeshifterDsoAgrClient,
    ShapeshifterDsoService,
    transport,
)
from shapeshifter_uftp.uftp import (
    AcceptedDisputed,
    DPrognosisResponse,
    FlexOfferResponse,
    FlexOrderResponse,
    FlexRequestResponse,
    FlexSettlementResponse,
)
from starlette.concurrency import run_in_threadpool

from localflex.service import Settings, bootstrap_operator, create_app
from localflex.service.uftp import UftpSettings, entity_address
from localflex.service.uftp.protocol import new_keypair
from support import ThreadServer, free_port, wait_healthy

PG_ENV = "LOCALFLEX_TEST_DATABASE_URL"
GRID = "1-LV-rural1--2-sw"
DAY = datetime(2030, 6, 21, tzinfo=UTC)
MARKET = "market.localflex.test"
TZ = "Europe/Amsterdam"
FIRST_ISP = 57  # 12:00 UTC = 14:00 CEST on 2030-06-21: the market's first gate
logging.getLogger("shapeshifter-uftp").setLevel(logging.WARNING)



def ts(delta_s: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=delta_s)).isoformat()


class Inbox:
    """Messages a participant's service received, waited for by type and predicate."""

    def __init__(self) -> None:
        self.items: list = []
        self.cond = threading.Condition()

    def put(self, message) -> None:
        with self.cond:
            self.items.append(message)
            self.cond.notify_all()

    def wait_for(self, cls, pred=lambda m: True, timeout_s: float = 15.0):
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while True:
                for m in self.items:
                    if isinstance(m, cls) and pred(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {cls.__name__} arrived; got "
                                       f"{[type(m).__name__ for m in self.items]}")
                self.cond.wait(left)

    def of(self, cls) -> list:
        with self.cond:
            return [m for m in self.items if isinstance(m, cls)]


def _accept(message, cls, **extra):
    ref = re.sub(r"(.)([A-Z][a-z])", r"\1_\2", type(message).__name__).lower() + "_message_id"
    return cls(conversation_id=message.conversation_id, result=AcceptedRejected.ACCEPTED,
               **{ref: message.message_id}, **extra)


PACKAGE_XML_LOCK = threading.Lock()
# shapeshifter-uftp's module-level xsdata context resolves a root element by class name among
# every dataclass in the process, so in a process that imported localflex.domain a FlexRequest
# or FlexOffer parses as localflex.domain.FlexRequest/FlexOffer and fails. The participants
# share this process, so their context is limited to the package's own models (a setting of
# that context, not a code change; see localflex.service.uftp.codec for the market's side).
transport.parser.context.models_package = "shapeshifter_uftp"
transport.parser.context.sys_modules = 0  # rebuild its type cache on the next parse


class PlainRoute:
    """The package's service, its endpoint bound without fastapi-xml.

    ``ShapeshifterService.__init__`` (shapeshifter-uftp 2.4.0) registers its endpoint with
    fastapi-xml 1.1.2's ``XmlRoute``, which fails on FastAPI 0.165
    (``'Dependant' object has no attribute 'is_coroutine_callable'``). This sets the same
    attributes and binds the package's own ``_receive_message`` (signature check, message
    filtering, processing in its executor) to a plain route that parses the body with the
    package's ``transport.from_xml``; everything else is the package's code. Parsing holds
    a lock: the package's module-level xsdata context is not thread-safe (see
    ``localflex.service.uftp.codec``).
    """

    def __init__(self, sender_domain, signing_key, key_lookup_function,
                 endpoint_lookup_function, host: str, port: int,
                 path: str = "/shapeshifter/api/v3/message") -> None:
        self.version = "3.1.0"
        self.sender_domain, self.signing_key = sender_domain, signing_key
        self.key_lookup_function = key_lookup_function
        self.endpoint_lookup_function = endpoint_lookup_function
        self.oauth_lookup_function = None
        self.app = FastAPI()

        def parse_and_receive(body: bytes) -> Response:
            with PACKAGE_XML_LOCK:  # the package's xsdata context is not thread-safe
                try:
                    signed = transport.from_xml(body)
                except Exception:  # xsdata raises several types for malformed XML
                    return Response("not a SignedMessage", status_code=400)
                return self._receive_message(signed)

        async def receive(request: Request) -> Response:
            return await run_in_threadpool(parse_and_receive, await request.body())

        self.app.add_api_route(path, receive, methods=["POST"])
        self.server = uvicorn.Server(uvicorn.Config(self.app, host=host, port=port,
                                                    log_level="warning"))
        self.server_thread = None
        self.inbound_executor = ThreadPoolExecutor(max_workers=4)
        self.outbound_executor = ThreadPoolExecutor(max_workers=4)
        self.inbox = Inbox()


class RecordingDso(PlainRoute, ShapeshifterDsoService):
    """A DSO that records what the market sends it and answers as UFTP requires."""

    def _got(self, message) -> None:
        self.inbox.put(message)

    def process_d_prognosis(self, message):
        self._got(message)
        self.agr_client(message.sender_domain).send_d_prognosis_response(
            _accept(message, DPrognosisResponse))

    def process_flex_offer(self, message):
        self._got(message)
        self.agr_client(message.sender_domain).send_flex_offer_response(
            _accept(message, FlexOfferResponse))

    process_flex_request_response = _got
    process_flex_order_response = _got
    process_flex_offer_revocation = _got
    process_flex_reservation_update_response = _got
    process_flex_settlement_response = _got
    process_dso_portfolio_query_response = _got
    process_dso_portfolio_update_response = _got
    process_metering = _got
    process_test_message_response = _got

    def process_test_message(self, message, sender_role):
        self._got(message)
        super().process_test_message(message, sender_role)


class RecordingAgr(PlainRoute, ShapeshifterAgrService):
    """An aggregator that records what the market sends it and answers as UFTP requires."""

    def _got(self, message) -> None:
        self.inbox.put(message)

    def process_flex_request(self, message):
        self._got(message)
        self.dso_client(message.sender_domain).send_flex_request_response(
            _accept(message, FlexRequestResponse))

    order_rejection: str | None = None  # set: every FlexOrder is answered Rejected
    answer_orders: bool = True  # False: FlexOrders are never answered

    def process_flex_order(self, message):
        self._got(message)
        if not self.answer_orders:
            return
        if self.order_rejection is None:
            answer = _accept(message, FlexOrderResponse)
        else:
            answer = FlexOrderResponse(conversation_id=message.conversation_id,
                                       result=AcceptedRejected.REJECTED,
                                       rejection_reason=self.order_rejection,
                                       flex_order_message_id=message.message_id)
        self.dso_client(message.sender_domain).send_flex_order_response(answer)

    def process_flex_settlement(self, message):
        self._got(message)
        statuses = [FlexOrderSettlementStatus(order_reference=s.order_reference,
                                              disposition=AcceptedDisputed.ACCEPTED)
                    for s in message.flex_order_settlements]
        self.dso_client(message.sender_domain).send_flex_settlement_response(
            _accept(message, FlexSettlementResponse, flex_order_settlement_statuses=statuses))

    process_d_prognosis_response = _got
    process_flex_offer_response = _got
    process_flex_offer_revocation_response = _got
    process_flex_reservation_update = _got
    process_metering_response = _got
    process_agr_portfolio_query_response = _got
    process_agr_portfolio_update_response = _got
    process_test_message_response = _got

    def process_test_message(self, message, sender_role):
        self._got(message)
        super().process_test_message(message, sender_role)


@dataclass
class Participant:
    domain: str
    role: str  # "DSO" | "AGR"
    party_id: str
    secret: str
    public: str
    service: object
    client: object

    @property
    def inbox(self) -> Inbox:
        return self.service.inbox


@dataclass
class UftpMarket:
    base: str
    app: object
    keys: dict[str, str]
    gates: list[str]
    buses: list[int]
    platform: dict
    participants: dict[str, Participant] = field(default_factory=dict)

    @property
    def svc(self):
        return self.app.state.service

    @property
    def endpoint(self) -> str:
        return f"{self.base}{self.platform['endpoint_path']}"

    def ea(self, cp_id: str) -> str:
        return entity_address(MARKET, cp_id)

    def get(self, party: str, path: str, **params):
        return httpx.get(f"{self.base}/api/v1{path}", params=params, timeout=30,
                         headers={"Authorization": f"Bearer {self.keys[party]}"})

    def post(self, party: str, path: str, body=None):
        return httpx.post(f"{self.base}/api/v1{path}", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {self.keys[party]}"})

    def messages(self, **params) -> list[dict]:
        r = self.get("operator", "/uftp/messages", **params)
        assert r.status_code == 200, r.text
        return r.json()

    def client(self, domain: str, role: str, secret: str):
        cls = ShapeshifterDsoAgrClient if role == "DSO" else ShapeshifterAgrDsoClient
        return cls(sender_domain=domain, signing_key=secret, recipient_domain=MARKET,
                   recipient_endpoint=self.endpoint,
                   recipient_signing_key=self.platform["public_key"])

    def add_participant(self, name: str, role: str, party_id: str,
                        connections: dict[str, int] | None = None,
                        contracts: list[str] | None = None,
                        contract_prices: dict[str, float] | None = None) -> Participant:
        domain = f"{name}.localflex.test"
        secret, public = new_keypair()
        service_cls = RecordingDso if role == "DSO" else RecordingAgr
        port = free_port()
        market_key, market_endpoint = self.platform["public_key"], self.endpoint
        service = service_cls(
            sender_domain=domain, signing_key=secret, host="127.0.0.1", port=port,
            key_lookup_function=lambda d, r: market_key if d == MARKET else None,
            endpoint_lookup_function=lambda d, r: market_endpoint if d == MARKET else None)
        service.run_in_thread()
        body = {"domain": domain, "role": role, "party_id": party_id, "public_key": public,
                "endpoint": f"http://127.0.0.1:{port}/shapeshifter/api/v3/message",
                "connections": connections or {}, "contracts": contracts or [],
                "contract_prices": contract_prices or {}}
        r = self.post("operator", "/uftp/participants", body)
        assert r.status_code == 201, r.text
        part = Participant(domain, role, party_id, secret, public, service,
                           self.client(domain, role, secret))
        self.participants[name] = part
        return part




def start_uftp_market(url: str) -> Iterator[UftpMarket]:
    """The market on a free loopback port with parties, 4 gates, DSO and AGR participants:
    dso1 operates every congestion point but line:5 (dso2's); agr1 has a connection at
    trafo:0 and holds contracts flech-c1 (activation price 100 EUR/MWh) and flech-c0 (no
    price registered); agr2 at line:5."""
    app = create_app(Settings(database_url=url, grid_code=GRID, run_scheduler=False))
    app.state.uftp_settings = UftpSettings(domain=MARKET)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    market = None
    with ThreadServer(app, port):
        try:
            wait_healthy(base, grid_ready=True)
            svc = app.state.service
            keys = {"operator": bootstrap_operator(svc.db).api_key}
            platform = httpx.get(f"{base}/api/v1/uftp/platform", timeout=10).json()
            market = UftpMarket(base, app, keys, [], sorted(svc.grid.bus_ids()), platform)
            for party, role in {"dso2": "dso", "dso1": "dso", "agg1": "aggregator",
                                "agg2": "aggregator"}.items():
                body = {"party_id": party, "name": party.upper(), "role": role}
                if party == "dso2":
                    body["congestion_points"] = ["line:5"]
                r = market.post("operator", "/parties", body)
                assert r.status_code == 201, r.text
                keys[party] = r.json()["key"]["api_key"]
            r = market.post("operator", "/gates", {
                "start": (DAY + timedelta(hours=12)).isoformat(), "n_isps": 4,
                "opens_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat()})
            assert r.status_code == 201, r.text
            market.gates = [g["gate_id"] for g in r.json()]
            market.add_participant("dso1", "DSO", "dso1")
            market.add_participant("dso2", "DSO", "dso2")
            market.add_participant("agr1", "AGR", "agg1", {"trafo:0": market.buses[3]},
                                   ["flech-c1", "flech-c0"], {"flech-c1": 100.0})
            market.add_participant("agr2", "AGR", "agg2", {"line:5": market.buses[5]})
            yield market
        finally:
            if market is not None:
                for part in market.participants.values():
                    part.service.stop()


def pg_base() -> str | None:
    return os.environ.get(PG_ENV)
