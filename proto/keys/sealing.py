"""AES-GCM sealing with associated data: the one layout every sealed value at rest uses.

Sealed layout: version (1 byte) | nonce (12) | ciphertext | GCM tag (16).

The version byte tells layouts of associated data apart, for a caller that changed what it
binds a value to: 1 unless the caller says otherwise (terminal keys bound to their terminal
are 2, `acquirer_front.keystore`). A value of another version does not open.

The associated data names what the value is and whose it is (a purpose and, where there is
one, the owner: a terminal code, a card's lookup hash, a SAF row's identity), so a sealed value
copied into another column or another row does not open.
"""

from __future__ import annotations

import secrets

from Crypto.Cipher import AES

from proto.keys.errors import KeyStoreError

SEALED_VERSION = 1
NONCE_SIZE_BYTES = 12  # the GCM standard nonce; random per seal, so never reused in practice
TAG_SIZE_BYTES = 16
# AES-128 or AES-256.
KEY_SIZES_BYTES = (16, 32)
SEALED_SIZE_MIN = 1 + NONCE_SIZE_BYTES + TAG_SIZE_BYTES + 1


def seal(
    key: bytes, plaintext: bytes, associated_data: bytes, version: int = SEALED_VERSION,
) -> bytes:
    assert len(key) in KEY_SIZES_BYTES, "AES key size"
    assert plaintext, "nothing to seal"
    assert associated_data, "a sealed value is always bound to its purpose"
    assert 0 < version < 256, "one version byte"
    nonce = secrets.token_bytes(NONCE_SIZE_BYTES)
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=TAG_SIZE_BYTES)
    cipher.update(associated_data)
    ciphertext, tag = cipher.encrypt_and_digest(plaintext)
    return bytes((version,)) + nonce + ciphertext + tag


def open_sealed(
    key: bytes, sealed: bytes, associated_data: bytes, version: int = SEALED_VERSION,
) -> bytes:
    """The plaintext; a wrong key, wrong associated data, another version or a damaged value
    is a KeyStoreError, never garbage."""
    assert len(key) in KEY_SIZES_BYTES, "AES key size"
    if len(sealed) < SEALED_SIZE_MIN or sealed[0] != version:
        raise KeyStoreError("sealed value has an unknown format")
    nonce = sealed[1:1 + NONCE_SIZE_BYTES]
    ciphertext, tag = sealed[1 + NONCE_SIZE_BYTES:-TAG_SIZE_BYTES], sealed[-TAG_SIZE_BYTES:]
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=TAG_SIZE_BYTES)
    cipher.update(associated_data)
    try:
        return cipher.decrypt_and_verify(ciphertext, tag)
    except ValueError as exc:
        raise KeyStoreError("sealed value does not open under this key for this purpose") \
            from exc
