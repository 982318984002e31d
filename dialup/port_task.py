"""One task per port: open it, initialise the modem, answer calls, serve them, hang up, repeat.

A port's failure (cannot open, no modem, line gone) is logged, counted and retried after a
doubling backoff; it never reaches the other ports' tasks. A bug (an AssertionError, a
TypeError...) is not a port's failure: it ends the bridge, whose supervisor restarts it.
"""

from __future__ import annotations

import anyio
import structlog

from dialup import hayes, metrics
from dialup.call import ENDED_BY_TERMINAL, Call
from dialup.config import DialupConfig, PortConfig
from dialup.errors import CarrierLostError, DialupError, LineError, ModemError, ModemResultError
from dialup.events import CallEnded, EventLog, PortFailed, PortReady
from dialup.front import FrontEndpoint
from dialup.line import SerialLine
from dialup.reversals import Reverser

log = structlog.get_logger("dialup.port")


class Backoff:
    def __init__(self, backoff_s_min: float, backoff_s_max: float) -> None:
        assert 0 < backoff_s_min <= backoff_s_max
        self._backoff_s_min, self._backoff_s_max = backoff_s_min, backoff_s_max
        self._next_s = backoff_s_min

    def reset(self) -> None:
        self._next_s = self._backoff_s_min

    def next(self) -> float:
        delay = self._next_s
        self._next_s = min(delay * 2, self._backoff_s_max)
        return delay


class PortTask:
    def __init__(self, port: PortConfig, config: DialupConfig, front: FrontEndpoint,
                 reverser: Reverser, events: EventLog) -> None:
        self.port, self.config = port, config
        self._front = front
        self.label = port.label
        self._reverser, self._events = reverser, events
        self._metrics = metrics.PortMetrics(self.label)
        self._backoff = Backoff(config.port_backoff_s_min, config.port_backoff_s_max)

    async def run(self) -> None:
        """Forever: every failure of this port ends in a backoff and a fresh start."""
        while True:
            try:
                with self._open() as line:
                    await self._serve_line(line)
            except DialupError as exc:
                self._failed(exc, exc_info=False)
            except OSError as exc:
                # Not mapped to a LineError: pyserial's SerialException (an OSError), or the
                # port's close failing on a device that went away.
                self._failed(exc, exc_info=True)
            await anyio.sleep(self._backoff.next())  # retry later, not a synchronisation

    def _failed(self, exc: Exception, *, exc_info: bool) -> None:
        metrics.PORT_ERRORS.labels(self.label).inc()
        log.warning("port failed", port=self.label, device=self.port.device, error=str(exc),
                    exc_info=exc_info)
        self._events.record(PortFailed(self.label, f"{type(exc).__name__}: {exc}"))

    def _open(self) -> SerialLine:
        return SerialLine.open(
            self.port.device, speed_bps=self.port.speed_bps, parity=self.port.parity,
            data_bits=self.port.data_bits, stop_bits=self.port.stop_bits, name=self.label,
            carrier_poll_s=self.config.modem.carrier_poll_s,
            write_timeout_s=self.config.modem.write_timeout_s,
        )

    async def _serve_line(self, line: SerialLine) -> None:
        modem = self.config.modem
        while True:
            await hayes.initialise(line, self.port.init_commands, modem)
            self._backoff.reset()
            log.info("port ready", port=self.label, device=self.port.device,
                     modem_lines=line.has_modem_lines)
            self._events.record(PortReady(self.label))
            await hayes.wait_for_ring(line, modem)
            try:
                speed_bps = await hayes.answer(line, modem)
            except ModemResultError as exc:
                metrics.CALLS.labels(self.label, exc.result.lower().replace(" ", "_")).inc()
                log.info("call not connected", port=self.label, result=exc.result)
                continue
            metrics.CALLS.labels(self.label, "connected").inc()
            metrics.CONNECT_SPEED.labels(self.label).observe(speed_bps)
            log.info("call connected", port=self.label, speed_bps=speed_bps)
            await self._call(line, speed_bps)

    async def _call(self, line: SerialLine, speed_bps: int) -> None:
        result = await Call(line, self.port, self.config, self._front, self._reverser,
                            self._metrics).serve()
        line.set_online(False)
        hangup = None
        if result.reason not in ENDED_BY_TERMINAL:
            hangup = await self._hang_up(line)
        metrics.CALLS_ENDED.labels(self.label, result.reason).inc()
        log.info("call ended", port=self.label, reason=result.reason, requests=result.requests,
                 delivered=result.delivered, hangup=hangup)
        self._events.record(CallEnded(self.label, speed_bps, result.reason, result.requests,
                                      result.delivered, hangup))
        if result.reason == "line_error":
            raise LineError(f"{self.label}: the line failed during a call")

    async def _hang_up(self, line: SerialLine) -> str | None:
        try:
            return await hayes.hang_up(line, self.port.hangup, self.config.modem)
        except (ModemError, CarrierLostError) as exc:
            # The re-initialisation that follows (ATZ) hangs up as well.
            log.warning("hang-up failed", port=self.label, error=str(exc))
            return None
