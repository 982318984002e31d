"""Checks 3 and 4: the terminal is registered and signed on (58), and field 42 is its merchant,
active in the alliance (03). Both read the in-memory registry only."""

from __future__ import annotations

from acquirer_front.exchange import Exchange
from acquirer_front.registry import Registry
from proto.codes import ResponseCode
from proto.messages import needs_sign_on


class IdentifyTerminal:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def __call__(self, exchange: Exchange) -> ResponseCode | None:
        terminal = self._registry.get(exchange.message["41"])
        if terminal is None or not terminal.active:
            return ResponseCode.TERMINAL_NOT_ALLOWED
        if not terminal.signed_on and needs_sign_on(exchange.mti, exchange.message.get("70")):
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
