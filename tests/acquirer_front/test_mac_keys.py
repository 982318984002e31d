"""The front's keys without a network: sealed terminal keys, the software security module,
the MAC steps. The terminal's side (devices.mac) checks what the module issues."""

from __future__ import annotations

import pytest

from acquirer_front.exchange import Exchange
from acquirer_front.keys import SoftwareSecurityModule
from acquirer_front.keystore import SESSION_KEY_PURPOSE, KeyStore, KeyStoreError, TmkSealer
from acquirer_front.registry import Registry, Terminal
from acquirer_front.steps import CheckMac, SignAnswer
from devices.mac import open_session_key, verify_answer_mac
from proto.framing import Tpdu
from proto.iso_codec import decode_iso, encode_iso
from proto.keys.sealed_box import public_key_of
from proto.mac import retail_mac_hex

KEK = bytes(range(32))
TMK = bytes.fromhex("C1D0F8FB4958670DBA40AB1F3752EF0D")
CODE = "TERMMAC1"


def module_with_key() -> tuple[SoftwareSecurityModule, bytes]:
    """A module with CODE's key installed, and that clear key as the terminal opens it."""
    keystore = KeyStore(KEK)
    module = SoftwareSecurityModule(keystore)
    issued = module.new_session_key(CODE, keystore.seal(TMK, CODE))
    module.install(CODE, issued.handle)
    return module, open_session_key(TMK, issued.key_under_tmk_hex, issued.check_value_hex)


class TestSealedTerminalKeys:
    def test_a_sealed_key_opens_only_for_its_purpose(self) -> None:
        store = KeyStore(KEK)
        with pytest.raises(KeyStoreError):
            store.open(store.seal(TMK, CODE), CODE, SESSION_KEY_PURPOSE)
        with pytest.raises(KeyStoreError):
            store.open(store.seal(TMK, CODE, SESSION_KEY_PURPOSE), CODE)

    def test_a_sealed_key_opens_only_for_its_terminal(self) -> None:
        store = KeyStore(KEK)
        with pytest.raises(KeyStoreError):
            store.open(store.seal(TMK, CODE), "TERMMAC2")
        module = SoftwareSecurityModule(store)
        with pytest.raises(KeyStoreError):
            module.new_session_key("TERMMAC2", store.seal(TMK, CODE))
        issued = module.new_session_key(CODE, store.seal(TMK, CODE))
        with pytest.raises(KeyStoreError):
            module.install("TERMMAC2", issued.handle)
        data = b"0800 sign-on"
        assert module.verify_mac_under_tmk(CODE, store.seal(TMK, CODE), data,
                                           retail_mac_hex(TMK, data))
        assert not module.verify_mac_under_tmk("TERMMAC2", store.seal(TMK, CODE), data,
                                               retail_mac_hex(TMK, data))


class TestSoftwareSecurityModule:
    def test_issued_key_opens_at_the_terminal_and_macs_alike(self) -> None:
        module, key = module_with_key()
        data = b"0200 something to MAC"
        assert module.generate_mac(CODE, data) == retail_mac_hex(key, data)
        assert module.verify_mac(CODE, data, retail_mac_hex(key, data))
        assert module.verify_mac(CODE, data, retail_mac_hex(key, data).lower())
        assert not module.verify_mac(CODE, data + b"!", retail_mac_hex(key, data))

    def test_no_key_no_mac(self) -> None:
        module, key = module_with_key()
        module.remove(CODE)
        assert not module.has_key(CODE)
        assert module.generate_mac(CODE, b"x") is None
        assert not module.verify_mac(CODE, b"x", retail_mac_hex(key, b"x"))

    def test_keys_are_fresh_and_never_shown(self) -> None:
        keystore = KeyStore(KEK)
        module = SoftwareSecurityModule(keystore)
        first = module.new_session_key(CODE, keystore.seal(TMK, CODE))
        second = module.new_session_key(CODE, keystore.seal(TMK, CODE))
        assert first.key_under_tmk_hex != second.key_under_tmk_hex
        assert not module.has_key(CODE)  # issued is not installed
        key = keystore.open(first.handle, CODE, SESSION_KEY_PURPOSE)
        for text in (repr(first), repr(module), repr(keystore)):
            assert key.hex() not in text.lower() and TMK.hex() not in text.lower()
            assert first.key_under_tmk_hex not in text

    def test_a_tmk_sealed_to_another_key_pair_is_refused(self) -> None:
        module = SoftwareSecurityModule(KeyStore(KEK))
        with pytest.raises(KeyStoreError):
            module.new_session_key(CODE, KeyStore(bytes(32)).seal(TMK, CODE))

    def test_the_public_half_seals_what_only_the_private_half_opens(self) -> None:
        store = KeyStore(KEK)
        sealed = TmkSealer(public_key_of(KEK)).seal(TMK, CODE)
        assert TMK not in sealed and store.open(sealed, CODE) == TMK
        assert not hasattr(TmkSealer, "open")


def _terminal(requires_mac: bool) -> Terminal:
    return Terminal(CODE, "MERCHANT0000001", True, "A", requires_mac, True, True)


def _exchange(fields: dict[str, str], body: bytes, requires_mac: bool = True) -> Exchange:
    exchange = Exchange(Tpdu(1, 2), fields, body, received_at_ns=1, arrived_at=0.0,
                        deadline=1.0)
    exchange.terminal = _terminal(requires_mac)
    return exchange


def _macd(key: bytes, fields: dict[str, str]) -> bytes:
    body = encode_iso({**fields, "64": "0" * 16})
    return body[:-16] + retail_mac_hex(key, body[:-16]).encode()


class TestMacSteps:
    FIELDS = {"t": "0200", "3": "000000", "4": "000000001000", "11": "000001", "41": CODE}

    def test_check_mac(self) -> None:
        module, key = module_with_key()
        body = _macd(key, self.FIELDS)
        assert CheckMac(module)(_exchange(decode_iso(body), body)) is None
        tampered = body.replace(b"000000001000", b"000000002000")
        assert CheckMac(module)(_exchange(decode_iso(tampered), tampered)) == "A0"
        bare = encode_iso(self.FIELDS)
        assert CheckMac(module)(_exchange(decode_iso(bare), bare)) == "A0"
        assert CheckMac(module)(_exchange(decode_iso(bare), bare, requires_mac=False)) is None

    def test_answers_are_macd_except_58_and_a0(self) -> None:
        module, key = module_with_key()
        registry = Registry()
        registry.replace([_terminal(True)], registry.mark())
        sign = SignAnswer(module, registry)
        body = _macd(key, self.FIELDS)
        request = _exchange(decode_iso(body), body)
        for code, macd in (("00", True), ("51", True), ("91", True), ("58", False),
                           ("A0", False)):
            fields = {"t": "0210", "11": "000001", "39": code, "41": CODE}
            signed = sign(request, dict(fields))
            assert ("64" in signed) is macd, code
            if macd:
                assert verify_answer_mac(key, encode_iso(signed), signed) is True
        # A terminal that need not MAC gets plain answers.
        request.terminal = _terminal(False)
        assert "64" not in sign(request, {"t": "0210", "11": "000001", "39": "00", "41": CODE})
