"""The market's UFTP identity and settings (env prefix ``LOCALFLEX_UFTP_``).

``UftpSettings`` reads ``LOCALFLEX_UFTP_DOMAIN`` (the market's UFTP domain, default
``market.localflex.test``), ``LOCALFLEX_UFTP_SIGNING_KEY`` (base64 Ed25519 secret key; if
unset, one is generated on first use and kept in ``uftp_platform`` so that a restart keeps
the market's identity), the accepted clock skew of a message's TimeStamp and the delivery
limits. An app can carry its own as ``app.state.uftp_settings``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.exc import IntegrityError

from localflex.service.context import ServiceContext
from localflex.service.uftp.models import UftpPlatform
from localflex.service.uftp.protocol import new_keypair, public_key_of

__all__ = ["MESSAGE_PATH", "UftpSettings", "UftpState", "load_state"]

MESSAGE_PATH = "/shapeshifter/api/v3/message"


class UftpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOCALFLEX_UFTP_", extra="forbid", frozen=True)

    domain: str = Field("market.localflex.test", pattern=r"^([a-z0-9]+(-[a-z0-9]+)*\.)+[a-z]{2,}$",
                        description="the market's UFTP sender domain")
    signing_key: SecretStr | None = Field(None, description="base64 Ed25519 secret key")
    time_zone: str = Field("Europe/Amsterdam", description="TimeZone of the FlexOrders the "
                           "market sends for awards of the gate clearing")
    max_clock_skew_s: float = Field(300.0, gt=0, description="accepted |now − TimeStamp|")
    delivery_timeout_s: float = Field(10.0, gt=0, description="HTTP timeout of one delivery")
    max_delivery_attempts: int = Field(12, ge=1, description="then an outgoing message fails")
    retry_base_s: float = Field(2.0, gt=0, description="wait after the first failed delivery; "
                                "doubled after each further one")
    retry_max_s: float = Field(600.0, gt=0, description="longest wait between two attempts")
    outbox_interval_s: float = Field(1.0, ge=0, description="period of the background sender "
                                     "(0: no background sender)")
    max_message_bytes: int = Field(1_000_000, ge=1_000, description="largest accepted body")


@dataclass
class UftpState:
    settings: UftpSettings
    domain: str
    signing_key: str
    public_key: str
    delivery_lock: threading.Lock = field(default_factory=threading.Lock)


_lock = threading.Lock()


def _identity(svc: ServiceContext, settings: UftpSettings) -> tuple[str, str]:
    """The market's (secret, public) key, created and stored on first use."""
    with svc.db.write() as session:
        row = session.get(UftpPlatform, settings.domain)
        if settings.signing_key is not None:
            secret = settings.signing_key.get_secret_value()
            public = public_key_of(secret)
            if row is None:
                session.add(UftpPlatform(domain=settings.domain, signing_key="(from settings)",
                                         public_key=public))
            else:
                row.public_key = public
        elif row is None or row.signing_key == "(from settings)":
            secret, public = new_keypair()
            if row is None:
                session.add(UftpPlatform(domain=settings.domain, signing_key=secret,
                                         public_key=public))
            else:
                row.signing_key, row.public_key = secret, public
        else:
            secret, public = row.signing_key, row.public_key
    return secret, public


def load_state(app_state, svc: ServiceContext) -> UftpState:
    """The UFTP state of an app: the market's identity loaded or created (once; a second
    API worker creating it at the same moment loses the insert and reads the first's)."""
    state = getattr(app_state, "uftp", None)
    if state is not None:
        return state
    with _lock:
        state = getattr(app_state, "uftp", None)
        if state is not None:
            return state
        settings = getattr(app_state, "uftp_settings", None) or UftpSettings()
        try:
            secret, public = _identity(svc, settings)
        except IntegrityError:
            secret, public = _identity(svc, settings)
        state = UftpState(settings, settings.domain, secret, public)
        app_state.uftp = state
        return state
