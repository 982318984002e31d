"""One call on one port: frames from the terminal to the front, answers back, until it ends.

Each good frame is forwarded to the front (the link already ACKed it); the answer goes back
framed and must be ACKed. An approved 0200 whose answer is not delivered, or that the front did
not answer, is handed to the Reverser. The call ends on carrier loss, bad frames, an idle line,
or an answer not delivered; the port task then hangs up when the line is still up.
"""

from __future__ import annotations

import anyio
import msgspec
import structlog

from dialup import metrics
from dialup.config import DialupConfig, PortConfig
from dialup.errors import (
    BadFramesError,
    CarrierLostError,
    FrameWaitTimeoutError,
    FrontError,
    FrontTimeoutError,
    LineError,
    LinkError,
    NotDeliveredError,
)
from dialup.front import FrontAnswer, FrontConnection, FrontEndpoint
from dialup.line import SerialLine
from dialup.link import FrameLink
from dialup.reversals import ReversalOrder, Reverser, needs_reversal
from proto.codes import ResponseCode, answer_mti
from proto.errors import FramingError
from proto.framing import Tpdu, split_payload
from proto.iso_codec import IsoMessage, decode_iso
from proto.pan import mask_pan

log = structlog.get_logger("dialup.call")

# Reasons a call ends; the port hangs up itself on those where the line is still up.
ENDED_BY_TERMINAL = frozenset({"carrier_lost", "line_error"})


class CallResult(msgspec.Struct):
    reason: str = ""
    requests: int = 0
    delivered: int = 0


class Request(msgspec.Struct, frozen=True):
    tpdu: Tpdu
    body: bytes
    fields: IsoMessage

    @property
    def answer_key(self) -> tuple[str, str, str]:
        return answer_mti(self.fields["t"]), self.fields.get("41", ""), self.fields.get("11", "")


class Call:
    def __init__(self, line: SerialLine, port: PortConfig, config: DialupConfig,
                 front: FrontEndpoint, reverser: Reverser,
                 port_metrics: metrics.PortMetrics) -> None:
        self.port, self.config = port, config
        self._front = front
        self.label = port.label
        self.link = FrameLink(line, config.link, port_metrics)
        self.result = CallResult()
        self._reverser = reverser

    async def serve(self) -> CallResult:
        front = self._front.connection()
        async with front, anyio.create_task_group() as group:
            await group.start(self.link.run)
            self.result.reason = await self._serve(front)
            group.cancel_scope.cancel()
        return self.result

    async def _serve(self, front: FrontConnection) -> str:
        while True:
            try:
                payload = await self.link.receive_frame(self.config.link.frame_wait_timeout_s)
            except LinkError as exc:
                return self._link_ended(exc)
            except (CarrierLostError, LineError) as exc:
                return self._line_ended(exc, "mid_frame" if self.link.lost_mid_frame else "idle")
            if self.link.error is not None:
                continue  # the call is gone: an answer could not reach the terminal
            request = self._parse(payload)
            if request is None:
                continue
            self.result.requests += 1
            answer = await self._forward(front, request)
            if answer is None:
                continue
            try:
                await self.link.send_frame(answer.payload)
            except (NotDeliveredError, CarrierLostError, LineError) as exc:
                await self._undelivered(request, answer, exc)
                if isinstance(exc, NotDeliveredError):
                    return "not_delivered"
                return self._line_ended(exc, "answering")
            self.result.delivered += 1
            metrics.FRAMES.labels(self.label, "delivered").inc()

    def _link_ended(self, exc: LinkError) -> str:
        if isinstance(exc, FrameWaitTimeoutError):
            return "idle"
        assert isinstance(exc, BadFramesError), exc
        log.warning("hanging up: bad frames", port=self.label, error=str(exc))
        return "bad_frames"

    def _line_ended(self, exc: Exception, phase: str) -> str:
        if isinstance(exc, CarrierLostError):
            metrics.CARRIER_LOSSES.labels(self.label, phase).inc()
            log.info("carrier lost", port=self.label, phase=phase, error=str(exc))
            return "carrier_lost"
        log.warning("line failed", port=self.label, phase=phase, error=str(exc))
        return "line_error"

    def _parse(self, payload: bytes) -> Request | None:
        """The request, or None (logged, counted) when it must not be forwarded."""
        try:
            tpdu, body = split_payload(payload)
            fields = decode_iso(body)
        except FramingError as exc:
            metrics.FRAMES_DROPPED.labels(self.label, "iso").inc()
            log.warning("request not forwarded: not ISO 8583", port=self.label, error=str(exc))
            return None
        if self.port.nii is not None and tpdu.destination_nii != self.port.nii:
            metrics.FRAMES_DROPPED.labels(self.label, "nii").inc()
            log.warning("request not forwarded: another NII", port=self.label,
                        nii=tpdu.destination_nii, expected=self.port.nii)
            return None
        return Request(tpdu, body, fields)

    async def _forward(self, front: FrontConnection, request: Request) -> FrontAnswer | None:
        fields = request.fields
        try:
            answer = await front.exchange(request.tpdu, request.body, request.answer_key,
                                          self.config.answer_timeout_s)
        except FrontError as exc:
            reason = "timeout" if isinstance(exc, FrontTimeoutError) else "unavailable"
            metrics.FRONT_ERRORS.labels(self.label, reason).inc()
            log.warning("no answer from the front", port=self.label, mti=fields["t"],
                        stan=fields.get("11"), terminal=fields.get("41"), error=str(exc))
            if needs_reversal(fields):
                await self._reverse(request, "no_answer")
            return None
        log.info("answer", port=self.label, mti=fields["t"], terminal=fields.get("41"),
                 stan=fields.get("11"), pan=mask_pan(fields.get("2")),
                 response_code=answer.fields.get("39"))
        return answer

    async def _undelivered(self, request: Request, answer: FrontAnswer, exc: Exception) -> None:
        approved = answer.fields.get("39") == ResponseCode.APPROVED
        log.warning("answer not delivered", port=self.label, mti=answer.fields["t"],
                    stan=answer.fields.get("11"), approved=approved, error=str(exc))
        if approved and needs_reversal(request.fields):
            cause = "not_delivered" if isinstance(exc, NotDeliveredError) else "carrier_lost"
            await self._reverse(request, cause)

    async def _reverse(self, request: Request, cause: str) -> None:
        await self._reverser.submit(ReversalOrder(request.fields, request.tpdu, self.label, cause))
