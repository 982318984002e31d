"""Test equipment for the dial-up tests: fast settings, an emulated line, and a call on it.

Timeouts are short so that the tests that wait for one (a cut-off frame, no ACK) stay fast;
the emulator's guard time is below the DTEs', as a real modem's S12 must be.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
import msgspec

from devices.dialup.modem_emulator import EmulatorSettings, LineState, ModemEmulator
from dialup import hayes
from dialup.config import DialupConfig, LinkSettings, ModemSettings, PortConfig, ReversalSettings
from dialup.line import SerialLine
from dialup.link import FrameLink

WAIT_S = 10.0  # any wait for something that must happen in a test

EMULATOR = EmulatorSettings(ring_interval_s=0.05, rings_max=100, escape_guard_s=0.02)
MODEM = ModemSettings(command_timeout_s=2.0, connect_timeout_s=8.0, ring_wait_s=5.0,
                      escape_guard_s=0.04, dtr_drop_s=0.01, carrier_poll_s=0.05)
LINK = LinkSettings(inter_byte_timeout_s=0.15, ack_timeout_s=0.25, frame_wait_timeout_s=5.0)
REVERSAL = ReversalSettings(answer_timeout_s=5.0, attempts_max=5, backoff_s_min=0.05,
                            backoff_s_max=0.2)


def bridge_config(front_port: int, devices: list[str], **changes: object) -> DialupConfig:
    ports = tuple(PortConfig(device, name=f"line{index}") for index, device in enumerate(devices))
    config = DialupConfig(
        front_address=f"127.0.0.1:{front_port}", metrics_port=0, ports=ports,
        answer_timeout_s=8.0, port_backoff_s_min=0.05, port_backoff_s_max=0.2,
        modem=MODEM, link=LINK, reversal=REVERSAL,
    )
    return msgspec.structs.replace(config, **changes) if changes else config


def open_line(path: str, name: str) -> SerialLine:
    return SerialLine.open(path, name=name, carrier_poll_s=MODEM.carrier_poll_s)


class Call:
    """Both ends of a connected call: lines in data mode, and a FrameLink on each."""

    def __init__(self, emulator: ModemEmulator, terminal: FrameLink, bridge: FrameLink) -> None:
        self.emulator, self.terminal, self.bridge = emulator, terminal, bridge


@asynccontextmanager
async def connected_call(
    emulator_settings: EmulatorSettings = EMULATOR, *, terminal_acknowledges: bool = True,
    link: LinkSettings = LINK,
) -> AsyncIterator[Call]:
    """An emulator, the terminal side dialled and the bridge side answered, links running."""
    async with AsyncExitStack() as stack:
        emulator = await stack.enter_async_context(ModemEmulator(emulator_settings))
        terminal_line = stack.enter_context(open_line(emulator.terminal_path, "terminal"))
        bridge_line = stack.enter_context(open_line(emulator.bridge_path, "bridge"))
        await hayes.initialise(terminal_line, ("ATZ", "ATE0"), MODEM)
        await hayes.initialise(bridge_line, ("ATZ", "ATE0", "ATS0=0"), MODEM)
        async with anyio.create_task_group() as group:
            group.start_soon(hayes.dial, terminal_line, "1", MODEM)
            await hayes.wait_for_ring(bridge_line, MODEM)
            await hayes.answer(bridge_line, MODEM)
            await emulator.wait_for_state(LineState.CONNECTED, WAIT_S)
        assert terminal_line.online and bridge_line.online  # the group waited for dial()
        terminal = FrameLink(terminal_line, link, acknowledge=terminal_acknowledges)
        bridge = FrameLink(bridge_line, link)
        group = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(group.cancel_scope.cancel)
        await group.start(terminal.run)
        await group.start(bridge.run)
        yield Call(emulator, terminal, bridge)
