"""A serial port with a modem behind it, read and written without blocking the event loop.

pyserial opens and configures the port (speed, parity, modem lines); bytes move through its
file descriptor with os.read/os.write, waiting with anyio.wait_readable/wait_writable, so a slow
or silent port never blocks the other ports' tasks.

Carrier loss. While a call is up (`online`), the line raises CarrierLostError when
- DCD, on a port that has modem lines, falls after it was seen high during this call (a port
  whose DCD is not wired never shows it high, so it is never taken for a loss), or
- the modem's result code `\\r\\nNO CARRIER\\r\\n` arrives in the data: a modem that loses
  the carrier drops to command mode and says so. That is the only signal a pseudo-terminal
  has, and the modem emulator sends it. A frame holding these 14 bytes would be taken for a
  loss: the call ends and an undelivered approval is reversed, the safe side.
A device that goes away (EOF or EIO: a USB modem unplugged, the emulator closed) raises
LineClosedError.
"""

from __future__ import annotations

import errno
import math
import os
from types import TracebackType

import anyio
import serial

from dialup.errors import CarrierLostError, LineClosedError, LineError

NO_CARRIER = b"\r\nNO CARRIER\r\n"
READ_SIZE_BYTES = 4096
# Bytes kept while looking for the end of a result line; a modem's lines are short.
LINE_SIZE_MAX = 256
CR, LF = 0x0D, 0x0A
_PARITY = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD}
_CLOSED_ERRNOS = (errno.EIO, errno.ENXIO, errno.ENODEV, errno.EBADF)


