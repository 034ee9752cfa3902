"""Shapeshifter UFTP conventions used by the market: keys, entity addresses, ISPs, powers.

* Keys: Ed25519 as in ``shapeshifter_uftp.transport`` (libsodium ``crypto_sign``): a
  participant publishes a 32-byte public key, base64; the market signs with a 64-byte secret.
* Congestion points: UFTP names them by EA1 entity address; the market's point ``cp_id``
  (``trafo:0``, ``line:5``) is ``ea1.2024-01.<market domain>:<cp_id>``. A grid connection
  (an aggregator's resources at a bus) is ``ea1.2024-01.<market domain>:bus:<bus id>``; its
  EAN, as Metering names it, is ``E871`` + the bus id on 15 digits.
* ISPs: a UFTP message names a day (``Period``, in its ``TimeZone``) and ISP numbers from 1;
  ISP ``n`` starts ``(n − 1) × ISP-Duration`` after local midnight (elapsed time, so DST days
  have 92 or 100 ISPs). The market's gate of that ISP is ``gate_id_of(start in UTC)``.
* Powers: UFTP powers are in W, positive = more consumption. The market's ``Direction.UP``
  (more net injection) is a negative UFTP flex power, ``DOWN`` a positive one.
"""

from __future__ import annotations

import re
from base64 import b64decode, b64encode
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nacl.bindings import crypto_sign_keypair

from localflex.domain import Direction, InputError

__all__ = [
    "EA_MONTH",
    "bus_of_ean",
    "connection_address",
    "connection_ean",
    "cp_of_entity_address",
    "entity_address",
    "flex_power_w",
    "isp_minutes_of",
    "isp_number",
    "isp_start",
    "new_keypair",
    "power_direction",
    "public_key_of",
    "valid_public_key",
]

EA_MONTH = "2024-01"
_EA = re.compile(r"^ea1\.\d{4}-\d{2}\.([^:]+):(.+)$")


def new_keypair() -> tuple[str, str]:
    """``(secret_key_b64, public_key_b64)``: a fresh Ed25519 signing key pair."""
    public, secret = crypto_sign_keypair()
    return b64encode(secret).decode(), b64encode(public).decode()


def public_key_of(secret_key_b64: str) -> str:
    """The public half of a libsodium 64-byte secret key (its last 32 bytes)."""
    raw = b64decode(secret_key_b64, validate=True)
    if len(raw) != 64:
        raise InputError("signing_key", "<secret>", "a base64 Ed25519 secret key of 64 bytes")
    return b64encode(raw[32:]).decode()


def valid_public_key(value: str) -> str:
    try:
        raw = b64decode(value, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise InputError("public_key", value, "a base64 Ed25519 public key of 32 bytes")
    return value


def entity_address(domain: str, cp_id: str) -> str:
    return f"ea1.{EA_MONTH}.{domain}:{cp_id}"


def connection_address(domain: str, bus: int) -> str:
    """EA1 entity address of the grid connection at ``bus`` (an aggregator's connection)."""
    return f"ea1.{EA_MONTH}.{domain}:bus:{int(bus)}"


def connection_ean(bus: int) -> str:
    """The EAN-18 of the connection at ``bus`` as UFTP Metering names it (``E`` + 18 digits:
    prefix 871 and the bus id, zero-padded)."""
    if not 0 <= int(bus) < 10**15:
        raise InputError("bus", bus, "a bus id of at most 15 digits")
    return f"E871{int(bus):015d}"


def bus_of_ean(ean: str) -> int:
    m = re.fullmatch(r"[Ee]871(\d{15})", ean or "")
    if m is None:
        raise InputError("EAN", ean, "a connection EAN E871<15-digit bus id> of this market "
                         "(GET /api/v1/congestion-points lists them)")
    return int(m.group(1))


def cp_of_entity_address(domain: str, address: str) -> str:
    """The market's ``cp_id`` named by ``address`` (InputError if not one of ours)."""
    m = _EA.match(address or "")
    if m is None or m.group(1) != domain:
        raise InputError("CongestionPoint", address,
                         f"an entity address ea1.YYYY-MM.{domain}:<cp_id>")
    return m.group(2)


def isp_minutes_of(duration) -> int:
    """Minutes of an xsdata ``XmlDuration`` such as PT15M (InputError if not whole minutes)."""
    if duration is None or getattr(duration, "seconds", None) or getattr(duration, "years", None) \
            or getattr(duration, "months", None) or getattr(duration, "negative", False):
        raise InputError("ISP-Duration", str(duration), "a duration in minutes, e.g. PT15M")
    return ((duration.days or 0) * 1440 + (duration.hours or 0) * 60 + (duration.minutes or 0))


def _zone(time_zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError("TimeZone", time_zone, "an IANA time zone, e.g. Europe/Amsterdam") \
            from None


def _midnight_utc(period: date, time_zone: str) -> datetime:
    local = datetime(period.year, period.month, period.day, tzinfo=_zone(time_zone))
    return local.astimezone(UTC)


def isp_start(period: date, time_zone: str, isp_minutes: int, number: int) -> datetime:
    """UTC start of ISP ``number`` (from 1) of ``period``; InputError if outside the day."""
    midnight = _midnight_utc(period, time_zone)
    next_midnight = _midnight_utc(period + timedelta(days=1), time_zone)
    n_isps = int((next_midnight - midnight).total_seconds() // (60 * isp_minutes))
    if not 1 <= number <= n_isps:
        raise InputError("ISP.Start", number, f"an ISP number 1..{n_isps} of {period}")
    return midnight + timedelta(minutes=(number - 1) * isp_minutes)


def isp_number(start_utc: datetime, time_zone: str, isp_minutes: int) -> tuple[date, int]:
    """``(period, ISP number)`` of an ISP starting at ``start_utc``."""
    period = start_utc.astimezone(_zone(time_zone)).date()
    offset = start_utc - _midnight_utc(period, time_zone)
    return period, int(offset.total_seconds() // (60 * isp_minutes)) + 1


def power_direction(power_w: int) -> Direction:
    """UFTP flex power (W, + = more consumption) → the market's direction."""
    return Direction.DOWN if power_w > 0 else Direction.UP


def flex_power_w(direction: str, power_kw: float) -> int:
    """The market's (direction, kW) → UFTP flex power in W (+ = more consumption)."""
    sign = -Direction(direction).injection_sign
    return round(sign * power_kw * 1000.0)
