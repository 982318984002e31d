"""Sign-on state: the front is the only writer of terminal_sessions.

A sign-on is durable before its approval is written to the terminal, so that a front restarted
right after still lets the terminal transact. Sign-ons are rare: one statement each, no batching.
"""

from __future__ import annotations

import asyncpg
import structlog

from acquirer_front.registry import Registry

log = structlog.get_logger("acquirer_front.sessions")

_UPSERT = """
INSERT INTO terminal_sessions (terminal_code, signed_on, changed_at)
VALUES ($1, $2, now())
ON CONFLICT (terminal_code) DO UPDATE SET signed_on = EXCLUDED.signed_on, changed_at = now()
"""


class SessionStore:
    def __init__(self, pool: asyncpg.Pool, registry: Registry, timeout_s: float) -> None:
        self._pool = pool
        self._registry = registry
        self._timeout_s = timeout_s

    async def record(self, terminal_code: str, signed_on: bool) -> bool:
        """Write the state, then update the registry; False when the database failed."""
        try:
            async with self._pool.acquire(timeout=self._timeout_s) as connection:
                await connection.execute(
                    _UPSERT, terminal_code, signed_on, timeout=self._timeout_s
                )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.error("session_write_failed", terminal=terminal_code, signed_on=signed_on,
                      error=str(exc))
            return False
        self._registry.set_signed_on(terminal_code, signed_on)
        return True
