"""Checks 3 and 4: the terminal is registered, signed on and allowed this transaction (58), and
field 42 is its merchant, active in the alliance (03). Both read the in-memory registry only.

"Allowed": where the alliance requires MAC for loads and exchanges (1.2 §8), a 0200 210000 or
400060 from a terminal that need not MAC gets 58; those create stored value, and a terminal
that does not MAC proves nothing about who sends in its name."""

from __future__ import annotations

from acquirer_front.exchange import Exchange
from acquirer_front.registry import Registry
from proto.codes import Mti, ResponseCode
from proto.messages import MAC_ONLY_PROCESSING_CODES, needs_sign_on


class IdentifyTerminal:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def __call__(self, exchange: Exchange) -> ResponseCode | None:
        terminal = self._registry.get(exchange.message["41"])
        if terminal is None or not terminal.active:
            return ResponseCode.TERMINAL_NOT_ALLOWED
        if not terminal.signed_on and needs_sign_on(exchange.mti, exchange.message.get("70")):
            return ResponseCode.TERMINAL_NOT_ALLOWED
        if (exchange.mti == Mti.FINANCIAL and not terminal.requires_mac
                and terminal.alliance_requires_mac_for_loads
                and exchange.message.get("3") in MAC_ONLY_PROCESSING_CODES):
            return ResponseCode.TERMINAL_NOT_ALLOWED
        exchange.terminal = terminal
        return None


class CheckMerchant:
    def __call__(self, exchange: Exchange) -> ResponseCode | None:
        terminal = exchange.terminal
        assert terminal is not None, "IdentifyTerminal runs first"
        if exchange.message["42"] != terminal.merchant_code or not terminal.merchant_active:
            return ResponseCode.MERCHANT_INVALID
        return None
