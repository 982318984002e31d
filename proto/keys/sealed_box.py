"""Sealing to a public key: whoever holds only the public key can seal, and cannot open.

The back office seals each new TMK to the acquirer front's X25519 public key; only the front,
which holds the private key (the `tmk` data key, docs/security.md), opens it. So an operator's
CLI that creates terminals never holds a key that opens a TMK.

The scheme is ECIES over X25519 (as in HPKE's base mode, RFC 9180, without its framing): an
ephemeral key pair per seal; the AES-256-GCM key is HKDF-SHA256 of the shared secret, salted
with both public keys; the GCM associated data binds the value to its purpose and owner as
`proto.keys.sealing` does.

Layout: version (1 byte) | ephemeral public key (32) | nonce (12) | ciphertext | GCM tag (16).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from proto.keys.errors import KeyStoreError
from proto.keys.sealing import SEALED_SIZE_MIN, open_sealed, seal

PUBLIC_KEY_SIZE_BYTES = 32
PRIVATE_KEY_SIZE_BYTES = 32
_KDF_INFO = b"jifen/sealed-box/v1"
_AES_KEY_SIZE_BYTES = 32


def public_key_of(private_key: bytes) -> bytes:
    assert len(private_key) == PRIVATE_KEY_SIZE_BYTES, "X25519 private key size"
    return _raw(X25519PrivateKey.from_private_bytes(private_key).public_key())


def seal_to(public_key: bytes, plaintext: bytes, associated_data: bytes, version: int) -> bytes:
    assert len(public_key) == PUBLIC_KEY_SIZE_BYTES, "X25519 public key size"
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = _raw(ephemeral.public_key())
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(public_key))
    inner = seal(_derive(shared, ephemeral_public, public_key), plaintext, associated_data,
                 version)
    return inner[:1] + ephemeral_public + inner[1:]


def open_box(private_key: bytes, sealed: bytes, associated_data: bytes, version: int) -> bytes:
    """The plaintext; another key pair's value, wrong associated data, another version or a
    damaged value is a KeyStoreError, never garbage."""
    assert len(private_key) == PRIVATE_KEY_SIZE_BYTES, "X25519 private key size"
    if len(sealed) < SEALED_SIZE_MIN + PUBLIC_KEY_SIZE_BYTES or sealed[0] != version:
        raise KeyStoreError("sealed value has an unknown format")
    ephemeral_public = sealed[1:1 + PUBLIC_KEY_SIZE_BYTES]
    recipient = X25519PrivateKey.from_private_bytes(private_key)
    try:
        shared = recipient.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
    except ValueError as exc:  # a low-order point: the all-zero shared secret is refused
        raise KeyStoreError("sealed value has an invalid ephemeral key") from exc
    key = _derive(shared, ephemeral_public, _raw(recipient.public_key()))
    return open_sealed(key, sealed[:1] + sealed[1 + PUBLIC_KEY_SIZE_BYTES:], associated_data,
                       version)


def _derive(shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> bytes:
    kdf = HKDF(algorithm=hashes.SHA256(), length=_AES_KEY_SIZE_BYTES,
               salt=ephemeral_public + recipient_public, info=_KDF_INFO)
    return kdf.derive(shared)


def _raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)
