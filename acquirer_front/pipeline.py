"""The chain of steps for one request, in the spec's order of checks (jPOS TransactionManager
style): validate, identify terminal, check merchant, check MAC, then forward and answer; the
answer of a MAC terminal is MACed last."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from acquirer_front import metrics
from acquirer_front.answer import answer_fields, refusal_fields
from acquirer_front.exchange import Exchange, Step
from acquirer_front.normalise import normalise
from acquirer_front.keys import SecurityModule
from acquirer_front.registry import Registry
from acquirer_front.sessions import SessionStore
from acquirer_front.sign_on import SignOnHandler
from acquirer_front.steps import (
    AnswerEchoLocally, CheckMac, CheckMerchant, IdentifyTerminal, SignAnswer, ValidateMessage,
)
from acquirer_front.upstream import Upstream
from proto.codes import ResponseCode
from proto.iso_codec import IsoMessage
from proto.pan import mask_pan

log = structlog.get_logger("acquirer_front.pipeline")


class Pipeline:
    def __init__(
        self, checks: Sequence[Step], upstream: Upstream, sign_on: SignOnHandler,
        sign_answer: SignAnswer,
    ) -> None:
        self._checks = tuple(checks)
        self._upstream = upstream
        self._sign_on = sign_on
        self._sign_answer = sign_answer

    async def process(self, exchange: Exchange) -> IsoMessage:
        """The answer's fields, MACed when the terminal requires it."""
        return self._sign_answer(exchange, await self._answer(exchange))

    async def _answer(self, exchange: Exchange) -> IsoMessage:
        """The front's own refusal, or the host's answer."""
        for check in self._checks:
            code = check(exchange)
            if code is not None:
                return self._refuse(exchange, code)
        answer = await self._upstream.forward(
            lambda correlation_id: normalise(exchange, correlation_id), exchange.deadline
        )
        if answer is None:
            return self._refuse(exchange, ResponseCode.HOST_UNAVAILABLE)
        answer = await self._sign_on.settle(exchange, answer)
        if answer is None:
            return self._refuse(exchange, ResponseCode.SYSTEM_ERROR)
        fields = answer_fields(exchange.message, answer)
        _log_answer(exchange, answer.response_code, refused_by_front=False)
        return fields

    def _refuse(self, exchange: Exchange, code: ResponseCode) -> IsoMessage:
        _log_answer(exchange, code, refused_by_front=True)
        return refusal_fields(exchange.message, code)


def build_pipeline(
    registry: Registry, upstream: Upstream, sessions: SessionStore,
    security_module: SecurityModule, *, answer_echo_locally: bool = False,
) -> Pipeline:
    checks: list[Step] = [
        ValidateMessage(), IdentifyTerminal(registry), CheckMerchant(),
        CheckMac(security_module),
    ]
    if answer_echo_locally:
        checks.append(AnswerEchoLocally())  # benchmarks only: see FrontConfig
    return Pipeline(checks, upstream, SignOnHandler(sessions),
                    SignAnswer(security_module, registry))


def _log_answer(exchange: Exchange, code: str, *, refused_by_front: bool) -> None:
    metrics.REQUESTS.labels(metrics.mti_label(exchange.mti), code).inc()
    # Approvals are the bulk of the traffic: they are logged at debug only.
    emit = log.debug if code == ResponseCode.APPROVED else log.info
    emit("answered", request=exchange.key_text(), pan=mask_pan(exchange.message.get("2")),
         response_code=code, by_front=refused_by_front)
