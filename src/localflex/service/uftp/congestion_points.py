"""UFTP's view of the congestion points (paper §5.3; UFTP names a point by an EA1 entity
address and a connection by an EAN): ``UftpAddressing`` adds to ``GET
/api/v1/congestion-points`` (``localflex.service.congestion_points``) each point's entity
address and the aggregators' registered UFTP connections there, and each bus's connection
address and EAN. The former ``GET /api/v1/uftp/congestion-points`` answers 308 to that
resource (same query).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from localflex.service.congestion_points import buses_behind
from localflex.service.context import ServiceContext
from localflex.service.uftp.models import UftpParticipant
from localflex.service.uftp.platform import load_state
from localflex.service.uftp.protocol import connection_address, connection_ean, entity_address

__all__ = ["UftpAddressing", "buses_behind", "router", "uftp_addressing"]

router = APIRouter()


@dataclass(frozen=True)
class UftpAddressing:
    domain: str
    aggregators: list[UftpParticipant]

    def point(self, cp_id: str) -> dict:
        return {"entity_address": entity_address(self.domain, cp_id),
                "connections": [{"aggregator_id": p.party_id, "domain": p.domain,
                                 "bus": int(p.connections[cp_id]),
                                 **self.bus(int(p.connections[cp_id]))}
                                for p in self.aggregators if cp_id in (p.connections or {})]}

    def bus(self, bus: int) -> dict:
        return {"entity_address": connection_address(self.domain, bus),
                "ean": connection_ean(bus)}


def uftp_addressing(app_state, svc: ServiceContext) -> UftpAddressing:
    """The market's UFTP domain and its registered (not revoked) aggregators."""
    state = load_state(app_state, svc)
    with svc.db.read() as session:
        agrs = list(session.scalars(select(UftpParticipant).where(
            UftpParticipant.role == "AGR", UftpParticipant.revoked_at.is_(None))
            .order_by(UftpParticipant.domain)))
    return UftpAddressing(state.domain, agrs)


@router.get("/api/v1/uftp/congestion-points", tags=["uftp"], status_code=308,
            response_class=RedirectResponse,
            summary="Moved: GET /api/v1/congestion-points (same query)")
def moved(request: Request) -> RedirectResponse:
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/api/v1/congestion-points{query}", status_code=308)
