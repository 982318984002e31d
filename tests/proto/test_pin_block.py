"""proto.pin_block (ISO 9564-1 format 0) and proto.card_password: a published vector, round
trips, and random blocks giving a password or a typed error, never anything else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proto.card_password import needs_password, values_equal, verification_value
from proto.mac import new_double_key
from proto.pan import luhn_check_digit
from proto.pin_block import (
    PinBlockError,
    decode_clear_block,
    decrypt_block,
    encode_clear_block,
    encrypt_block,
    is_valid_password,
)

KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
VERIFICATION_KEY = bytes(range(32))

passwords = st.text("0123456789", min_size=4, max_size=6)
def _double_key(random_bytes: bytes) -> bytes | None:
    try:
        return new_double_key(random_bytes)
    except ValueError:   # halves equal after parity: a single-DES key, which DES3 refuses
        return None


keys = st.binary(min_size=16, max_size=16).map(_double_key).filter(lambda key: key is not None)
pans = st.text("0123456789", min_size=15, max_size=18).map(lambda p: p + luhn_check_digit(p))


class TestFormat0:
    def test_the_textbook_block(self) -> None:
        # PIN field 041234FFFFFFFFFF XOR PAN field 0000111111111111 (PAN 4111111111111111).
        assert encode_clear_block("1234", "4111111111111111").hex().upper() == \
            "041225EEEEEEEEEE"

    @given(passwords, pans)
    def test_a_clear_block_round_trips(self, password: str, pan: str) -> None:
        assert decode_clear_block(encode_clear_block(password, pan), pan) == password

    @given(passwords, pans, keys)
    def test_an_encrypted_block_round_trips(self, password: str, pan: str, key: bytes) -> None:
        block = encrypt_block(key, password, pan)
        assert len(block) == 16 and block == block.upper()
        assert decrypt_block(key, block, pan) == password

    @given(st.binary(min_size=8, max_size=8), pans)
    def test_random_blocks_give_a_password_or_a_typed_error(self, block: bytes, pan: str) -> None:
        try:
            password = decode_clear_block(block, pan)
        except PinBlockError:
            return
        assert is_valid_password(password)
        assert encode_clear_block(password, pan) == block

    @given(st.text(max_size=20), pans)
    def test_random_field_52_gives_a_password_or_a_typed_error(self, text: str, pan: str) -> None:
        try:
            assert is_valid_password(decrypt_block(KEY, text, pan))
        except PinBlockError:
            pass

    @pytest.mark.parametrize("password", ["123", "1234567", "12a4", "", "１２３４"])
    def test_passwords_outside_4_to_6_digits_are_refused(self, password: str) -> None:
        with pytest.raises(PinBlockError):
            encode_clear_block(password, "4111111111111111")

    def test_another_pan_does_not_give_the_password_back(self) -> None:
        block = encrypt_block(KEY, "1234", "4111111111111111")
        try:
            assert decrypt_block(KEY, block, "4111111111111129") != "1234"
        except PinBlockError:
            pass


class TestVerificationValue:
    @given(passwords, passwords, pans)
    def test_it_tells_passwords_apart(self, first: str, second: str, pan: str) -> None:
        same = verification_value(VERIFICATION_KEY, pan, first) == \
            verification_value(VERIFICATION_KEY, pan, second)
        assert same == (first == second)

    def test_it_depends_on_the_card_and_the_key(self) -> None:
        value = verification_value(VERIFICATION_KEY, "4111111111111111", "1234")
        assert len(value) == 16
        assert value != verification_value(VERIFICATION_KEY, "4111111111111129", "1234")
        assert value != verification_value(bytes(32), "4111111111111111", "1234")
        assert values_equal(value, bytes(value)) and not values_equal(value, b"")

    def test_the_processing_codes_that_need_it(self) -> None:
        needing = {code for code in ("000000", "006000", "900000", "910000", "200000",
                                     "210000", "400060", "310000")
                   if needs_password("0200", code)}
        assert needing == {"006000", "900000", "910000", "400060"}
        assert not any(needs_password(mti, "900000") for mti in ("0400", "0420", "0220"))
