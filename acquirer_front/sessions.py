"""Sign-on state, MAC and PIN session keys: the front is the only writer of terminal_sessions.

A sign-on (or key change) is durable before its approval is written to the terminal, so that a
front restarted right after still lets the terminal transact, and MACs with the same key: the
session keys are kept sealed to the front in session_key_encrypted and pin_key_encrypted
(migration 012), and `load_keys` installs the keys of signed-on terminals at start. Sign-ons
are rare: a statement or two each, no batching.
"""

from __future__ import annotations

import asyncpg
import msgspec
import structlog

from acquirer_front.errors import DATABASE_ERRORS, DatabaseUnavailableError
from acquirer_front.keys import IssuedSessionKey, SecurityModule
from acquirer_front.keystore import KeyStoreError
from acquirer_front.registry import Registry

log = structlog.get_logger("acquirer_front.sessions")

# A sign-on or sign-off without a MAC key: any earlier keys are dropped with it.
_UPSERT = """
INSERT INTO terminal_sessions (terminal_code, signed_on, session_key_encrypted,
                               pin_key_encrypted, changed_at)
VALUES ($1, $2, NULL, NULL, now())
ON CONFLICT (terminal_code) DO UPDATE
SET signed_on = EXCLUDED.signed_on, session_key_encrypted = NULL, pin_key_encrypted = NULL,
    changed_at = now()
"""
# A sign-on or key change with new MAC and PIN keys (sealed to the front).
_UPSERT_WITH_KEY = """
INSERT INTO terminal_sessions (terminal_code, signed_on, session_key_encrypted,
                               pin_key_encrypted, changed_at)
VALUES ($1, $2, $3, $4, now())
ON CONFLICT (terminal_code) DO UPDATE
SET signed_on = EXCLUDED.signed_on, session_key_encrypted = EXCLUDED.session_key_encrypted,
    pin_key_encrypted = EXCLUDED.pin_key_encrypted, changed_at = now()
"""
_SELECT_TMK = "SELECT tmk_encrypted FROM terminals WHERE terminal_code = $1"
# A key issued before its terminal's TMK was replaced is void (`jifen terminal rotate-tmk`).
_SELECT_KEYS = """
SELECT s.terminal_code, s.session_key_encrypted, s.pin_key_encrypted
FROM terminal_sessions s JOIN terminals t ON t.terminal_code = s.terminal_code
WHERE s.signed_on AND s.session_key_encrypted IS NOT NULL
  AND (t.tmk_changed_at IS NULL OR s.changed_at >= t.tmk_changed_at)
"""


class IssuedKeys(msgspec.Struct, frozen=True):
    """A sign-on's or key change's new keys: MAC (tags MK/MV) and PIN (PK/PV)."""

    mac: IssuedSessionKey
    pin: IssuedSessionKey


class SessionStore:
    def __init__(
        self, pool: asyncpg.Pool, registry: Registry, security_module: SecurityModule,
        timeout_s: float,
    ) -> None:
        self._pool = pool
        self._registry = registry
        self._security_module = security_module
        self._timeout_s = timeout_s

    async def record(self, terminal_code: str, signed_on: bool) -> bool:
        """Write the state (with no MAC key), then update the registry and forget any key;
        False when the database failed."""
        try:
            async with self._pool.acquire(timeout=self._timeout_s) as connection:
                await connection.execute(
                    _UPSERT, terminal_code, signed_on, timeout=self._timeout_s
                )
        except DATABASE_ERRORS as exc:
            log.error("session_write_failed", terminal=terminal_code, signed_on=signed_on,
                      error=str(exc))
            return False
        self._security_module.remove(terminal_code)
        self._registry.set_signed_on(terminal_code, signed_on)
        return True

    async def issue_key(self, terminal_code: str, signed_on: bool) -> IssuedKeys | None:
        """New MAC and PIN session keys, durable with the sign-on state `signed_on` and
        installed, for the answer's MK/MV and PK/PV; None when the database failed or the
        terminal has no usable TMK (the terminal keeps its earlier keys then)."""
        try:
            async with self._pool.acquire(timeout=self._timeout_s) as connection:
                sealed_tmk = await connection.fetchval(
                    _SELECT_TMK, terminal_code, timeout=self._timeout_s
                )
                if sealed_tmk is None:
                    log.error("no_tmk_for_mac_terminal", terminal=terminal_code)
                    return None
                module = self._security_module
                issued = IssuedKeys(module.new_session_key(terminal_code, sealed_tmk),
                                    module.new_pin_key(terminal_code, sealed_tmk))
                await connection.execute(
                    _UPSERT_WITH_KEY, terminal_code, signed_on, issued.mac.handle,
                    issued.pin.handle, timeout=self._timeout_s,
                )
            module.install(terminal_code, issued.mac.handle)
            module.install_pin_key(terminal_code, issued.pin.handle)
        except KeyStoreError as exc:
            log.error("session_key_not_issued", terminal=terminal_code, error=str(exc))
            return None
        except DATABASE_ERRORS as exc:
            log.error("session_write_failed", terminal=terminal_code, signed_on=signed_on,
                      error=str(exc))
            return None
        self._registry.set_signed_on(terminal_code, signed_on)
        return issued

    async def load_keys(self) -> int:
        """At start: install the session keys of signed-on terminals; the number installed. A
        key that does not open (another KEK) is skipped: that terminal must sign on again."""
        try:
            async with self._pool.acquire(timeout=self._timeout_s) as connection:
                rows = await connection.fetch(_SELECT_KEYS, timeout=self._timeout_s)
        except DATABASE_ERRORS as exc:
            raise DatabaseUnavailableError(f"cannot load the session keys: {exc}") from exc
        installed = 0
        for row in rows:
            try:
                self._security_module.install(row["terminal_code"], row["session_key_encrypted"])
                # A key issued before migration 012 has no PIN key: until its next sign-on or
                # key change the terminal's passwords are forwarded as none (55).
                if row["pin_key_encrypted"] is not None:
                    self._security_module.install_pin_key(row["terminal_code"],
                                                          row["pin_key_encrypted"])
            except KeyStoreError as exc:
                log.warning("session_key_not_loaded", terminal=row["terminal_code"],
                            error=str(exc))
                continue
            installed += 1
        log.info("session_keys_loaded", keys=installed)
        return installed
