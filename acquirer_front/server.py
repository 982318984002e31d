"""The terminal listener: accepts connections up to `connections_max`, a task for each."""

from __future__ import annotations

import anyio
import structlog
from anyio.abc import SocketAttribute, SocketStream, TaskStatus

from acquirer_front import metrics
from acquirer_front.config import FrontConfig
from acquirer_front.connection import serve_connection
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
    open_count = 0

    async def handle(stream: SocketStream) -> None:
        nonlocal open_count
        if open_count >= config.connections_max:
            # Closing at once tells the terminal to retry later, and bounds our tasks.
            metrics.REFUSED_CONNECTIONS.inc()
            log.warning("connection_refused", connections_max=config.connections_max)
            await stream.aclose()
            return
        open_count += 1
        metrics.OPEN_CONNECTIONS.inc()
        try:
            await serve_connection(stream, pipeline, config)
        except Exception:
            # Never let one connection's bug end the listener and every other terminal.
            log.exception("connection_failed")
        finally:
            open_count -= 1
            metrics.OPEN_CONNECTIONS.dec()

    async with listener:
        log.info("front_listening", host=config.listen_host, port=bound_port)
        task_status.started(bound_port)
        await listener.serve(handle)
