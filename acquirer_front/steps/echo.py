"""Benchmarks only: answer an 0800 echo at the front, after the checks, without forwarding.

`jifen loadtest` measures a bare front ceiling with it (FrontConfig.answer_echo_locally): what
the front alone costs per request (framing, ISO codec, checks, answer), with no switch or host.
"""

from __future__ import annotations

from acquirer_front.exchange import Exchange
from proto.codes import Mti, NetworkCode, ResponseCode


class AnswerEchoLocally:
    def __call__(self, exchange: Exchange) -> ResponseCode | None:
        if exchange.mti == Mti.NETWORK and exchange.message.get("70") == NetworkCode.ECHO:
            return ResponseCode.APPROVED
        return None
