"""Check 5: the MAC (A0), and the MAC of the answer (host interface §7).

Only a terminal flagged requires_mac pays anything here: for the others the check is one
attribute test. The key lives in the security module; this step only finds the MAC field and
what it covers. A MAC terminal's sign-on is MACed under its TMK, its sign-off and key change
under its session key (1.2): without that, anyone could replace or drop its session key. An
0800 from a terminal that need not MAC is not checked (its field 64/128 is ignored).
"""

from __future__ import annotations

from acquirer_front.exchange import Exchange
from acquirer_front.keys import SecurityModule
from acquirer_front.registry import Registry
from proto.codes import NetworkCode, ResponseCode
from proto.errors import IsoEncodeError
from proto.iso_codec import IsoMessage, encode_iso
from proto.mac import MAC_HEX_SIZE, MAC_MTIS, is_network_maced, mac_covered, mac_field

# Answers the host does not MAC (§7): the terminal is unknown or its key is in doubt.
_UNSIGNED_CODES = frozenset({ResponseCode.TERMINAL_NOT_ALLOWED, ResponseCode.MAC_FAILED})
_PLACEHOLDER = "0" * MAC_HEX_SIZE


class CheckMac:
    def __init__(self, security_module: SecurityModule) -> None:
        self._security_module = security_module

    def __call__(self, exchange: Exchange) -> ResponseCode | None:
        terminal = exchange.terminal
        assert terminal is not None, "IdentifyTerminal runs first"
        if not terminal.requires_mac:
            return None
        message = exchange.message
        network_maced = is_network_maced(message)
        if exchange.mti not in MAC_MTIS and not network_maced:
            return None  # an echo, which carries no MAC
        mac = message.get(mac_field(message))
        # Validation made it 16 upper-case hex; it must also be the message's last bytes, as
        # the highest field present, or the terminal MACed something else than we check.
        if mac is None or not exchange.body.endswith(mac.encode("ascii")):
            return ResponseCode.MAC_FAILED
        covered = mac_covered(exchange.body)
        if network_maced and message["70"] == NetworkCode.SIGN_ON:
            verified = self._security_module.verify_mac_under_tmk(
                terminal.terminal_code, terminal.tmk_sealed, covered, mac)
        else:
            verified = self._security_module.verify_mac(terminal.terminal_code, covered, mac)
        return None if verified else ResponseCode.MAC_FAILED


class SignAnswer:
    """Adds field 64 (or 128) to the answer of a MAC terminal's 0100/0200/0220/0400/0420/0500,
    except answers 58 and A0."""

    def __init__(self, security_module: SecurityModule, registry: Registry) -> None:
        self._security_module = security_module
        self._registry = registry

    def __call__(self, exchange: Exchange, fields: IsoMessage) -> IsoMessage:
        if exchange.mti not in MAC_MTIS or fields.get("39") in _UNSIGNED_CODES:
            return fields
        # A request refused before identification (12, 30) still belongs to its terminal.
        terminal = exchange.terminal or self._registry.get(exchange.message.get("41", ""))
        if terminal is None or not terminal.requires_mac:
            return fields
        name = mac_field(fields)
        fields[name] = _PLACEHOLDER
        try:
            body = encode_iso(fields)
        except IsoEncodeError:
            del fields[name]  # the answer is a bug: encode_answer makes it a 96
            return fields
        mac = self._security_module.generate_mac(terminal.terminal_code, mac_covered(body))
        if mac is None:
            del fields[name]  # no key (signed off meanwhile): an unMACed answer, as for A0
        else:
            fields[name] = mac
        return fields
