"""One simulated terminal of the fleet: a TCP connection, signed on, many requests in flight.

It is leaner than devices.terminal_client.TerminalClient, which costs about 150 µs a request
(an ISO encode and decode by pyiso8583, a task, an event and a deadline per request): here a
request is a patched template (wire.RequestTemplate, ~2 µs), the answers of one read are
matched in a loop (~3 µs each), and the requests that replace them go out in one write. Sign-on
alone uses the full codec: it happens once.

The socket is an asyncio Protocol, not an AnyIO stream: the generator shares the two cores with
the system it measures, and against a fake front the stream's receive and send cost 15-25 µs
more per request than a protocol's callbacks (22.5 against 7.9 µs a request at 8 in flight).
Answers are matched inside data_received and, in the closed loop, replaced there at once; AnyIO
still runs everything around it (task groups, deadlines, sleeps).

Answers are matched by MTI + 11 and checked for 41, as the host interface says a terminal must;
the STAN (11) is unique per terminal, and field 7 changes every second, so no two requests of a
run share the host's retransmission key (MTI, 41, 11, 7).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import anyio

from devices.stan import STAN_MAX
from loadtest.errors import FleetError
from loadtest.mix import Kind
from loadtest.sampling import IndexSampler
from loadtest.tally import ErrorReason, Tally
from loadtest.wire import (
    BODY_OFFSET,
    LENGTH_SIZE,
    ClockFields,
    RequestTemplate,
    clock_fields,
    read_answer_head,
)
from proto.codes import Mti, NetworkCode, ResponseCode
from proto.errors import IsoDecodeError
from proto.fields import TlvError, parse_tlv
from proto.framing import FRAME_SIZE_MAX, FRAME_SIZE_MIN, Tpdu, encode_frame
from proto.iso_codec import IsoMessage, decode_iso, encode_iso

TPDU = Tpdu(destination_nii=0x0001, source_nii=0x0000)
ENTRY_MODE_CHIP = "051"
POS_CONDITION_NORMAL = "00"
# A sign-on is answered in milliseconds; a slow one means the system is not up.
SIGN_ON_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 10.0
# Open loop: requests one terminal may have unanswered; past it, requests are not sent and
# count as errors (the system does not keep up with the rate). The front reads at most 64
# ahead per terminal; the rest wait in the socket buffers.
PENDING_REQUESTS_MAX = 10_000


class _Clock:
    """Fields 7, 12 and 13, worked out once per UTC second."""

    def __init__(self) -> None:
        self._second = -1
        self._fields = clock_fields(0)

    def fields(self) -> ClockFields:
        second = int(time.time())
        if second != self._second:
            self._second, self._fields = second, clock_fields(second)
        return self._fields


CLOCK = _Clock()


class _Wire(asyncio.Protocol):
    """The socket's callbacks, handed to the terminal."""

    def __init__(self, terminal: FleetTerminal) -> None:
        self._terminal = terminal

    def data_received(self, data: bytes) -> None:
        self._terminal.on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._terminal.on_connection_lost()


