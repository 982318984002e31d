"""The terminal listener: accepts connections within `connections_max` in total and
`connections_per_source_max` per source address, a task for each; the rest are closed at once."""

from __future__ import annotations

import anyio
import structlog
from anyio.abc import SocketAttribute, SocketStream, TaskStatus

from acquirer_front import metrics
from acquirer_front.config import FrontConfig
from acquirer_front.connection import serve_connection
from acquirer_front.limits import ConnectionLimits, RefusalReason, SampledLog
from acquirer_front.pipeline import Pipeline

log = structlog.get_logger("acquirer_front.server")


async def serve_terminals(
    config: FrontConfig,
    pipeline: Pipeline,
    *,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Listen forever; task_status gets the bound port (config.listen_port may be 0)."""
    listener = await anyio.create_tcp_listener(
        local_host=config.listen_host, local_port=config.listen_port,
        backlog=config.listen_backlog,
    )
    bound_port = listener.extra(SocketAttribute.local_port)
    limits = ConnectionLimits(config.connections_max, config.connections_per_source_max)
    # One sampled log per reason, so that a flood of one kind does not hide the other.
    refusal_logs = {reason: SampledLog(log.warning, "connection_refused")
                    for reason in RefusalReason}

    async def handle(stream: SocketStream) -> None:
        source = _source_address(stream)
        if source is None:
            # Reset before we took it (a scanner, a hostile peer): nothing to serve or log.
            await stream.aclose()
            return
        refusal = limits.admit(source)
        if refusal is not None:
            # Closing at once tells the terminal to retry later, and bounds our tasks.
            metrics.REFUSED_CONNECTIONS.labels(refusal).inc()
            refusal_logs[refusal](reason=refusal, source=source, open=limits.open_count,
                                  held_by_source=limits.held_by(source))
            await stream.aclose()
            return
        metrics.OPEN_CONNECTIONS.inc()
        try:
            await serve_connection(stream, pipeline, config)
        except Exception:
            # Never let one connection's bug end the listener and every other terminal.
            log.exception("connection_failed")
        finally:
            limits.release(source)
            metrics.OPEN_CONNECTIONS.dec()

    async with listener:
        log.info("front_listening", host=config.listen_host, port=bound_port)
        task_status.started(bound_port)
        await listener.serve(handle)


def _source_address(stream: SocketStream) -> str | None:
    """The peer's IP address (without its port): what per-source limits count. None when the
    peer is already gone (it reset the connection before we took it)."""
    try:
        return str(stream.extra(SocketAttribute.remote_address)[0])
    except (OSError, anyio.TypedAttributeLookupError):
        return None
