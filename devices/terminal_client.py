"""A simulated POS terminal: one TCP connection to the acquirer front, many requests in flight.

The client numbers STANs itself and fills in the fields a terminal owns (7, 11, 12, 13, 22, 25,
41, 42) where the message type requires them; fields the caller gives always win, so a test can
send a retransmission or a malformed field on purpose. One reader task matches answers to
requests by (answer MTI, 41, 11), as the host interface says a terminal must, so answers may
come back in any order. After a sign-on whose answer carries MK, it MACs its requests (given the
TMK) and checks the host's MACs. Given a TMK, it MACs its sign-on under it, and its key change
and sign-off under the session key (host interface 1.2, §7); a PIN session key in PK/PV lets it
send a card password as a format 0 PIN block in field 52.

    async with TerminalClient("127.0.0.1", 8583, "DEMO0001", "DEMO00000000001") as terminal:
        await terminal.sign_on()
        answer = await terminal.purchase("6221880000000009", amount_fen=1_000)
"""

from __future__ import annotations

import time
from contextlib import AsyncExitStack
from types import TracebackType

import anyio
import msgspec
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from devices import messages
from devices.clock import Clock, clock_fields, utc_now
from devices.errors import (
    AnswerMacError,
    AnswerTimeoutError,
    DeviceError,
    HostConnectionError,
    NotSentError,
)
from devices.mac import (
    MAC_HEX_SIZE,
    MAC_MTIS,
    mac_field,
    open_session_key,
    retail_mac,
    verify_answer_mac,
)
from devices.pending import PendingAnswers
from devices.stan import StanCounter
from proto.codes import Mti, NetworkCode, ResponseCode, answer_mti
from proto.errors import FramingError, IsoDecodeError
from proto.fields import parse_tlv
from proto.frames import Totals
from proto.framing import Tpdu, encode_frame, read_frame
from proto.iso_codec import decode_iso, encode_iso
from proto.mac import is_network_maced
from proto.messages import REQUIRED_FIELDS, message_kind
from proto.pin_block import PinBlockError, encrypt_block

Fields = dict[str, str]

DEFAULT_TPDU = Tpdu(destination_nii=0x0001, source_nii=0x0000)
ENTRY_MODE_CHIP = "051"
POS_CONDITION_NORMAL = "00"
# A terminal's usual wait for an answer before it gives up (and would reverse).
TIMEOUT_S_DEFAULT = 30.0
# Requests one client keeps unanswered; the front's own per-terminal limit is 64 too.
PENDING_REQUESTS_MAX = 64
# Frames nobody waits for (answers to send_raw, late answers) kept for receive_raw.
UNSOLICITED_FRAMES_MAX = 64
# Fields filled when the message type is unknown to us (a test of answer 12).
_UNKNOWN_KIND_FIELDS = ("7", "11", "41", "42")
_CONNECTION_ERRORS = (
    OSError, anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream,
    anyio.IncompleteRead,
)


class Exchange(msgspec.Struct, frozen=True):
    """A request as it was sent, its answer, and how long the round trip took."""

    request: Fields
    answer: Fields
    elapsed_s: float
    mac_verified: bool | None = None  # None: the answer carried no MAC or we do not MAC


class RawFrame(msgspec.Struct, frozen=True):
    tpdu: Tpdu
    body: bytes


