"""The Hayes AT dialogue with a modem: initialise, wait for RING, answer, dial, hang up.

Verbose result codes (`OK`, `CONNECT 9600`, `NO CARRIER`) and the numeric ones of V0 are
understood; any other line (an echo, caller ID, `CONNECT` banners' neighbours) is not a result
and is skipped. `RING` is unsolicited: a command's wait skips it too.
"""

from __future__ import annotations

from enum import StrEnum

import anyio
import msgspec
import structlog

from dialup.config import HangupMethod, ModemSettings
from dialup.errors import ModemResultError, ModemTimeoutError
from dialup.line import SerialLine

log = structlog.get_logger("dialup.hayes")

# A bare CONNECT is the original Hayes 300 bps.
CONNECT_SPEED_DEFAULT_BPS = 300


class ResultCode(StrEnum):
    OK = "OK"
    CONNECT = "CONNECT"
    RING = "RING"
    NO_CARRIER = "NO CARRIER"
    ERROR = "ERROR"
    NO_DIALTONE = "NO DIALTONE"
    BUSY = "BUSY"
    NO_ANSWER = "NO ANSWER"


_NUMERIC = {
    "0": ResultCode.OK, "1": ResultCode.CONNECT, "2": ResultCode.RING,
    "3": ResultCode.NO_CARRIER, "4": ResultCode.ERROR, "6": ResultCode.NO_DIALTONE,
    "7": ResultCode.BUSY, "8": ResultCode.NO_ANSWER,
}
# Results that end a command's wait.
_FINAL = frozenset(ResultCode) - {ResultCode.RING}


class Result(msgspec.Struct, frozen=True):
    code: ResultCode
    speed_bps: int | None = None  # CONNECT's
    text: str = ""


def parse_result(line: str) -> Result | None:
    """The result code of a modem's line, or None when the line is not one."""
    text = line.strip()
    if text in _NUMERIC:
        code = _NUMERIC[text]
        speed = CONNECT_SPEED_DEFAULT_BPS if code is ResultCode.CONNECT else None
        return Result(code, speed, text)
    upper = text.upper()
    if upper.startswith("CONNECT"):
        rest = upper[len("CONNECT"):]
        if rest and not rest.startswith((" ", "/")):
            return None
        digits = rest.strip().split("/")[0].split(" ")[0]
        speed = int(digits) if digits.isdigit() else CONNECT_SPEED_DEFAULT_BPS
        return Result(ResultCode.CONNECT, speed, text)
    try:
        return Result(ResultCode(upper), None, text)
    except ValueError:
        return None


async def next_result(line: SerialLine, *, final_only: bool = True) -> Result:
    """The next result line; RING is skipped when `final_only`."""
    while True:
        result = parse_result(await line.read_line())
        if result is None:
            continue
        if final_only and result.code not in _FINAL:
            continue
        return result


async def command(line: SerialLine, text: str, timeout_s: float) -> Result:
    """Send one command line and return its final result."""
    assert text.upper().startswith("AT"), text
    await line.send(text.encode("ascii") + b"\r")
    try:
        with anyio.fail_after(timeout_s):
            return await next_result(line)
    except TimeoutError as exc:
        raise ModemTimeoutError(f"{line.name}: no answer to {text} within {timeout_s:g} s") \
            from exc


async def expect(line: SerialLine, text: str, timeout_s: float,
                 wanted: ResultCode = ResultCode.OK) -> Result:
    result = await command(line, text, timeout_s)
    if result.code is not wanted:
        raise ModemResultError(f"{line.name}: {text} gave {result.text}", result.code)
    return result


async def initialise(line: SerialLine, commands: tuple[str, ...], settings: ModemSettings) -> None:
    """Stale bytes dropped, then each command must answer OK.

    A modem that does not answer the first command may still be in a call from before we
    opened the port (no DTR to drop on this port, or a cable without it): it hears only data.
    The +++ escape brings it back to command mode, and the command is tried once more."""
    line.set_online(False)
    line.discard_input()
    for index, text in enumerate(commands):
        try:
            await expect(line, text, settings.command_timeout_s)
        except ModemTimeoutError:
            if index:
                raise
            log.warning("modem silent, escaping to command mode", port=line.name)
            await _escape(line, settings)
            await expect(line, text, settings.command_timeout_s)


async def wait_for_ring(line: SerialLine, settings: ModemSettings) -> None:
    """Until RING; every `ring_wait_s` without one, AT must still answer OK (a live modem)."""
    while True:
        with anyio.move_on_after(settings.ring_wait_s):
            while True:
                result = await next_result(line, final_only=False)
                if result.code is ResultCode.RING:
                    return
        await expect(line, "AT", settings.command_timeout_s)


async def answer(line: SerialLine, settings: ModemSettings) -> int:
    """ATA; the connect speed in bit/s. ModemResultError when the call fails."""
    return await _connect(line, "ATA", settings)


async def dial(line: SerialLine, number: str, settings: ModemSettings) -> int:
    """ATDT<number>; the connect speed. ModemResultError on BUSY, NO ANSWER, NO CARRIER."""
    assert number and all(char.isdigit() or char in ",*#W@" for char in number), number
    return await _connect(line, f"ATDT{number}", settings)


async def _connect(line: SerialLine, text: str, settings: ModemSettings) -> int:
    result = await command(line, text, settings.connect_timeout_s)
    if result.code is not ResultCode.CONNECT:
        raise ModemResultError(f"{line.name}: {text} gave {result.text}", result.code)
    assert result.speed_bps is not None
    line.set_online(True)
    return result.speed_bps


async def hang_up(line: SerialLine, method: HangupMethod, settings: ModemSettings) -> str:
    """End the call; the method used ("dtr" or "escape")."""
    line.set_online(False)
    if method != "escape" and await line.drop_dtr(settings.dtr_drop_s):
        return "dtr"
    if method == "dtr":
        log.warning("no DTR on this port, hanging up with +++ and ATH", port=line.name)
    await _escape(line, settings)
    result = await command(line, "ATH", settings.command_timeout_s)
    if result.code is not ResultCode.OK:
        log.info("ATH answered", port=line.name, result=result.text)
    return "escape"


async def _escape(line: SerialLine, settings: ModemSettings) -> None:
    """Guard silence, +++, guard silence: the modem leaves data mode and says OK."""
    await anyio.sleep(settings.escape_guard_s)  # the guard time is the protocol, not a wait
    await line.send(b"+++")
    with anyio.move_on_after(settings.escape_guard_s + settings.command_timeout_s):
        result = await next_result(line)
        if result.code is not ResultCode.OK:
            log.info("escape answered", port=line.name, result=result.text)
