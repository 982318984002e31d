"""The whole system behind a dial-up bridge: front, switch, host and database in process, the
bridge on the bridge sides of emulated lines, and dial-up terminals on their terminal sides."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio

from devices.dialup.modem_emulator import EmulatorSettings, ModemEmulator
from devices.dialup.serial_terminal import SerialTerminalClient
from dialup.bridge import DialupBridge
from dialup.events import BridgeEvent, CallEnded, PortReady, ReversalSettled
from tests.dialup.equipment import EMULATOR, LINK, MODEM, WAIT_S, bridge_config
from tests.e2e.system import MERCHANT, TERMINAL, RunningSystem, running_system
from tests.pki_kit import tls_fields


@dataclass
class DialupSystem:
    system: RunningSystem
    emulators: list[ModemEmulator]
    bridge: DialupBridge

    def terminal(self, line: int = 0, terminal_code: str = TERMINAL,
                 **options: Any) -> SerialTerminalClient:
        options = {"link": LINK, "modem": MODEM, "timeout_s": WAIT_S, **options}
        return SerialTerminalClient(self.emulators[line].terminal_path, terminal_code, MERCHANT,
                                    **options)

    async def call_ended(self, port: str = "line0", count: int = 1) -> CallEnded:
        events = await self.bridge.events.wait_for(
            lambda event: isinstance(event, CallEnded) and event.port == port, WAIT_S, count)
        assert isinstance(events[-1], CallEnded)
        return events[-1]

    async def reversal_settled(self) -> ReversalSettled:
        events = await self.bridge.events.wait_for(
            lambda event: isinstance(event, ReversalSettled), WAIT_S)
        assert isinstance(events[0], ReversalSettled)
        return events[0]

    def events_of(self, kind: type[BridgeEvent]) -> list[BridgeEvent]:
        return self.bridge.events.matching(lambda event: isinstance(event, kind))

    async def points(self, pan: str) -> int:
        balance = await self.system.fetchval(
            "SELECT a.balance FROM accounts a JOIN cards c ON c.id = a.card_id"
            " WHERE c.pan_hmac = $1 AND a.kind = 'member_points'",
            await self.system.pan_hmac(pan))
        return balance or 0

    async def transactions(self) -> list[tuple[str, str]]:
        rows = await self.system.fetch("SELECT mti, stan FROM transactions ORDER BY id")
        return [(row["mti"], row["stan"]) for row in rows]


@asynccontextmanager
async def dialup_system(database_url: str, lines: int = 1,
                        emulator: EmulatorSettings = EMULATOR, *, front_tls: bool = False,
                        **config_changes: object) -> AsyncIterator[DialupSystem]:
    """With `front_tls`, the bridge reaches the front's bridge listener over mutual TLS with
    its "dialup" certificate, as a bridge on another machine does."""
    async with running_system(database_url, bridge_listen=front_tls) as system, \
            AsyncExitStack() as stack:
        emulators = [await stack.enter_async_context(ModemEmulator(emulator))
                     for _ in range(lines)]
        if front_tls:
            assert system.front_bridge_port is not None
            config_changes = {"front_tls": True, **tls_fields("dialup"), **config_changes}
        front_port = system.front_bridge_port if front_tls else system.front_port
        assert front_port is not None
        config = bridge_config(front_port, [e.bridge_path for e in emulators],
                               **config_changes)
        bridge = DialupBridge(config)
        group = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(group.cancel_scope.cancel)
        await group.start(bridge.run)
        await bridge.events.wait_for(lambda event: isinstance(event, PortReady), WAIT_S, lines)
        yield DialupSystem(system, emulators, bridge)
