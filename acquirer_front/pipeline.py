"""The chain of steps for one request, in the spec's order of checks (jPOS TransactionManager
style): validate, identify terminal, check merchant, check MAC, turn a card password into its
verification value, then forward and answer; the answer of a MAC terminal is MACed last."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import structlog

from acquirer_front import metrics
from acquirer_front.answer import answer_fields, refusal_fields
from acquirer_front.exchange import Exchange, Step
from acquirer_front.keys import SecurityModule
from acquirer_front.normalise import normalise
from acquirer_front.registry import Registry
from acquirer_front.sessions import SessionStore
from acquirer_front.sign_on import SignOnHandler
from acquirer_front.steps import (
    AnswerEchoLocally,
    CheckMac,
    CheckMerchant,
    IdentifyTerminal,
    SignAnswer,
    TranslatePassword,
    ValidateMessage,
)
from acquirer_front.upstream import Upstream
from proto.codes import Mti, ResponseCode
from proto.frames import Answer, Request
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

    def submit(
        self, exchange: Exchange, deliver: Callable[[IsoMessage], None],
        spawn: Callable[[Callable[[], Coroutine[Any, Any, None]]], None],
    ) -> bool:
        """The hot path, without a task or a wait: run the checks and send the request on;
        `deliver` gets the answer's fields (the front's refusal at once, the host's answer when
        it comes). `spawn` runs what needs waiting (store-and-forward after no usable answer).
        False: take `process` instead (a sign-on, whose state is written before its answer,
        or a request the link would not take)."""
        refusal = self._check(exchange)
        if refusal is not None:
            deliver(self._sign_answer(exchange, refusal))
            return True
        if exchange.mti == Mti.NETWORK:
            return False
        pending = _Pending(self, exchange, deliver, spawn)
        pending.request = self._upstream.submit(
            lambda correlation_id: normalise(exchange, correlation_id), exchange.deadline,
            pending.on_answer)
        return pending.request is not None

    async def reverse_undelivered(self, exchange: Exchange) -> None:
        """An approval of `exchange` the terminal did not get: its reversal is owed
        (store-and-forward; a failure to store it is logged there, with its id)."""
        with structlog.contextvars.bound_contextvars(request_id=exchange.request_id):
            await self._upstream.reverse_undelivered(normalise(exchange, 0))

    def _check(self, exchange: Exchange) -> IsoMessage | None:
        for check in self._checks:
            code = check(exchange)
            if code is not None:
                return self._refuse(exchange, code)
        return None

    async def _answer(self, exchange: Exchange) -> IsoMessage:
        """The front's own refusal, or the host's answer."""
        refusal = self._check(exchange)
        if refusal is not None:
            return refusal
        answer = await self._upstream.forward(
            lambda correlation_id: normalise(exchange, correlation_id), exchange.deadline
        )
        if answer is None:
            return self._refuse(exchange, ResponseCode.HOST_UNAVAILABLE)
        answer = await self._sign_on.settle(exchange, answer)
        if answer is None:
            return self._refuse(exchange, ResponseCode.SYSTEM_ERROR)
        return self._host_answer(exchange, answer)

    def _host_answer(self, exchange: Exchange, answer: Answer) -> IsoMessage:
        fields = answer_fields(exchange.message, answer)
        _log_answer(exchange, answer.response_code, refused_by_front=False)
        return fields

    def _refuse(self, exchange: Exchange, code: ResponseCode) -> IsoMessage:
        _log_answer(exchange, code, refused_by_front=True)
        return refusal_fields(exchange.message, code)


class _Pending:
    """A request submitted on the hot path, until its answer is delivered."""

    __slots__ = ("_deliver", "_exchange", "_pipeline", "_spawn", "request")

    def __init__(
        self, pipeline: Pipeline, exchange: Exchange, deliver: Callable[[IsoMessage], None],
        spawn: Callable[[Callable[[], Coroutine[Any, Any, None]]], None],
    ) -> None:
        self._pipeline = pipeline
        self._exchange = exchange
        self._deliver = deliver
        self._spawn = spawn
        self.request: Request | None = None

    def on_answer(self, answer: Answer | None) -> None:
        """Upstream's callback, on the link's reader, the sweeper or the link's end: must not
        wait. Nothing here raises but a bug, which ends the front through the link's owner
        or the sweeper's task."""
        pipeline, exchange = self._pipeline, self._exchange
        if pipeline._upstream.is_usable(answer):
            assert answer is not None
            fields = pipeline._host_answer(exchange, answer)
            self._deliver(pipeline._sign_answer(exchange, fields))
        else:
            self._spawn(lambda: self._settle(answer))

    async def _settle(self, answer: Answer | None) -> None:
        """No usable answer: store-and-forward decides (reverse and 91, or a stored 0420's
        00); the answer goes out after that. A failure to store is a False there, not an
        exception: only a bug raises, in the listener's task group, ending the front."""
        pipeline, exchange = self._pipeline, self._exchange
        assert self.request is not None
        with structlog.contextvars.bound_contextvars(request_id=exchange.request_id):
            settled = await pipeline._upstream.settle(self.request, answer)
        fields = pipeline._refuse(exchange, ResponseCode.HOST_UNAVAILABLE) \
            if settled is None else pipeline._host_answer(exchange, settled)
        self._deliver(pipeline._sign_answer(exchange, fields))


def build_pipeline(
    registry: Registry, upstream: Upstream, sessions: SessionStore,
    security_module: SecurityModule, *, answer_echo_locally: bool = False,
) -> Pipeline:
    checks: list[Step] = [
        ValidateMessage(), IdentifyTerminal(registry), CheckMerchant(),
        CheckMac(security_module), TranslatePassword(security_module),
    ]
    if answer_echo_locally:
        checks.append(AnswerEchoLocally())  # benchmarks only: see FrontConfig
    return Pipeline(checks, upstream, SignOnHandler(sessions),
                    SignAnswer(security_module, registry))


def _log_answer(exchange: Exchange, code: str, *, refused_by_front: bool) -> None:
    metrics.request_counter(exchange.mti, code).inc()
    # Approvals are the bulk of the traffic: they are logged at debug only, and their fields
    # are not even formatted unless debug is on.
    if code == ResponseCode.APPROVED:
        if not log.is_enabled_for(logging.DEBUG):
            return
        emit = log.debug
    else:
        emit = log.info
    emit("answered", request_id=exchange.request_id, request=exchange.key_text(),
         pan=mask_pan(exchange.message.get("2")), response_code=code, by_front=refused_by_front)
