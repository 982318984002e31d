"""Check 5: the MAC (A0). Only the seam for now; the security work plugs a verifier in."""

from __future__ import annotations

from typing import Protocol

from acquirer_front.exchange import Exchange
from acquirer_front.registry import Terminal
from proto.codes import ResponseCode
from proto.iso_codec import IsoMessage


class MacVerifier(Protocol):
    def verify(self, terminal: Terminal, message: IsoMessage, body: bytes) -> bool:
        """True when the request's MAC (field 64 or 128) is right or not required.

        `body` is the ISO message as received, from the MTI on: what the MAC covers."""
        ...


class PassThroughMacVerifier:
    """Accepts everything: MAC is not implemented yet."""

    def verify(self, terminal: Terminal, message: IsoMessage, body: bytes) -> bool:
        return True


class CheckMac:
    def __init__(self, verifier: MacVerifier) -> None:
        self._verifier = verifier

    def __call__(self, exchange: Exchange) -> ResponseCode | None:
        assert exchange.terminal is not None, "IdentifyTerminal runs first"
        if self._verifier.verify(exchange.terminal, exchange.message, exchange.body):
            return None
        return ResponseCode.MAC_FAILED
