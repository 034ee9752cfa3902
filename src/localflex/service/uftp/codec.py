"""XML and signatures of UFTP messages, as ``shapeshifter_uftp.transport`` does them, but
with an xsdata context of our own.

The package parses with one module-level xsdata ``XmlContext`` that finds the class of a
document's root element among *every* dataclass imported in the process, by class name; in
the market's process ``FlexRequest`` and ``FlexOffer`` then resolve to
``localflex.domain.FlexRequest``/``FlexOffer`` and valid messages fail ("Unknown property
FlexRequest:ISP"). Our context is limited to the package's models
(``models_package="shapeshifter_uftp"``). Its xsi-type cache is rebuilt whenever
``sys.modules`` grows, which is not thread-safe, so it is used behind a lock. Sealing is
libsodium ``crypto_sign`` (Ed25519, signature prepended), as in the package.
"""

from __future__ import annotations

import threading
from base64 import b64decode

from nacl.bindings import crypto_sign, crypto_sign_open
from nacl.exceptions import BadSignatureError
from xsdata.formats.dataclass.context import XmlContext
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.serializers import XmlSerializer
from xsdata.formats.dataclass.serializers.config import SerializerConfig

__all__ = ["BadSignatureError", "from_xml", "seal", "to_xml", "unseal"]

_context = XmlContext(models_package="shapeshifter_uftp")
_parser = XmlParser(context=_context)
_serializer = XmlSerializer(context=_context, config=SerializerConfig(indent="  "))
_lock = threading.Lock()


def to_xml(obj) -> str:
    with _lock:
        return _serializer.render(obj)


def from_xml(data: bytes | str):
    """The UFTP object of an XML document (xsdata errors for a malformed one)."""
    with _lock:
        if isinstance(data, bytes):
            return _parser.from_bytes(data)
        return _parser.from_string(data)


def seal(message, secret_key_b64: str) -> bytes:
    """Ed25519-signed XML of ``message`` (64-byte signature + document)."""
    return crypto_sign(to_xml(message).encode("utf-8"), b64decode(secret_key_b64))


def unseal(body: bytes, public_key_b64: str):
    """The message in a sealed body; ``BadSignatureError`` if the key did not sign it."""
    return from_xml(crypto_sign_open(body, b64decode(public_key_b64)))
