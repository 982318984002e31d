"""After the MAC: a card password's PIN block (field 52) becomes its verification value.

Host interface 1.2, §4 "Card password": only the 0200s that need a password carry one, and only
a terminal that MACs has a PIN key. The security module decrypts the block under the terminal's
PIN session key and MACs PAN and password under the PIN verification key
(proto.card_password); the Request carries that value, never the block or the password. The
host decides (55, 75) in its own order of checks, after the card: this step never refuses.
A request that needs no password, or comes from a terminal that need not MAC, carries none: the
host answers 55 where the card has a password, and counts no try.
"""

from __future__ import annotations

from acquirer_front.exchange import Exchange
from acquirer_front.keys import SecurityModule
from proto.card_password import needs_password
from proto.codes import ResponseCode

PIN_BLOCK_FIELD = "52"


class TranslatePassword:
    def __init__(self, security_module: SecurityModule) -> None:
        self._security_module = security_module

    def __call__(self, exchange: Exchange) -> ResponseCode | None:
        message = exchange.message
        pin_block = message.get(PIN_BLOCK_FIELD)
        if pin_block is None or not needs_password(exchange.mti, message.get("3")):
            return None
        terminal = exchange.terminal
        assert terminal is not None, "IdentifyTerminal runs first"
        if terminal.requires_mac:
            exchange.card_password = self._security_module.password_verification(
                terminal.terminal_code, message["2"], pin_block)
        return None
