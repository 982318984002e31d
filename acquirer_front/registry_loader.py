"""Loads the registry from PostgreSQL and reloads it on `LISTEN` (`proto.changes`).

One dedicated connection holds the LISTEN. Notifications only wake the loader, so a burst of
them costs one or two reloads. When that connection is lost, the loader reconnects with
backoff and reloads, since notifications sent meanwhile are gone.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import asyncpg
import structlog
from anyio.abc import TaskStatus

from acquirer_front.config import FrontConfig
from acquirer_front.errors import DATABASE_ERRORS, DatabaseUnavailableError
from acquirer_front.registry import Registry, Terminal
from proto.changes import CHANNEL, Table, decode_change

log = structlog.get_logger("acquirer_front.registry")

# Tables that concern the registry; other components use the channel for their own.
RELOAD_TABLES = frozenset({Table.TERMINALS, Table.MERCHANTS, Table.ALLIANCES})
_BACKOFF_S_MIN = 0.05

# A session whose key was issued before the terminal's TMK was replaced is void: the terminal
# must sign on under its new TMK (`jifen terminal rotate-tmk`).
SESSION_VOID = "(s.changed_at < t.tmk_changed_at)"
# A virtual terminal (migration 036: a merchant's imported purchases) is never loaded, so it
# can never sign on (58).
_QUERY = f"""
SELECT t.terminal_code, m.merchant_code, m.active AS merchant_active,
       a.code AS alliance_code, t.requires_mac, t.active AND coalesce(sh.active, true) AS active,
       coalesce(s.signed_on, false) AND NOT coalesce({SESSION_VOID}, false) AS signed_on,
       t.tmk_encrypted AS tmk_sealed,
       a.requires_mac_for_loads AS alliance_requires_mac_for_loads,
       coalesce({SESSION_VOID}, false) AS session_void
FROM terminals t
JOIN merchants m ON m.id = t.merchant_id
JOIN alliances a ON a.id = m.alliance_id
LEFT JOIN shops sh ON sh.id = t.shop_id
LEFT JOIN terminal_sessions s ON s.terminal_code = t.terminal_code
WHERE NOT t.virtual
"""



class RegistryLoader:
    def __init__(
        self, database_url: str, registry: Registry, config: FrontConfig,
        on_session_void: Callable[[str], None] = lambda _code: None,
    ) -> None:
        self._database_url = database_url
        self._registry = registry
        # Told each terminal whose session key a new TMK made void: the key is dropped.
        self._on_session_void = on_session_void
        self._timeout_s = config.database_timeout_s
        self._backoff_s_max = config.registry_backoff_s_max
        self._wake = anyio.Event()
        self._connection: asyncpg.Connection | None = None

    @property
    def is_connected(self) -> bool:
        """Its LISTEN connection is open (False while it reconnects)."""
        return self._connection is not None and not self._connection.is_closed()

    async def open(self) -> None:
        """The first load: without a registry the front cannot answer anyone."""
        try:
            self._connection = await self._connect_and_load()
        except DATABASE_ERRORS as exc:
            raise DatabaseUnavailableError(f"cannot load the terminal registry: {exc}") from exc
        log.info("registry_loaded", terminals=len(self._registry))

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Follow changes until cancelled (opening first if `open` was not called)."""
        if self._connection is None:
            await self.open()
        task_status.started()
        try:
            while True:
                await self._follow_until_lost()
                await self._reconnect()
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await _close(connection, self._timeout_s)

    async def _follow_until_lost(self) -> None:
        assert self._connection is not None
        try:
            await self._follow(self._connection)
        except DATABASE_ERRORS as exc:
            log.warning("registry_connection_lost", error=str(exc))
        await self.aclose()

    async def _reconnect(self) -> None:
        """Retry with backoff until connected; the load catches up on missed notifications."""
        backoff_s = min(_BACKOFF_S_MIN, self._backoff_s_max)
        while True:
            await anyio.sleep(backoff_s)
            try:
                self._connection = await self._connect_and_load()
            except DATABASE_ERRORS as exc:
                log.warning("registry_reconnect_failed", error=str(exc))
                backoff_s = min(backoff_s * 2, self._backoff_s_max)
                continue
            log.info("registry_reconnected", terminals=len(self._registry))
            return

    async def _connect_and_load(self) -> asyncpg.Connection:
        connection = await asyncpg.connect(self._database_url, timeout=self._timeout_s)
        try:
            connection.add_termination_listener(self._on_terminated)
            # The stubs type a payload as object; asyncpg hands the NOTIFY payload as a str.
            await connection.add_listener(
                CHANNEL, self._on_notification)  # type: ignore[arg-type]
            await self._load(connection)
        except BaseException:
            await _close(connection, self._timeout_s)
            raise
        return connection

    async def _follow(self, connection: asyncpg.Connection) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            if connection.is_closed():
                raise OSError("registry connection closed")
            await self._load(connection)
            log.info("registry_reloaded", terminals=len(self._registry))

    async def _load(self, connection: asyncpg.Connection) -> None:
        mark = self._registry.mark()
        rows = await connection.fetch(_QUERY, timeout=self._timeout_s)
        void = self._registry.replace([Terminal(**dict(row)) for row in rows], mark)
        for code in void:
            self._on_session_void(code)
        if void:
            log.info("session_keys_void", terminals=len(void))

    def _on_notification(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        change = decode_change(payload)
        if change is not None and change.table in RELOAD_TABLES:
            self._wake.set()

    def _on_terminated(self, _connection: object) -> None:
        self._wake.set()


async def _close(connection: asyncpg.Connection, timeout_s: float) -> None:
    """Close politely within the timeout, even while being cancelled; else drop the socket."""
    if connection.is_closed():
        return
    with anyio.CancelScope(shield=True), anyio.move_on_after(timeout_s):
        try:
            await connection.close(timeout=timeout_s)
        except DATABASE_ERRORS:
            pass
    if not connection.is_closed():
        connection.terminate()
