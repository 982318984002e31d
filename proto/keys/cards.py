"""Card numbers at rest: a keyed hash to find a card, a sealed copy to show it, a mask to log.

`cards.pan_hmac` = HMAC-SHA256(pan_lookup key, PAN): the host's index and the back office's
lookup (`jifen card status --pan`); about 1 µs per request. `cards.pan_sealed` = AES-GCM of the
PAN under the pan_seal key, bound to its purpose and its card's hash, for the few places that
must show a full number. `cards.pan_masked` (first 6, last 4) for lists, logs and reports.
"""

from __future__ import annotations

import hmac

from proto.keys.sealing import open_sealed, seal

PAN_SEAL_PURPOSE = b"jifen/pan/v1"


def pan_hmac(lookup_key: bytes, pan: str) -> bytes:
    return hmac.digest(lookup_key, pan.encode(), "sha256")


def pan_associated_data(pan_hash: bytes) -> bytes:
    return PAN_SEAL_PURPOSE + b"/" + pan_hash


def seal_pan(seal_key: bytes, pan: str, pan_hash: bytes) -> bytes:
    return seal(seal_key, pan.encode(), pan_associated_data(pan_hash))


def open_pan(seal_key: bytes, sealed: bytes, pan_hash: bytes) -> str:
    return open_sealed(seal_key, sealed, pan_associated_data(pan_hash)).decode()