class TerminalClient:
    def __init__(
        self, host: str, port: int, terminal_code: str, merchant_code: str, *,
        tpdu: Tpdu = DEFAULT_TPDU, timeout_s: float = TIMEOUT_S_DEFAULT,
        tmk: bytes | None = None, batch_number: int | None = None, stan_start: int = 1,
        pending_requests_max: int = PENDING_REQUESTS_MAX, clock: Clock = utc_now,
        entry_mode: str = ENTRY_MODE_CHIP,
    ) -> None:
        assert len(terminal_code) == 8 and len(merchant_code) == 15, "fields 41 and 42"
        assert tmk is None or len(tmk) == 16, "a TMK is 16 bytes"
        self.host, self.port = host, port
        self.terminal_code, self.merchant_code = terminal_code, merchant_code
        self.tpdu, self.timeout_s = tpdu, timeout_s
        self.batch_number = batch_number  # the open batch; a sign-on answer's field 60 sets it
        self.unsolicited_dropped = 0
        self._tmk, self._clock, self._entry_mode = tmk, clock, entry_mode
        self._session_key: bytes | None = None
        self._pin_key: bytes | None = None
        self._stan = StanCounter(stan_start)
        self._slots = anyio.Semaphore(pending_requests_max)
        self._pending = PendingAnswers()
        self._send_lock = anyio.Lock()
        self._stream: SocketStream | None = None
        self._exit_stack: AsyncExitStack | None = None
        self._closed_error: DeviceError | None = None
        self._unsolicited_in: MemoryObjectSendStream[RawFrame]
        self._unsolicited_out: MemoryObjectReceiveStream[RawFrame]
        self._unsolicited_in, self._unsolicited_out = \
            anyio.create_memory_object_stream[RawFrame](UNSOLICITED_FRAMES_MAX)

    # ---- connection ------------------------------------------------------------------------

    async def __aenter__(self) -> TerminalClient:
        try:
            with anyio.fail_after(self.timeout_s):
                stream = await anyio.connect_tcp(self.host, self.port)
        except TimeoutError as exc:
            raise HostConnectionError(f"no connection to {self.address} within "
                                      f"{self.timeout_s:g} s") from exc
        except OSError as exc:
            raise HostConnectionError(f"cannot connect to {self.address}: {exc}") from exc
        async with AsyncExitStack() as stack:
            self._stream = await stack.enter_async_context(stream)
            task_group = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(task_group.cancel_scope.cancel)
            task_group.start_soon(self._read_answers, stream)
            self._exit_stack = stack.pop_all()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        self._close(HostConnectionError("the client is closed"))
        assert self._exit_stack is not None
        try:
            return await self._exit_stack.__aexit__(exc_type, exc, traceback)
        except BaseExceptionGroup as group:
            # The reader's task group wraps the caller's own error: give it back as raised,
            # so that `except DeviceError` around the `async with` still catches it.
            if exc is not None and len(group.exceptions) == 1 and group.exceptions[0] is exc:
                raise exc from exc.__cause__
            raise

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def must_mac(self) -> bool:
        """True after a sign-on answer gave a MAC key (and we held the TMK to open it)."""
        return self._session_key is not None

    def _close(self, error: DeviceError) -> None:
        if self._closed_error is None:
            self._closed_error = error
            self._pending.fail_all(error)
            self._unsolicited_in.close()

    async def _read_answers(self, stream: SocketStream) -> None:
        receive = BufferedByteReceiveStream(stream)
        try:
            while True:
                tpdu, body = await read_frame(receive)
                self._route(tpdu, body)
        except FramingError as exc:
            self._close(HostConnectionError(f"host sent a bad frame: {exc}"))
        except _CONNECTION_ERRORS as exc:
            self._close(HostConnectionError(f"host closed the connection ({type(exc).__name__})"))

    def _route(self, tpdu: Tpdu, body: bytes) -> None:
        try:
            answer = decode_iso(body)
        except IsoDecodeError:
            answer = None
        if answer is not None:
            key = (answer["t"], answer.get("41", ""), answer.get("11", ""))
            if self._pending.resolve(key, answer, body):
                return
        try:
            self._unsolicited_in.send_nowait(RawFrame(tpdu, body))
        except anyio.WouldBlock:
            self.unsolicited_dropped += 1

    # ---- raw frames, for framing tests -----------------------------------------------------

    async def send_raw(self, data: bytes) -> None:
        """Bytes on the wire exactly as given: no length, TPDU or codec is added. NotSentError
        when the connection was already closed (nothing was written)."""
        if self._closed_error is not None:
            raise NotSentError(str(self._closed_error)) from self._closed_error
        assert self._stream is not None, "use the client as an async context manager"
        try:
            with anyio.fail_after(self.timeout_s):
                async with self._send_lock:
                    await self._stream.send(data)
        except TimeoutError as exc:
            raise AnswerTimeoutError(f"send to {self.address} stalled") from exc
        except _CONNECTION_ERRORS as exc:
            raise HostConnectionError(f"cannot send to {self.address}: {exc!r}") from exc

    async def receive_raw(self, timeout_s: float | None = None) -> RawFrame:
        """The next frame that no request waits for; HostConnectionError once the host closed."""
        try:
            with anyio.fail_after(self.timeout_s if timeout_s is None else timeout_s):
                return await self._unsolicited_out.receive()
        except TimeoutError as exc:
            raise AnswerTimeoutError("no unsolicited frame arrived") from exc
        except (anyio.EndOfStream, anyio.ClosedResourceError) as exc:
            raise self._closed_error or HostConnectionError("connection closed") from exc

    # ---- requests --------------------------------------------------------------------------

    def prepare(self, fields: Fields) -> Fields:
        """The message as it will be sent: the terminal's own fields filled where required."""
        message = dict(fields)
        kind = message_kind(message["t"], message.get("3"))
        required = REQUIRED_FIELDS[kind] if kind else _UNKNOWN_KIND_FIELDS
        missing = [name for name in required if name not in message]
        if not missing:
            return message
        own = {"41": self.terminal_code, "42": self.merchant_code, "22": self._entry_mode,
               "25": POS_CONDITION_NORMAL, **clock_fields(self._clock())}
        for name in missing:
            if name == "11":
                message["11"] = self._stan.next()
            elif name in own:
                message[name] = own[name]
        return message

    def _mac_key(self, message: Fields) -> bytes | None:
        """The key this message is MACed under (§7), or None: the TMK for a sign-on when we
        hold one (a host that does not require MAC ignores it), the session key for the other
        MACed messages once a sign-on gave one; echo never."""
        if message["t"] in MAC_MTIS:
            return self._session_key
        if not is_network_maced(message):
            return None
        if message["70"] == NetworkCode.SIGN_ON:
            return self._tmk
        return self._session_key

    def _encode(self, message: Fields) -> bytes:
        """ISO bytes; with a MAC in 64/128 when we must MAC and the caller gave none."""
        name = mac_field(message)
        key = self._mac_key(message)
        if key is None or name in message:
            return encode_iso(message)
        message[name] = "0" * MAC_HEX_SIZE
        body = encode_iso(message)
        mac = retail_mac(key, body[:-MAC_HEX_SIZE]).hex().upper()
        message[name] = mac
        return body[:-MAC_HEX_SIZE] + mac.encode("ascii")

    async def exchange(self, fields: Fields) -> Exchange:
        """Send one request and wait for its answer, while other requests may be in flight."""
        async with self._slots:
            message = self.prepare(fields)
            body = self._encode(message)
            key = (answer_mti(message["t"]), message.get("41", ""), message.get("11", ""))
            waiter = self._pending.add(key)
            started = time.perf_counter()
            try:
                with anyio.fail_after(self.timeout_s):
                    await self._send_request(body)
                    answer = await waiter.wait()
            except TimeoutError as exc:
                raise AnswerTimeoutError(
                    f"no answer to {message['t']} STAN {key[2]} within {self.timeout_s:g} s"
                ) from exc
            finally:
                self._pending.discard(key, waiter)
            elapsed_s = time.perf_counter() - started
        mac_verified = self._check_answer_mac(message, waiter.body, answer)
        self._learn(message, answer)
        return Exchange(message, answer, elapsed_s, mac_verified)

    async def _send_request(self, body: bytes) -> None:
        """One request on the wire; the dial-up terminal frames it for a serial line instead."""
        await self.send_raw(encode_frame(self.tpdu, body))

    async def request(self, fields: Fields) -> Fields:
        """The answer's fields, as proto.iso_codec decodes them ("t" is the MTI)."""
        return (await self.exchange(fields)).answer

    def _check_answer_mac(self, message: Fields, body: bytes, answer: Fields) -> bool | None:
        if self._session_key is None or message["t"] not in MAC_MTIS:
            return None
        verified = verify_answer_mac(self._session_key, body, answer)
        if verified is False:
            raise AnswerMacError(f"answer to STAN {message['11']} has a wrong MAC")
        return verified

    def _learn(self, message: Fields, answer: Fields) -> None:
        """Sign-on and key change answers set the open batch and the MAC session key."""
        if message["t"] != Mti.NETWORK or answer.get("39") != ResponseCode.APPROVED:
            return
        code = message.get("70")
        if code == NetworkCode.SIGN_OFF:
            self._session_key = self._pin_key = None
            return
        if code not in (NetworkCode.SIGN_ON, NetworkCode.KEY_CHANGE):
            return
        if code == NetworkCode.SIGN_ON and answer.get("60", "").isdigit():
            self.batch_number = int(answer["60"])
        tags = parse_tlv(answer.get("48", ""))
        if "MK" in tags and self._tmk is not None:
            self._session_key = open_session_key(self._tmk, tags["MK"], tags.get("MV", ""))
        elif code == NetworkCode.SIGN_ON:
            self._session_key = None  # no MK, or no TMK to open it: we send no MAC
        if "PK" in tags and self._tmk is not None:
            self._pin_key = open_session_key(self._tmk, tags["PK"], tags.get("PV", ""))
        elif code == NetworkCode.SIGN_ON:
            self._pin_key = None  # no PK: this terminal cannot send a password

    @property
    def has_pin_key(self) -> bool:
        return self._pin_key is not None

    def pin_block(self, pan: str, password: str) -> str:
        """Field 52: `password` as a format 0 PIN block under the PIN session key."""
        if self._pin_key is None:
            raise DeviceError("no PIN key: sign on (with the TMK) at a terminal that MACs")
        try:
            return encrypt_block(self._pin_key, password, pan)
        except PinBlockError as exc:
            raise DeviceError(str(exc)) from exc

    def with_password(self, fields: Fields, password: str | None) -> Fields:
        """`fields` with the card password as a PIN block under the PIN key (field 52)."""
        if password is not None:
            fields["52"] = self.pin_block(fields["2"], password)
        return fields

    def _batch(self, batch_number: int | None) -> int:
        batch = batch_number if batch_number is not None else self.batch_number
        if batch is None:
            raise DeviceError("batch number unknown: sign on first or pass batch_number")
        return batch

    # ---- one helper per message of the host interface --------------------------------------

    async def sign_on(self) -> Fields:
        return await self.request(messages.sign_on())

    async def sign_off(self) -> Fields:
        return await self.request(messages.sign_off())

    async def echo(self) -> Fields:
        return await self.request(messages.echo())

    async def key_change(self) -> Fields:
        return await self.request(messages.key_change())

    async def inquiry(self, pan: str) -> Fields:
        return await self.request(messages.inquiry(pan))

    async def purchase(
        self, pan: str, amount_fen: int, batch_number: int | None = None
    ) -> Fields:
        return await self.request(messages.purchase(pan, amount_fen, self._batch(batch_number)))

    async def purchase_stored_value(
        self, pan: str, amount_fen: int, batch_number: int | None = None,
        password: str | None = None,
    ) -> Fields:
        batch = self._batch(batch_number)
        return await self.request(self.with_password(
            messages.purchase_stored_value(pan, amount_fen, batch), password))

    async def redeem(
        self, pan: str, points: int, gift_code: str | None = None,
        batch_number: int | None = None, password: str | None = None,
        order_fen: int | None = None,
    ) -> Fields:
        batch = self._batch(batch_number)
        return await self.request(self.with_password(
            messages.redemption(pan, points, batch, gift_code, order_fen), password))

    async def purchase_return(
        self, pan: str, amount_fen: int, original_rrn: str, batch_number: int | None = None
    ) -> Fields:
        batch = self._batch(batch_number)
        return await self.request(messages.purchase_return(pan, amount_fen, batch, original_rrn))

    async def load_stored_value(
        self, pan: str, amount_fen: int, batch_number: int | None = None
    ) -> Fields:
        batch = self._batch(batch_number)
        return await self.request(messages.stored_value_load(pan, amount_fen, batch))

    async def exchange_points(
        self, pan: str, points: int, batch_number: int | None = None,
        password: str | None = None,
    ) -> Fields:
        batch = self._batch(batch_number)
        return await self.request(self.with_password(
            messages.points_exchange(pan, points, batch), password))

    async def reverse(
        self, original: Fields, reason_code: str = "68", advice: bool = False
    ) -> Fields:
        """Reverse a request as it was sent (Exchange.request: it has the 7 and 11 used)."""
        return await self.request(messages.reversal(original, reason_code, advice))

    async def reconcile(self, totals: Totals, batch_number: int | None = None) -> Fields:
        answer = await self.request(messages.reconciliation(self._batch(batch_number), totals))
        if answer.get("39") in (ResponseCode.APPROVED, ResponseCode.OUT_OF_BALANCE):
            batch = self._batch(batch_number)
            self.batch_number = 1 if batch == 999_999 else batch + 1  # 0500 closes the batch
        return answer