class SerialLine:
    """One open serial port. Not shared: one task reads it at a time."""

    def __init__(self, port: serial.Serial, name: str, *, carrier_poll_s: float = 0.1,
                 write_timeout_s: float = 5.0) -> None:
        self.name = name
        self._port = port
        self._fd = port.fileno()
        self._carrier_poll_s, self._write_timeout_s = carrier_poll_s, write_timeout_s
        self._buffer = bytearray()  # read but not yet taken (a line's tail after CONNECT)
        self._line_end_open = False  # a line ended with CR: an LF right after belongs to it
        self._tail = b""  # the last bytes of the data, for a NO CARRIER split across reads
        self._online = False
        self._carrier_seen = False
        self._carrier_lost: CarrierLostError | None = None  # found, raised by the next receive
        self._send_lock = anyio.Lock()
        self.has_modem_lines = _probe_modem_lines(port)

    @classmethod
    def open(cls, device: str, *, speed_bps: int = 9600, parity: str = "N", data_bits: int = 8,
             stop_bits: int = 1, name: str | None = None, carrier_poll_s: float = 0.1,
             write_timeout_s: float = 5.0) -> SerialLine:
        try:
            port = serial.Serial(
                device, baudrate=speed_bps, parity=_PARITY[parity], bytesize=data_bits,
                stopbits=stop_bits, timeout=0, write_timeout=0, exclusive=True,
                # VMIN 1, VTIME 0: with O_NONBLOCK an empty port says EAGAIN, and a read of
                # nothing means the device went away (with VMIN 0 it would mean "no data").
                inter_byte_timeout=0,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LineError(f"cannot open {device}: {exc}") from exc
        return cls(port, name or device, carrier_poll_s=carrier_poll_s,
                   write_timeout_s=write_timeout_s)

    def close(self) -> None:
        """Closing drops DTR (HUPCL): a modem in &D2 hangs up."""
        self._port.close()

    def __enter__(self) -> SerialLine:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # ---- modes -----------------------------------------------------------------------------

    @property
    def online(self) -> bool:
        return self._online

    def set_online(self, online: bool) -> None:
        """A call is up (data mode): carrier loss is watched for."""
        self._online = online
        self._carrier_seen = False
        self._carrier_lost = None
        self._tail = b""

    def carrier_detect(self) -> bool | None:
        """DCD, or None on a port without modem lines (a pty)."""
        if not self.has_modem_lines:
            return None
        try:
            return bool(self._port.cd)
        except (OSError, serial.SerialException):
            return None

    async def drop_dtr(self, duration_s: float) -> bool:
        """DTR low for `duration_s`, then high again; False when the port has no DTR."""
        if not self.has_modem_lines:
            return False
        try:
            self._port.dtr = False
            await anyio.sleep(duration_s)  # the modem must see DTR low for a while
            self._port.dtr = True
        except (OSError, serial.SerialException) as exc:
            raise LineError(f"{self.name}: cannot set DTR: {exc}") from exc
        return True

    def discard_input(self) -> None:
        """Forget what was read and what waits in the port (stale results before a reset)."""
        self._buffer.clear()
        try:
            self._port.reset_input_buffer()
        except (OSError, serial.SerialException) as exc:
            raise LineClosedError(f"{self.name}: {exc}") from exc

    # ---- bytes -----------------------------------------------------------------------------

    def unread(self, data: bytes) -> None:
        """Give bytes back: the next receive returns them first."""
        self._buffer[:0] = data

    async def receive(self, size_max: int = READ_SIZE_BYTES) -> bytes:
        """At least one byte; raises CarrierLostError online, LineClosedError if it went away."""
        if self._buffer:
            data = bytes(self._buffer[:size_max])
            del self._buffer[:size_max]
            return data
        while True:
            if self._carrier_lost is not None:
                error, self._carrier_lost = self._carrier_lost, None
                raise error
            data = self._close_line_end(self._read_now(size_max))
            if data:
                return self._watch_result_code(data) if self._online else data
            self._check_carrier()
            poll_s = self._carrier_poll_s if self._online and self.has_modem_lines else math.inf
            with anyio.move_on_after(poll_s):
                await anyio.wait_readable(self._fd)

    async def receive_within(self, timeout_s: float, size_max: int = READ_SIZE_BYTES) -> bytes:
        """Like receive, but b"" when nothing arrives within `timeout_s`."""
        with anyio.move_on_after(timeout_s):
            return await self.receive(size_max)
        return b""

    async def send(self, data: bytes) -> None:
        """All of `data`, whole: concurrent senders never interleave their bytes."""
        async with self._send_lock:
            view = memoryview(data)
            try:
                with anyio.fail_after(self._write_timeout_s):
                    while view:
                        written = self._write_now(view)
                        view = view[written:]
                        if view:
                            await anyio.wait_writable(self._fd)
            except TimeoutError as exc:
                raise LineError(f"{self.name}: write stalled for {self._write_timeout_s:g} s") \
                    from exc

    async def read_line(self) -> str:
        """The next non-empty line (CR or LF ends it), as a modem's result or echo."""
        while True:
            for index, byte in enumerate(self._buffer):
                if byte in (CR, LF):
                    line = bytes(self._buffer[:index])
                    del self._buffer[:index + 1]
                    self._line_end_open = byte == CR
                    if self._line_end_open:
                        self._buffer[:] = self._close_line_end(bytes(self._buffer))
                    if line.strip():
                        return line.decode("ascii", "replace").strip()
                    break
            else:
                if len(self._buffer) > LINE_SIZE_MAX:
                    self._buffer.clear()  # no modem says that much: line garbage
                self._buffer += await self._receive_more()
                continue

    async def _receive_more(self) -> bytes:
        while True:
            data = self._close_line_end(self._read_now(READ_SIZE_BYTES))
            if data:
                return data
            await anyio.wait_readable(self._fd)

    def _close_line_end(self, data: bytes) -> bytes:
        """Drop the LF of a CR LF whose CR ended the last line: after `CONNECT 9600\r` the
        `\n` is the modem's, not the first byte of the call."""
        if not data or not self._line_end_open:
            return data
        self._line_end_open = False
        return data[1:] if data[0] == LF else data

    # ---- the descriptor --------------------------------------------------------------------

    def _read_now(self, size_max: int) -> bytes:
        try:
            data = os.read(self._fd, size_max)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno in _CLOSED_ERRNOS:
                raise LineClosedError(f"{self.name} went away: {exc.strerror}") from exc
            raise LineError(f"{self.name}: read failed: {exc}") from exc
        if not data:
            raise LineClosedError(f"{self.name} went away (end of file)")
        return data

    def _write_now(self, data: memoryview) -> int:
        try:
            return os.write(self._fd, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            if exc.errno in _CLOSED_ERRNOS:
                raise LineClosedError(f"{self.name} went away: {exc.strerror}") from exc
            raise LineError(f"{self.name}: write failed: {exc}") from exc

    def _watch_result_code(self, data: bytes) -> bytes:
        """`data`, or the part before NO CARRIER (the loss is raised by the next receive)."""
        window = self._tail + data
        found = window.find(NO_CARRIER)
        if found < 0:
            self._tail = window[-(len(NO_CARRIER) - 1):]
            return data
        self._online = False
        error = CarrierLostError(f"{self.name}: the modem said NO CARRIER")
        before = window[len(self._tail):found] if found > len(self._tail) else b""
        if not before:
            raise error
        self._carrier_lost = error
        return before

    def _check_carrier(self) -> None:
        if not self._online:
            return
        carrier = self.carrier_detect()
        if carrier:
            self._carrier_seen = True
        elif carrier is False and self._carrier_seen:
            self._online = False
            raise CarrierLostError(f"{self.name}: DCD fell")


def _probe_modem_lines(port: serial.Serial) -> bool:
    """True when the port has modem status lines (a real UART); a pty has none."""
    try:
        _ = port.cd
    except (OSError, serial.SerialException):
        return False
    return True
