"""UFTP Metering feeds the settlement (paper §5.3: flexibility is paid for what is delivered
against a baseline; UFTP 3.1: the aggregator sends the DSO the metered data of a connection,
the D-Prognosis is the baseline of its FlexOrders).

A Metering message names one connection by its EAN (``protocol.connection_ean``: the
aggregator's bus behind a congestion point, as registered) and gives, per ISP of a day,
the connection's average power — a ``Power`` profile in kW, or ``ImportEnergy`` and
``ExportEnergy`` in kWh (power = (import − export) × 60 / ISP minutes). For every ISP in
which the aggregator holds awards at that bus without meter data yet, the market writes a
meter reading per award through the REST API's own operation (``post_meter_reading``):

* metered power = the Metering power; baseline = the power of the aggregator's latest
  accepted D-Prognosis for that congestion point and day (UFTP's baseline of a FlexOrder);
  both are shared among the ISP's awards at the bus in proportion to their awarded power,
  so the delivered power of the connection is split the same way;
* an awarded ISP without a D-Prognosis refuses the message (Rejected: no baseline);
  ISPs without awards are ignored (listed in the record);
* a Metering with a higher Revision for the same EAN and day replaces the readings the
  earlier revisions wrote (a lower or equal one is Rejected); readings posted through the
  REST API are left as they are.

The delivered power then enters the aggregator's statement (``GET /settlement``) and the
FlexSettlement the market sends it. The message is relayed to the congestion point's DSO.
"""

from __future__ import annotations

from collections import defaultdict

from shapeshifter_uftp.uftp import Metering, MeteringProfileEnum, MeteringUnit
from sqlalchemy import delete, select

from localflex.domain import InputError
from localflex.service import market_ops
from localflex.service.schemas import MeterReadingIn
from localflex.service.uftp.messaging import (
    Handled,
    Inbound,
    Outgoing,
    acceptance,
    copy_message,
    previous_revisions,
    validated,
)
from localflex.service.uftp.models import UftpMessage, UftpParticipant
from localflex.service.uftp.protocol import bus_of_ean, isp_minutes_of, isp_start
from localflex.store.models import Award, CongestionPoint, Gate, MeterReading

__all__ = ["on_metering"]


def _power_kw(m: Metering, minutes: int) -> dict[int, float]:
    """ISP number → average power of the connection (kW, consumption positive)."""
    profiles = {p.profile_type: p for p in m.profiles}
    power = profiles.get(MeteringProfileEnum.POWER)
    if power is not None:
        if power.unit != MeteringUnit.K_W:
            raise InputError("Profile[Power].Unit", power.unit.value, "kW")
        return {i.start: float(i.value) for i in power.isps}
    imp = profiles.get(MeteringProfileEnum.IMPORT_ENERGY)
    exp = profiles.get(MeteringProfileEnum.EXPORT_ENERGY)
    if imp is None or exp is None:
        raise InputError("Profile", sorted(p.value for p in profiles),
                         "a Power profile (kW) or ImportEnergy and ExportEnergy (kWh)")
    for p in (imp, exp):
        if p.unit != MeteringUnit.K_WH:
            raise InputError(f"Profile[{p.profile_type.value}].Unit", p.unit.value, "kWh")
    exported = {i.start: float(i.value) for i in exp.isps}
    return {i.start: (float(i.value) - exported.get(i.start, 0.0)) * 60.0 / minutes
            for i in imp.isps}


def _baseline_w(inb: Inbound, cp_id: str, period: str) -> dict[int, int]:
    """ISP → power (W) of the aggregator's latest accepted D-Prognosis for cp and day."""
    rows = inb.session.scalars(select(UftpMessage).where(
        UftpMessage.direction == "in", UftpMessage.message_type == "DPrognosis",
        UftpMessage.sender_domain == inb.participant.domain, UftpMessage.status == "accepted",
        UftpMessage.reference == f"{cp_id}|{period}"))
    latest = max(rows, key=lambda r: r.detail.get("revision", 0), default=None)
    return {} if latest is None else {int(n): int(w) for n, w in latest.detail["isps_w"]}


def on_metering(inb: Inbound) -> Handled:
    m: Metering = inb.message
    bus = bus_of_ean(m.ean)
    cps = sorted(cp for cp, b in (inb.participant.connections or {}).items() if b == bus)
    if not cps:
        raise InputError("EAN", m.ean, f"the EAN of a connection of aggregator "
                         f"{inb.participant.domain} (registered connections only)")
    cp_id = cps[0]
    period, minutes = m.period.to_date(), isp_minutes_of(m.isp_duration)
    power_kw = _power_kw(m, minutes)
    baseline_w = _baseline_w(inb, cp_id, period.isoformat())
    reference = f"{m.ean}|{period.isoformat()}"
    replaced = [r["award_id"] for p in previous_revisions(inb, "Metering", reference, m.revision)
                for r in p.detail.get("readings", [])]
    if replaced:  # a new revision replaces the readings the earlier ones wrote
        inb.session.execute(delete(MeterReading).where(MeterReading.award_id.in_(replaced)))
    written, unawarded = [], []
    for n in sorted(power_kw):
        start = isp_start(period, m.time_zone, minutes, n)
        awards = list(inb.session.scalars(select(Award).join(
            Gate, Gate.gate_id == Award.gate_id).outerjoin(
            MeterReading, MeterReading.award_id == Award.award_id).where(
            Gate.isp_start == start, Award.aggregator_id == inb.caller.party_id,
            Award.bus == bus, MeterReading.reading_id.is_(None)).order_by(Award.award_id)))
        if not awards:
            unawarded.append(n)
            continue
        if n not in baseline_w:
            raise InputError(f"ISP[{n}]", n, f"an ISP with a baseline: send a D-Prognosis for "
                             f"{m.ean}'s congestion point on {period} first")
        total_kw = sum(a.power_kw for a in awards)
        for a in awards:
            share = a.power_kw / total_kw
            body = validated(MeterReadingIn, award_id=a.award_id,
                             baseline_kw=share * baseline_w[n] / 1000.0,
                             metered_kw=share * power_kw[n])
            out = market_ops.post_meter_reading(inb.svc, inb.session, inb.caller, body)
            written.append({"isp": n, "award_id": a.award_id,
                            "delivered_kw": out.delivered_kw})
    cp = inb.session.get(CongestionPoint, cp_id)
    forwards = [Outgoing(copy_message(m), dso, ref_message_id=m.message_id)
                for dso in inb.session.scalars(select(UftpParticipant).where(
                    UftpParticipant.role == "DSO", UftpParticipant.party_id == cp.dso_id,
                    UftpParticipant.revoked_at.is_(None)))] if cp and cp.dso_id else []
    by_isp = defaultdict(float)
    for w in written:
        by_isp[w["isp"]] += w["delivered_kw"]
    detail = {"cp_id": cp_id, "bus": bus, "period": period.isoformat(), "revision": m.revision,
              "readings": written, "isps_without_awards": unawarded,
              "delivered_kw": {str(k): v for k, v in sorted(by_isp.items())}}
    return Handled(response=acceptance(m), forwards=forwards, reference=reference,
                   detail=detail)
