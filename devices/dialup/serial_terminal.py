"""A dial-up POS terminal: the TCP simulator's messages, over a modem on a serial port.

It initialises its modem, dials (`ATDT`), and sends each request as a dial-up frame, waiting
for the ACK (resending on NAK or silence, host interface §1); answers come back framed and are
ACKed. Everything above the wire (STANs, the terminal's own fields, MAC, sign-on learning,
answer matching) is TerminalClient's. A dial-up terminal has one request in flight at a time.

    async with SerialTerminalClient("/dev/pts/4", "TERM0001", "MERCHANT0000001") as terminal:
        await terminal.sign_on()
        answer = await terminal.purchase(pan, amount_fen=1_000)
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import anyio
import structlog

from devices.errors import HostConnectionError
from devices.terminal_client import TerminalClient
from dialup import hayes
from dialup.config import LinkSettings, ModemSettings
from dialup.errors import CarrierLostError, DialupError, LineError
from dialup.line import SerialLine
from dialup.link import FrameLink
from proto.errors import FramingError
from proto.framing import split_payload

log = structlog.get_logger("devices.dialup.terminal")

# A terminal's modem set-up: reset, no echo. It dials, so auto-answer does not matter.
TERMINAL_INIT_COMMANDS = ("ATZ", "ATE0")
NUMBER_DEFAULT = "1"
# Hanging up when the client closes: escape guards, ATH, and a margin.
HANG_UP_TIMEOUT_S = 10.0


class SerialTerminalClient(TerminalClient):
    def __init__(
        self, device: str, terminal_code: str, merchant_code: str, *,
        number: str = NUMBER_DEFAULT, speed_bps: int = 9600, parity: str = "N",
        link: LinkSettings | None = None, modem: ModemSettings | None = None,
        acknowledge_answers: bool = True, **options: Any,
    ) -> None:
        """`options` are TerminalClient's (tpdu, timeout_s, tmk, batch_number, ...).
        `acknowledge_answers=False` makes a terminal that never ACKs (tests of reversals)."""
        super().__init__(device, 0, terminal_code, merchant_code, pending_requests_max=1,
                         **options)
        self.device, self.number = device, number
        self.speed_bps, self.parity = speed_bps, parity
        self.link_settings = link or LinkSettings()
        self.modem_settings = modem or ModemSettings()
        self.connect_speed_bps: int | None = None
        self._acknowledge = acknowledge_answers
        self._line: SerialLine | None = None
        self._link: FrameLink | None = None

    @property
    def address(self) -> str:
        return f"{self.device} (number {self.number})"

    @property
    def link(self) -> FrameLink:
        assert self._link is not None, "use the client as an async context manager"
        return self._link

    async def __aenter__(self) -> SerialTerminalClient:
        try:
            line = SerialLine.open(self.device, speed_bps=self.speed_bps, parity=self.parity,
                                   name=f"terminal {self.terminal_code}")
        except LineError as exc:
            raise HostConnectionError(str(exc)) from exc
        async with AsyncExitStack() as stack:
            stack.callback(line.close)
            try:
                await hayes.initialise(line, TERMINAL_INIT_COMMANDS, self.modem_settings)
                self.connect_speed_bps = await hayes.dial(line, self.number, self.modem_settings)
            except DialupError as exc:
                raise HostConnectionError(f"dialling {self.number} failed: {exc}") from exc
            self._line = line
            self._link = FrameLink(line, self.link_settings, acknowledge=self._acknowledge)
            stack.push_async_callback(self._hang_up)
            group = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(group.cancel_scope.cancel)
            await group.start(self._link.run)
            group.start_soon(self._read_answers_from_line)
            self._exit_stack = stack.pop_all()
        return self

    async def _read_answers_from_line(self) -> None:
        try:
            while True:
                payload = await self.link.receive_frame()
                try:
                    tpdu, body = split_payload(payload)
                except FramingError:
                    continue  # a frame that is not TPDU + message answers nothing
                self._route(tpdu, body)
        except DialupError as exc:
            self._close(HostConnectionError(f"line {self.device}: {exc}"))

    async def _hang_up(self) -> None:
        """When the client closes: hang up, unless the call is already gone."""
        if self._line is None or isinstance(self.link.error, (CarrierLostError, LineError)):
            return
        with anyio.CancelScope(shield=True), anyio.move_on_after(HANG_UP_TIMEOUT_S):
            try:
                await hayes.hang_up(self._line, "auto", self.modem_settings)
            except DialupError as exc:
                log.info("hang-up failed", device=self.device, error=str(exc))

    async def send_raw(self, data: bytes) -> None:
        """Bytes on the line exactly as given: no frame is built (framing tests)."""
        try:
            await self.link.send_raw(data)
        except DialupError as exc:
            raise HostConnectionError(f"line {self.device}: {exc}") from exc

    async def _send_request(self, body: bytes) -> None:
        try:
            await self.link.send_frame(self.tpdu.encode() + body)
        except DialupError as exc:
            raise HostConnectionError(f"line {self.device}: {exc}") from exc