class FleetTerminal:
    def __init__(
        self, terminal_code: str, merchant_code: str, tally: Tally, kind_sampler: IndexSampler,
        cards: Sequence[bytes], card_sampler: IndexSampler, amount: int, stan_start: int = 1,
    ) -> None:
        assert len(terminal_code) == 8 and len(merchant_code) == 15
        self.terminal_code = terminal_code
        self.merchant_code = merchant_code
        self.pending: dict[bytes, tuple[int, int]] = {}   # answer MTI + 11 -> (sent ns, kind)
        self.batch_number = 1
        self.stopping = False
        self.drained = anyio.Event()   # stopped with nothing pending, or the connection lost
        self._code_bytes = terminal_code.encode()
        self._tally = tally
        self._kind_sampler = kind_sampler
        self._cards = cards
        self._card_sampler = card_sampler
        self._amount = amount
        self._stan = stan_start
        self._templates: dict[tuple[int, int], RequestTemplate] = {}
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._refill = False
        self._reply: bytes | None = None      # sign-on: the one frame awaited
        self._replied: anyio.Event | None = None
        self._lost_connection = False

    # ---- connection and sign-on --------------------------------------------------------------

    async def connect(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            with anyio.fail_after(CONNECT_TIMEOUT_S):
                self._transport, _ = await loop.create_connection(
                    lambda: _Wire(self), host, port)
        except (OSError, TimeoutError) as exc:
            raise FleetError(f"terminal {self.terminal_code} cannot connect to "
                             f"{host}:{port}: {exc!r}") from exc

    async def aclose(self) -> None:
        if self._transport is not None:
            self._transport.close()

    async def sign_on(self) -> None:
        """0800/001; the answer's field 60 is the open batch that 0200s must carry."""
        answer = await self._request(
            {"t": Mti.NETWORK, "70": NetworkCode.SIGN_ON, "41": self.terminal_code,
             "42": self.merchant_code})
        if answer.get("39") != ResponseCode.APPROVED:
            raise FleetError(f"terminal {self.terminal_code}: sign-on answered "
                             f"{answer.get('39')!r}")
        try:
            tags = parse_tlv(answer.get("48", ""))
        except TlvError:
            tags = {}
        if "MK" in tags:
            raise FleetError(f"terminal {self.terminal_code} must MAC, and the load generator "
                             "does not: use terminals that do not require MAC")
        if answer.get("60", "").isdigit():
            self.batch_number = int(answer["60"])

    async def _request(self, fields: IsoMessage) -> IsoMessage:
        """One request through the full codec, with nothing else in flight."""
        assert self._transport is not None and not self.pending
        clock = CLOCK.fields()
        fields = dict(fields, **{"7": clock.transmission.decode(), "11": self._next_stan()})
        self._reply, self._replied = None, anyio.Event()
        try:
            with anyio.fail_after(SIGN_ON_TIMEOUT_S):
                self._transport.write(encode_frame(TPDU, encode_iso(fields)))
                await self._replied.wait()
            if self._reply is None:
                raise FleetError(f"terminal {self.terminal_code}: the front closed the "
                                 f"connection after {fields['t']}")
            return decode_iso(self._reply)
        except TimeoutError as exc:
            raise FleetError(f"terminal {self.terminal_code}: no answer to {fields['t']} "
                             f"within {SIGN_ON_TIMEOUT_S:g} s") from exc
        except IsoDecodeError as exc:
            raise FleetError(f"terminal {self.terminal_code}: undecodable answer to "
                             f"{fields['t']}: {exc}") from exc
        finally:
            self._replied = None

    # ---- the load ----------------------------------------------------------------------------

    def build(self, count: int, sent_ns: int, step_ns: int = 0) -> bytearray:
        """`count` new requests in one buffer; request i counts as sent at sent_ns + i*step_ns
        (the open loop's intended times, so a late generator shows up in the latency)."""
        out = bytearray()
        clock = CLOCK.fields()
        pending, tally = self.pending, self._tally
        room = PENDING_REQUESTS_MAX - len(pending)
        if count > room:
            tally.error("-", ErrorReason.BACKLOG, count - room)
            count = max(room, 0)
        for index in range(count):
            kind_index = self._kind_sampler.next()
            pan = self._cards[self._card_sampler.next()]
            template = self._templates.get((kind_index, len(pan)))
            if template is None:
                template = self._template(kind_index, len(pan))
            stan = self._next_stan().encode()
            out += template.render(pan, stan, clock)
            pending[template.answer_mti + stan] = (sent_ns + index * step_ns, kind_index)
        tally.sent += count
        return out

    def _template(self, kind_index: int, pan_length: int) -> RequestTemplate:
        kind: Kind = self._tally.kinds[kind_index]
        fields = kind.fields(self._amount, self.batch_number)
        fields.update({"7": "0" * 10, "11": "0" * 6, "41": self.terminal_code,
                       "42": self.merchant_code})
        if kind.needs_card:
            fields.update({"2": "0" * pan_length, "12": "0" * 6, "13": "0" * 4,
                           "22": ENTRY_MODE_CHIP, "25": POS_CONDITION_NORMAL})
        template = RequestTemplate(fields, TPDU)
        self._templates[kind_index, pan_length] = template
        return template

    def _next_stan(self) -> str:
        stan = self._stan
        self._stan = 1 if stan == STAN_MAX else stan + 1
        return f"{stan:06d}"

    def send(self, frames: bytes | bytearray) -> None:
        """Queue frames on the socket (the transport buffers what the kernel cannot take)."""
        if self._transport is not None and not self._lost_connection and frames:
            self._transport.write(frames)

    async def run_closed_loop(self, in_flight: int) -> None:
        """Keep `in_flight` requests outstanding: each answer is replaced by a new request at
        once, in data_received. Returns when stopped and drained, or the connection is lost."""
        self._refill = True
        self.send(self.build(in_flight, time.perf_counter_ns()))
        await self.drained.wait()

    async def read_answers(self) -> None:
        """Open loop: the pacer sends; answers are matched as they come."""
        await self.drained.wait()

    def stop(self) -> None:
        self.stopping = True
        if not self.pending:
            self.drained.set()

    def on_data(self, data: bytes) -> None:
        received_ns = time.perf_counter_ns()
        if self._replied is not None:
            self._buffer += data
            self._take_reply()
            return
        matched = self._consume(data, received_ns)
        if self._refill and matched > 0 and not self.stopping:
            self.send(self.build(matched, time.perf_counter_ns()))

    def _take_reply(self) -> None:
        assert self._replied is not None
        buffer = self._buffer
        if len(buffer) < LENGTH_SIZE:
            return
        end = LENGTH_SIZE + int.from_bytes(buffer[:LENGTH_SIZE], "big")
        if len(buffer) >= end:
            self._reply = bytes(buffer[BODY_OFFSET:end])
            del buffer[:end]
            self._replied.set()

    def on_connection_lost(self) -> None:
        self._lost()
        if self._replied is not None:
            self._replied.set()

    def _consume(self, data: bytes, received_ns: int) -> int:
        """Match every whole answer in the buffer; how many matched, or -1 on a bad frame."""
        buffer = self._buffer
        buffer += data
        position, size, matched = 0, len(buffer), 0
        while size - position >= LENGTH_SIZE:
            length = (buffer[position] << 8) | buffer[position + 1]
            if not FRAME_SIZE_MIN <= length <= FRAME_SIZE_MAX:
                self._tally.error("-", ErrorReason.GARBLED)
                self._lost()
                if self._transport is not None:
                    self._transport.close()
                return -1
            end = position + LENGTH_SIZE + length
            if end > size:
                break
            matched += self._on_answer(bytes(buffer[position + BODY_OFFSET:end]), received_ns)
            position = end
        del buffer[:position]
        return matched

    def _on_answer(self, body: bytes, received_ns: int) -> int:
        tally = self._tally
        head = read_answer_head(body)
        if head is None:
            tally.error("-", ErrorReason.GARBLED)
            tally.sample(self.terminal_code, "-", ErrorReason.GARBLED, body)
            return 0
        entry = self.pending.pop(head.mti + head.stan, None)
        if entry is None:
            tally.error("-", ErrorReason.UNMATCHED)
            tally.sample(self.terminal_code, "-", ErrorReason.UNMATCHED, body)
            return 0
        sent_ns, kind_index = entry
        if head.terminal_code != self._code_bytes:
            name = tally.kinds[kind_index].name
            tally.error(name, ErrorReason.WRONG_TERMINAL)
            tally.sample(self.terminal_code, name, ErrorReason.WRONG_TERMINAL, body)
        elif not tally.answer(kind_index, head.response_code, sent_ns, received_ns):
            name = tally.kinds[kind_index].name
            tally.sample(self.terminal_code, name, head.response_code.decode(errors="replace"),
                         body)
        if self.stopping and not self.pending:
            self.drained.set()
        return 1

    def _lost(self) -> None:
        """The connection is gone: whatever is pending will never be answered."""
        self._lost_connection = True
        if self.pending:
            self._tally.error("-", ErrorReason.CONNECTION_LOST, len(self.pending))
            self.pending.clear()
        self.stopping = True
        self.drained.set()

    def abandon(self) -> None:
        """The drain is over: what is still pending got no answer in time."""
        if self.pending:
            self._tally.error("-", ErrorReason.NO_ANSWER, len(self.pending))
            self._tally.sample(self.terminal_code, "-", ErrorReason.NO_ANSWER, None)
            self.pending.clear()
