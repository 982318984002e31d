"""A member's personal data at rest: sealed, found by a keyed hash, shown masked.

Two keys are derived from the member_data data key (HKDF-SHA256, one `info` each), so the key
that finds a member by mobile is not the key that opens the mobile. The hash covers the field
and the alliance (the same mobile in two alliances hashes apart), and a sealed value is bound
to its field and its hash (GCM associated data), so a sealed mobile copied into another row
or column does not open there.
"""

from __future__ import annotations

import hmac

import msgspec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from proto.keys.sealing import open_sealed, seal

_SEAL_INFO = b"jifen/member-data/seal/v1"
_LOOKUP_INFO = b"jifen/member-data/lookup/v1"
_DERIVED_KEY_SIZE_BYTES = 32


class PersonalDataKeys(msgspec.Struct, frozen=True):
    seal_key: bytes
    lookup_key: bytes

    @classmethod
    def derive(cls, member_data_key: bytes) -> PersonalDataKeys:
        return cls(_derive(member_data_key, _SEAL_INFO), _derive(member_data_key, _LOOKUP_INFO))

    def __repr__(self) -> str:
        return "PersonalDataKeys(***)"


class SealedField(msgspec.Struct, frozen=True):
    digest: bytes   # HMAC: unique per alliance, how a member is found
    sealed: bytes
    masked: str


def seal_field(
    keys: PersonalDataKeys, field: str, alliance_id: int, value: str, masked: str,
) -> SealedField:
    digest = lookup_digest(keys, field, alliance_id, value)
    return SealedField(digest, seal(keys.seal_key, value.encode(),
                                    _associated_data(field, digest)), masked)


def open_field(keys: PersonalDataKeys, field: str, sealed: bytes, digest: bytes) -> str:
    return open_sealed(keys.seal_key, sealed, _associated_data(field, digest)).decode()


def lookup_digest(keys: PersonalDataKeys, field: str, alliance_id: int, value: str) -> bytes:
    """The same value in another alliance or another field hashes differently."""
    message = f"{field}/{alliance_id}/{value}".encode()
    return hmac.digest(keys.lookup_key, message, "sha256")


def _associated_data(field: str, digest: bytes) -> bytes:
    return b"jifen/member/" + field.encode() + b"/" + digest


def _derive(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=_DERIVED_KEY_SIZE_BYTES, salt=None,
                info=info).derive(key)
