"""Sealing to a public key: what the public half seals, only its private half opens, for that
associated data and version, and any changed bit is refused rather than opened as garbage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proto.keys.errors import KeyStoreError
from proto.keys.sealed_box import open_box, public_key_of, seal_to

PRIVATE_KEY = bytes(range(32))
VERSION = 3

plaintexts = st.binary(min_size=1, max_size=64)
associated = st.binary(min_size=1, max_size=40)


@settings(max_examples=50, deadline=None)
@given(plaintexts, associated)
def test_round_trip(plaintext: bytes, associated_data: bytes) -> None:
    sealed = seal_to(public_key_of(PRIVATE_KEY), plaintext, associated_data, VERSION)
    assert sealed[0] == VERSION
    assert open_box(PRIVATE_KEY, sealed, associated_data, VERSION) == plaintext


@settings(max_examples=50, deadline=None)
@given(plaintexts, associated, st.data())
def test_any_changed_bit_is_refused(plaintext: bytes, associated_data: bytes, data) -> None:
    sealed = bytearray(seal_to(public_key_of(PRIVATE_KEY), plaintext, associated_data, VERSION))
    position = data.draw(st.integers(0, len(sealed) - 1))
    sealed[position] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(KeyStoreError):
        open_box(PRIVATE_KEY, bytes(sealed), associated_data, VERSION)


def test_another_private_key_other_associated_data_or_version_is_refused() -> None:
    sealed = seal_to(public_key_of(PRIVATE_KEY), b"tmk", b"jifen/tmk/v1/T1", VERSION)
    for private_key, associated_data, version in [
        (bytes(32), b"jifen/tmk/v1/T1", VERSION),
        (PRIVATE_KEY, b"jifen/tmk/v1/T2", VERSION),
        (PRIVATE_KEY, b"jifen/tmk/v1/T1", 2),
    ]:
        with pytest.raises(KeyStoreError):
            open_box(private_key, sealed, associated_data, version)
    with pytest.raises(KeyStoreError, match="format"):
        open_box(PRIVATE_KEY, sealed[:40], b"jifen/tmk/v1/T1", VERSION)
