"""The UFTP records, kept in the store (``localflex.store.uftp_records``, revision 0002)."""

from localflex.store.uftp_records import UftpMessage, UftpParticipant, UftpPlatform

__all__ = ["UftpMessage", "UftpParticipant", "UftpPlatform"]
