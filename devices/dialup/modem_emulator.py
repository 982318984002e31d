"""A telephone line with a modem at each end, on two pseudo-terminals: test equipment.

    bridge ── /dev/pts/A ── [modem ═══ line ═══ modem] ── /dev/pts/B ── dial-up terminal

Each side's DTE opens its pty as it would a serial port and speaks Hayes AT to "its" modem:
`ATDT` on one side rings the other (`RING` every `ring_interval_s`); `ATA` there, or S0 rings,
connects both (`CONNECT <speed>`); then bytes pass from side to side through the faults armed
for them. `+++` between guard silences returns a side to command mode (`OK`), where `ATH`
hangs up: the other side gets `NO CARRIER`. `ATO` goes back on line.

Carrier loss. A pty has no modem lines (no DCD, no DTR), so the emulator signals a lost
carrier the way a modem does in words: both sides get `\\r\\nNO CARRIER\\r\\n` and return to
command mode; bytes sent after that are read as (ignored) command text. A DTE watching for
that result code, as dialup.line does, sees the loss at once. Closing the emulator
(or `unplug`) closes the ptys: a DTE then reads end of file or EIO (a "closed line", like an
unplugged modem).

Test hooks: `drop_carrier_after`, `corrupt_lrc`, `inject_noise` (armed now, for the bytes
towards one side), `ring`, `connect`, `drop_carrier`, `unplug`, and `wait_for_state`;
`settings.faults_towards_*` arm faults at every connect, for the command line.
"""

from __future__ import annotations

import math
import os
import time
import tty
from contextlib import AsyncExitStack
from enum import StrEnum
from types import TracebackType

import anyio
import msgspec
import structlog

from devices.dialup.emulator_commands import (
    AtCommand,
    AtSyntaxError,
    find_command_line,
    parse_commands,
)
from devices.dialup.emulator_faults import Faults, FaultState

log = structlog.get_logger("devices.dialup.emulator")

# A command line longer than this is garbage (binary data sent to a modem in command mode).
COMMAND_LINE_MAX = 256
READ_SIZE_BYTES = 4096
PLUS = ord("+")
CR, LF, BACKSPACE = 0x0D, 0x0A, 0x08


class Side(StrEnum):
    BRIDGE = "bridge"
    TERMINAL = "terminal"

    @property
    def other(self) -> Side:
        return Side.TERMINAL if self is Side.BRIDGE else Side.BRIDGE


class LineState(StrEnum):
    IDLE = "idle"
    RINGING = "ringing"
    CONNECTED = "connected"


class EmulatorSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    connect_speed_bps: int = 9600
    # A real ring cadence is 2 s on, 4 s off; tests make it short.
    ring_interval_s: float = 6.0
    # Rings before the caller hears NO ANSWER.
    rings_max: int = 10
    # Hayes S12 = 50: a second of silence around +++; a DTE's guard must be at least this.
    escape_guard_s: float = 1.0
    # A side whose DTE does not read for this long loses what is written to it, like a line.
    write_timeout_s: float = 1.0
    faults_towards_bridge: Faults = Faults()
    faults_towards_terminal: Faults = Faults()


class _Modem:
    """One side: its pty and its modem's state."""

    def __init__(self, side: Side) -> None:
        self.side = side
        self.master_fd, self.slave_fd = os.openpty()
        tty.setraw(self.slave_fd)  # no echo or line editing before the DTE configures it
        os.set_blocking(self.master_fd, False)
        self.path = os.ttyname(self.slave_fd)
        self.online = False
        self.echo = True
        self.registers: dict[int, int] = {0: 0}
        self.command = bytearray()
        self.pluses = 0  # +++ seen after a guard silence, held back
        self.last_received = time.monotonic()
        self.write_lock = anyio.Lock()
        self.faults = FaultState()
        self.bytes_lost = 0
        self.closed = False

    def reset(self) -> None:
        self.echo, self.registers = True, {0: 0}

    def close(self) -> None:
        """Idempotent: a closed descriptor's number may already belong to another file."""
        if self.closed:
            return
        self.closed = True
        os.close(self.master_fd)
        os.close(self.slave_fd)


