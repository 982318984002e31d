"""The front's side of card passwords without a network: the PIN key the security module
issues, TranslatePassword, and what crosses the link (the verification value, never the PIN
block or the password)."""

from __future__ import annotations

import pytest
from Crypto.Cipher import DES3

from acquirer_front.exchange import Exchange
from acquirer_front.keys import SoftwareSecurityModule
from acquirer_front.keystore import PIN_KEY_PURPOSE, SESSION_KEY_PURPOSE, KeyStore, KeyStoreError
from acquirer_front.normalise import normalise
from acquirer_front.registry import Terminal
from acquirer_front.saf.entries import Origin, encode_request, reversal_of
from acquirer_front.steps import TranslatePassword
from devices.mac import open_session_key
from proto.card_password import MALFORMED_BLOCK, verification_value
from proto.frames import RequestBatch
from proto.framing import Tpdu
from proto.link_codec import encode_link_message
from proto.pin_block import encrypt_block

PRIVATE_KEY = bytes(range(32))
VERIFICATION_KEY = bytes(range(32, 64))
TMK = bytes.fromhex("C1D0F8FB4958670DBA40AB1F3752EF0D")
CODE = "TERMMAC1"
PAN = "6221880000000019"
PASSWORD = "246813"


def _module() -> tuple[SoftwareSecurityModule, bytes]:
    """A module with CODE's PIN key installed, and that key as the terminal opens it (PK)."""
    keystore = KeyStore(PRIVATE_KEY, VERIFICATION_KEY)
    module = SoftwareSecurityModule(keystore)
    issued = module.new_pin_key(CODE, keystore.seal(TMK, CODE))
    module.install_pin_key(CODE, issued.handle)
    return module, open_session_key(TMK, issued.key_under_tmk_hex, issued.check_value_hex)


def _exchange(fields: dict[str, str], requires_mac: bool = True) -> Exchange:
    exchange = Exchange(Tpdu(1, 2), fields, b"", received_at_ns=1, arrived_at=0.0,
                        deadline=1.0)
    exchange.terminal = Terminal(CODE, "MERCHANT0000001", True, "A", requires_mac, True, True)
    return exchange


def _redemption(pin_block: str | None, code: str = "900000", mti: str = "0200") -> dict:
    fields = {"t": mti, "2": PAN, "3": code, "4": "000000000010", "7": "1207103000",
              "11": "000001", "41": CODE, "42": "MERCHANT0000001", "49": "999", "60": "000001"}
    return fields | ({"52": pin_block} if pin_block else {})


class TestPinKey:
    def test_a_pin_key_is_bound_to_its_purpose(self) -> None:
        keystore = KeyStore(PRIVATE_KEY, VERIFICATION_KEY)
        module = SoftwareSecurityModule(keystore)
        issued = module.new_pin_key(CODE, keystore.seal(TMK, CODE))
        assert keystore.open(issued.handle, CODE, PIN_KEY_PURPOSE)
        with pytest.raises(KeyStoreError):
            module.install(CODE, issued.handle)   # not a MAC key
        with pytest.raises(KeyStoreError):
            keystore.open(issued.handle, CODE, SESSION_KEY_PURPOSE)

    def test_sign_off_forgets_the_pin_key(self) -> None:
        module, pin_key = _module()
        module.remove(CODE)
        block = encrypt_block(pin_key, PASSWORD, PAN)
        assert module.password_verification(CODE, PAN, block) is None


class TestTranslatePassword:
    def test_the_block_becomes_the_verification_value(self) -> None:
        module, pin_key = _module()
        exchange = _exchange(_redemption(encrypt_block(pin_key, PASSWORD, PAN)))
        assert TranslatePassword(module)(exchange) is None
        assert exchange.card_password == verification_value(VERIFICATION_KEY, PAN, PASSWORD)

    def test_a_malformed_block_is_forwarded_as_such(self) -> None:
        module, pin_key = _module()
        format_1 = bytes.fromhex("1412345678901234")   # control nibble 1: not format 0
        block = DES3.new(pin_key, DES3.MODE_ECB).encrypt(format_1).hex().upper()
        exchange = _exchange(_redemption(block))
        TranslatePassword(module)(exchange)
        assert exchange.card_password == MALFORMED_BLOCK

    def test_nothing_for_a_terminal_that_need_not_mac_or_a_code_without_password(self) -> None:
        module, pin_key = _module()
        block = encrypt_block(pin_key, PASSWORD, PAN)
        for exchange in (_exchange(_redemption(block), requires_mac=False),
                         _exchange(_redemption(block, code="000000")),
                         _exchange(_redemption(block, mti="0400")),
                         _exchange(_redemption(None))):
            TranslatePassword(module)(exchange)
            assert exchange.card_password is None


class TestWhatCrossesTheLink:
    def test_neither_block_nor_password_in_the_frame_or_the_saf(self) -> None:
        module, pin_key = _module()
        block = encrypt_block(pin_key, PASSWORD, PAN)
        exchange = _exchange(_redemption(block))
        TranslatePassword(module)(exchange)
        request = normalise(exchange, 7)
        frame = encode_link_message(RequestBatch([request]))
        assert request.card_password is not None and request.card_password in frame
        for secret in (block.encode(), bytes.fromhex(block), PASSWORD.encode(), pin_key):
            assert secret not in frame
        assert PASSWORD not in repr(request) and block not in repr(request)
        assert request.card_password.hex() not in repr(request)
        stored = encode_request(reversal_of(request, Origin.NO_ANSWER).request)
        assert request.card_password not in stored
