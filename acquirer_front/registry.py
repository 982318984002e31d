"""The terminal registry: every terminal with its merchant and sign-on state, in memory.

It is small (a row per terminal), so the front loads it whole at start and again on each
`jifen_changes` notification about terminals or merchants; no request waits on the database.
"""

from __future__ import annotations

import itertools

import anyio
import msgspec


class Terminal(msgspec.Struct, frozen=True):
    terminal_code: str     # 41
    merchant_code: str     # 42
    merchant_active: bool
    alliance_code: str
    requires_mac: bool
    active: bool
    signed_on: bool
    # The TMK sealed under the KEK (never clear here): a MAC terminal MACs its sign-on under it.
    tmk_sealed: bytes | None = None
    # The alliance's "requires MAC for loads and exchanges" (§8, 1.2); the database's default
    # for a new alliance is true, this default serves only terminals built in tests.
    alliance_requires_mac_for_loads: bool = False
    # Its session key was issued before its TMK was replaced: void until it signs on again.
    session_void: bool = False

    def __repr__(self) -> str:
        return (f"Terminal({self.terminal_code}, merchant={self.merchant_code},"
                f" requires_mac={self.requires_mac}, signed_on={self.signed_on})")


class Registry:
    """Terminals by code. Sign-on changes made here survive a reload that raced with them."""

    def __init__(self) -> None:
        self._terminals: dict[str, Terminal] = {}
        self.version = 0
        self._reloaded = anyio.Event()
        # Sign-on changes by the sequence number they were made at, so that a reload whose
        # query began before a change (and may not see it) re-applies it afterwards.
        self._sequence = itertools.count(1)
        self._recent_sessions: dict[str, tuple[int, bool]] = {}

    def get(self, terminal_code: str) -> Terminal | None:
        return self._terminals.get(terminal_code)

    def __len__(self) -> int:
        return len(self._terminals)

    def mark(self) -> int:
        """Call before a reload's query: the sequence the loaded snapshot is at least as new as."""
        return next(self._sequence)

    def replace(self, terminals: list[Terminal], mark: int) -> list[str]:
        """Install a snapshot taken after `mark`, keeping sign-on changes made since; returns
        the terminals whose session is void (a new TMK) and not renewed since `mark`."""
        loaded = {terminal.terminal_code: terminal for terminal in terminals}
        self._recent_sessions = {
            code: change for code, change in self._recent_sessions.items() if change[0] > mark
        }
        for code, (_, signed_on) in self._recent_sessions.items():
            terminal = loaded.get(code)
            if terminal is not None:
                loaded[code] = msgspec.structs.replace(terminal, signed_on=signed_on)
        self._terminals = loaded
        self.version += 1
        self._reloaded.set()
        self._reloaded = anyio.Event()
        return [code for code, terminal in loaded.items()
                if terminal.session_void and code not in self._recent_sessions]

    def set_signed_on(self, terminal_code: str, signed_on: bool) -> None:
        """Record a sign-on or sign-off that is already durable in terminal_sessions."""
        self._recent_sessions[terminal_code] = (next(self._sequence), signed_on)
        terminal = self._terminals.get(terminal_code)
        if terminal is not None:
            self._terminals[terminal_code] = msgspec.structs.replace(terminal, signed_on=signed_on)

    async def wait_reloaded(self, after_version: int) -> None:
        """Return once a snapshot newer than `after_version` is installed."""
        while self.version <= after_version:
            await self._reloaded.wait()