class ModemEmulator:
    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        self.settings = settings or EmulatorSettings()
        self.state = LineState.IDLE
        self.calls = 0  # connects so far
        self.carrier_drops = 0  # by a fault or drop_carrier()
        self._modems: dict[Side, _Modem] = {}
        self._caller: Side | None = None
        self._changed = anyio.Event()
        self._ring_scope: anyio.CancelScope | None = None
        self._serve_scope: anyio.CancelScope | None = None
        self._unplugged = anyio.Event()
        self._group: anyio.abc.TaskGroup | None = None
        self._exit_stack: AsyncExitStack | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def bridge_path(self) -> str:
        return self._modems[Side.BRIDGE].path

    @property
    def terminal_path(self) -> str:
        return self._modems[Side.TERMINAL].path

    async def __aenter__(self) -> ModemEmulator:
        async with AsyncExitStack() as stack:
            for side in Side:
                modem = _Modem(side)
                stack.callback(modem.close)
                self._modems[side] = modem
            group = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(group.cancel_scope.cancel)
            await group.start(self._serve)
            self._exit_stack = stack.pop_all()
        return self

    async def _serve(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Both sides' readers and any ringing; the ptys close when they stop."""
        try:
            with anyio.CancelScope() as self._serve_scope:
                async with anyio.create_task_group() as group:
                    self._group = group
                    for modem in self._modems.values():
                        group.start_soon(self._read_side, modem)
                    task_status.started()
        finally:
            for modem in self._modems.values():
                modem.close()
            self._unplugged.set()

    async def unplug(self) -> None:
        """The device goes away: the ptys close, and a DTE reads end of file or EIO."""
        assert self._serve_scope is not None, "use the emulator as an async context manager"
        self._serve_scope.cancel()
        await self._unplugged.wait()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> bool | None:
        assert self._exit_stack is not None
        return await self._exit_stack.__aexit__(exc_type, exc, traceback)

    async def run(self, *, task_status: anyio.abc.TaskStatus[ModemEmulator]
                  = anyio.TASK_STATUS_IGNORED) -> None:
        """Until cancelled (the command line's way to run it)."""
        async with self:
            task_status.started(self)
            await anyio.sleep_forever()

    # ---- test hooks ------------------------------------------------------------------------

    def drop_carrier_after(self, towards: Side, byte_count: int) -> None:
        """Drop the carrier once `byte_count` more bytes have reached `towards`."""
        assert byte_count >= 0
        self._modems[towards].faults.drop_after_bytes = byte_count

    def corrupt_lrc(self, towards: Side, frames: int = 1) -> None:
        """Flip the LRC of the next `frames` frames towards a side."""
        self._modems[towards].faults.corrupt_lrc_frames = frames

    def inject_noise(self, towards: Side, noise: bytes, frames: int = 1) -> None:
        """Put `noise` on the line before each of the next `frames` frames towards a side."""
        faults = self._modems[towards].faults
        faults.noise, faults.noise_frames = noise, frames

    def ring(self, towards: Side = Side.BRIDGE) -> None:
        """An incoming call for `towards`, as if the other side had dialled."""
        assert self._group is not None, "use the emulator as an async context manager"
        if self.state is LineState.IDLE:
            self._start_ringing(caller=towards.other)

    async def connect(self) -> None:
        """Both sides on line at once, as if a call had been dialled and answered."""
        if self.state is not LineState.CONNECTED:
            self._caller = self._caller or Side.TERMINAL
            await self._connect()

    async def drop_carrier(self) -> None:
        """The line drops: both sides get NO CARRIER."""
        if self.state is LineState.CONNECTED:
            self.carrier_drops += 1
            await self._end_call(hung_up_by=None)

    async def wait_for_state(self, state: LineState, timeout_s: float) -> None:
        with anyio.fail_after(timeout_s):
            while self.state is not state:
                await self._changed.wait()

    def _set_state(self, state: LineState) -> None:
        self.state = state
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    # ---- reading a side --------------------------------------------------------------------

    async def _read_side(self, modem: _Modem) -> None:
        guard_s = self.settings.escape_guard_s
        while True:
            wait_s = math.inf
            if modem.pluses:
                wait_s = max(0.0, modem.last_received + guard_s - time.monotonic())
            data = b""
            with anyio.move_on_after(wait_s):
                await anyio.wait_readable(modem.master_fd)
                data = _read_fd(modem.master_fd)
            if data:
                await self._received(modem, data)
            elif modem.pluses and time.monotonic() - modem.last_received >= guard_s:
                await self._guard_elapsed(modem)

    async def _received(self, modem: _Modem, data: bytes) -> None:
        now = time.monotonic()
        silent_before = now - modem.last_received >= self.settings.escape_guard_s
        modem.last_received = now
        if not modem.online:
            await self._command_bytes(modem, data)
            return
        out = bytearray()
        for index, byte in enumerate(data):
            starts_escape = index == 0 and silent_before
            if byte == PLUS and modem.pluses < 3 and (modem.pluses or starts_escape):
                modem.pluses += 1
                continue
            if modem.pluses:
                out += b"+" * modem.pluses
                modem.pluses = 0
            out.append(byte)
        if out:
            await self._relay(modem, bytes(out))

    async def _guard_elapsed(self, modem: _Modem) -> None:
        """Silence after +: three of them escape to command mode, fewer were data."""
        pluses, modem.pluses = modem.pluses, 0
        if pluses < 3:
            await self._relay(modem, b"+" * pluses)
            return
        modem.online = False
        await self._result(modem, "OK")

    async def _relay(self, source: _Modem, data: bytes) -> None:
        target = self._modems[source.side.other]
        if self.state is not LineState.CONNECTED or not target.online:
            return  # nobody on line to hear it
        data, drop = target.faults.apply(data)
        if data:
            await self._write(target, data)
        if drop:
            log.info("carrier dropped by a fault", towards=target.side)
            await self.drop_carrier()

    # ---- command mode ----------------------------------------------------------------------

    async def _command_bytes(self, modem: _Modem, data: bytes) -> None:
        echo = bytearray()
        for byte in data:
            if modem.echo:
                echo.append(byte)
            if byte == CR:
                if echo:
                    await self._write(modem, bytes(echo))
                    echo.clear()
                line, modem.command = bytes(modem.command), bytearray()
                await self._command_line(modem, line)
            elif byte == BACKSPACE:
                del modem.command[-1:]
            elif byte != LF:
                modem.command.append(byte)
                if len(modem.command) > COMMAND_LINE_MAX:
                    modem.command.clear()
        if echo:
            await self._write(modem, bytes(echo))

    async def _command_line(self, modem: _Modem, raw: bytes) -> None:
        text = find_command_line(raw)
        if text is None:
            return  # not a command: a real modem ignores it too
        try:
            commands = parse_commands(text)
        except AtSyntaxError:
            await self._result(modem, "ERROR")
            return
        result: str | None = "OK"
        for command in commands:
            result = await self._execute(modem, command)
            if result != "OK":
                break
        if result is not None:
            await self._result(modem, result)

    async def _execute(self, modem: _Modem, command: AtCommand) -> str | None:
        """One command; its result, or None when the result comes later (ATD, ATA)."""
        name, argument = command.name, command.argument
        if name == "D":
            return self._dial(modem, argument)
        if name == "A":
            return await self._answer(modem)
        if name == "H":
            await self._hang_up(modem)
        elif name == "O":
            if self.state is not LineState.CONNECTED:
                return "NO CARRIER"
            modem.online = True
            return f"CONNECT {self.settings.connect_speed_bps}"
        elif name == "Z":
            modem.reset()
            await self._hang_up(modem)
        elif name == "E":
            modem.echo = argument != "0"
        elif name == "S":
            return await self._register(modem, argument)
        elif name == "I":
            await self._write(modem, b"\r\nJifen modem emulator\r\n")
        return "OK"

    async def _register(self, modem: _Modem, argument: str) -> str:
        number, _, value = argument.partition("=")
        if not number.rstrip("?").isdigit():
            return "ERROR"
        if number.endswith("?"):
            register = int(number[:-1])
            await self._write(modem, f"\r\n{modem.registers.get(register, 0):03d}\r\n".encode())
            return "OK"
        if not value.isdigit() or int(value) > 255:
            return "ERROR"
        modem.registers[int(number)] = int(value)
        return "OK"

    async def _result(self, modem: _Modem, text: str) -> None:
        await self._write(modem, f"\r\n{text}\r\n".encode("ascii"))

    # ---- the line --------------------------------------------------------------------------

    def _dial(self, modem: _Modem, number: str) -> str | None:
        if not number:
            return "ERROR"
        if self.state is not LineState.IDLE:
            return "BUSY"
        self._start_ringing(caller=modem.side)
        return None

    def _start_ringing(self, caller: Side) -> None:
        assert self._group is not None
        self._caller = caller
        self._set_state(LineState.RINGING)
        self._group.start_soon(self._ring, self._modems[caller.other])

    async def _ring(self, callee: _Modem) -> None:
        with anyio.CancelScope() as scope:
            self._ring_scope = scope
            for count in range(1, self.settings.rings_max + 1):
                await self._result(callee, "RING")
                if 0 < callee.registers.get(0, 0) <= count:
                    await self._connect()
                    return
                await anyio.sleep(self.settings.ring_interval_s)  # the ring cadence
            assert self._caller is not None
            self._set_state(LineState.IDLE)
            await self._result(self._modems[self._caller], "NO ANSWER")

    async def _answer(self, modem: _Modem) -> str | None:
        if self.state is not LineState.RINGING or self._caller is modem.side:
            return "NO CARRIER"
        await self._connect()
        return None

    async def _connect(self) -> None:
        self._set_state(LineState.CONNECTED)
        self.calls += 1
        for modem in self._modems.values():
            modem.online, modem.pluses = True, 0
        self._modems[Side.BRIDGE].faults.arm(self.settings.faults_towards_bridge)
        self._modems[Side.TERMINAL].faults.arm(self.settings.faults_towards_terminal)
        ring_scope, self._ring_scope = self._ring_scope, None
        for modem in self._modems.values():
            await self._result(modem, f"CONNECT {self.settings.connect_speed_bps}")
        if ring_scope is not None:
            ring_scope.cancel()  # last: this may be the ring task itself (auto-answer)

    async def _hang_up(self, modem: _Modem) -> None:
        """ATH (or ATZ) from `modem`: the call, or the ringing it started, ends."""
        if self.state is LineState.CONNECTED:
            await self._end_call(hung_up_by=modem)
        elif self.state is LineState.RINGING and self._caller is modem.side:
            if self._ring_scope is not None:
                self._ring_scope.cancel()
            self._set_state(LineState.IDLE)

    async def _end_call(self, hung_up_by: _Modem | None) -> None:
        self._set_state(LineState.IDLE)
        self._caller = None
        for modem in self._modems.values():
            modem.online, modem.pluses = False, 0
            if modem is not hung_up_by:
                await self._result(modem, "NO CARRIER")

    async def _write(self, modem: _Modem, data: bytes) -> None:
        """Whole, or what the DTE does not read within write_timeout_s is lost."""
        async with modem.write_lock:
            view = memoryview(data)
            with anyio.move_on_after(self.settings.write_timeout_s):
                while view:
                    try:
                        view = view[os.write(modem.master_fd, view):]
                    except BlockingIOError:
                        await anyio.wait_writable(modem.master_fd)
            modem.bytes_lost += len(view)


def _read_fd(fd: int) -> bytes:
    try:
        return os.read(fd, READ_SIZE_BYTES)
    except (BlockingIOError, InterruptedError):
        return b""
