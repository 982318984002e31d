"""The modem emulator on real ptys, driven by the bridge's own Hayes dialogue and line."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from devices.dialup.emulator_commands import AtCommand, AtSyntaxError, parse_commands
from devices.dialup.emulator_faults import NOISE_DEFAULT, Faults, FaultState, FrameTracker
from devices.dialup.modem_emulator import LineState, ModemEmulator, Side
from dialup import hayes
from dialup.errors import CarrierLostError, LineClosedError, ModemResultError
from dialup.hayes import Result, ResultCode, parse_result
from proto.dialup_framing import encode_dialup_frame
from tests.dialup.equipment import EMULATOR, MODEM, WAIT_S, open_line

PAYLOAD = bytes.fromhex("6000010000") + b"0800" + b"0" * 16


class TestResultCodes:
    @pytest.mark.parametrize(("line", "result"), [
        ("OK", Result(ResultCode.OK, None, "OK")),
        ("CONNECT 9600", Result(ResultCode.CONNECT, 9600, "CONNECT 9600")),
        ("CONNECT 33600/ARQ", Result(ResultCode.CONNECT, 33600, "CONNECT 33600/ARQ")),
        ("CONNECT", Result(ResultCode.CONNECT, 300, "CONNECT")),
        ("NO CARRIER", Result(ResultCode.NO_CARRIER, None, "NO CARRIER")),
        ("busy", Result(ResultCode.BUSY, None, "busy")),
        ("3", Result(ResultCode.NO_CARRIER, None, "3")),
        ("ATZ", None), ("CONNECTED", None), ("Jifen modem emulator", None),
    ])
    def test_parse(self, line, result):
        assert parse_result(line) == result


class TestCommandParser:
    def test_a_line_of_commands(self):
        assert parse_commands("ZE0S0=2&C1V1") == [
            AtCommand("Z"), AtCommand("E", "0"), AtCommand("S", "0=2"), AtCommand("&C", "1"),
            AtCommand("V", "1")]

    def test_dial_takes_the_rest(self):
        assert parse_commands("E0DT12345") == [AtCommand("E", "0"), AtCommand("D", "12345")]

    def test_unknown(self):
        with pytest.raises(AtSyntaxError):
            parse_commands("K")


class TestFaultState:
    def test_drop_after_bytes_and_lrc(self):
        frame = encode_dialup_frame(PAYLOAD)
        state = FaultState()
        state.arm(Faults(drop_carrier_after_bytes=len(frame) + 3, corrupt_lrc_frames=1,
                         noise=b"\x00\xff"))
        out, drop = state.apply(frame)
        assert not drop
        assert out[:2] == b"\x00\xff" and out[2:-1] == frame[:-1] and out[-1] == frame[-1] ^ 0xFF
        out, drop = state.apply(b"abcdef")
        assert (out, drop) == (b"abc", True)

    def test_tracker_skips_a_bad_length(self):
        tracker = FrameTracker()
        positions = [tracker.feed(byte) for byte in b"\x02\xab\xcd" + encode_dialup_frame(PAYLOAD)]
        assert positions.count("stx") == 2 and positions.count("lrc") == 1
        assert positions[-1] == "lrc"


@pytest.mark.anyio
class TestEmulator:
    async def test_dialogue_call_escape_and_hang_up(self):
        async with ModemEmulator(EMULATOR) as emulator:
            with open_line(emulator.terminal_path, "t") as terminal, \
                    open_line(emulator.bridge_path, "b") as bridge:
                await hayes.initialise(terminal, ("ATZ", "ATE0", "ATI", "AT&C1&D2"), MODEM)
                await hayes.initialise(bridge, ("ATZ", "ATE0", "ATS0=0"), MODEM)
                assert (await hayes.command(bridge, "ATK9", 2.0)).code is ResultCode.ERROR
                async with anyio.create_task_group() as group:
                    group.start_soon(hayes.dial, terminal, "12345", MODEM)
                    await hayes.wait_for_ring(bridge, MODEM)
                    assert await hayes.answer(bridge, MODEM) == 9600
                assert emulator.state is LineState.CONNECTED and emulator.calls == 1

                await terminal.send(b"hello +++ bridge")
                assert await _receive_exactly(bridge, 16) == b"hello +++ bridge"
                await bridge.send(b"and back")
                assert await _receive_exactly(terminal, 8) == b"and back"

                assert await hayes.hang_up(bridge, "auto", MODEM) == "escape"
                with pytest.raises(CarrierLostError):
                    await terminal.receive()
                assert emulator.state is LineState.IDLE

    async def test_busy_and_no_answer(self):
        settings = msgspec.structs.replace(EMULATOR, rings_max=2)
        async with ModemEmulator(settings) as emulator:
            with open_line(emulator.terminal_path, "t") as terminal:
                await hayes.initialise(terminal, ("ATZ", "ATE0"), MODEM)
                emulator.ring(Side.BRIDGE)  # a call comes in for the bridge side
                with pytest.raises(ModemResultError) as busy:
                    await hayes.dial(terminal, "1", MODEM)
                assert busy.value.result == ResultCode.BUSY
                await emulator.wait_for_state(LineState.IDLE, WAIT_S)  # nobody answered
                with pytest.raises(ModemResultError) as no_answer:
                    await hayes.dial(terminal, "1", MODEM)
                assert no_answer.value.result == ResultCode.NO_ANSWER

    async def test_auto_answer_and_a_fault_drops_the_carrier(self):
        async with ModemEmulator(EMULATOR) as emulator:
            with open_line(emulator.terminal_path, "t") as terminal, \
                    open_line(emulator.bridge_path, "b") as bridge:
                await hayes.initialise(terminal, ("ATZ", "ATE0"), MODEM)
                await hayes.initialise(bridge, ("ATZ", "ATE0", "ATS0=2"), MODEM)
                async with anyio.create_task_group() as group:
                    group.start_soon(hayes.dial, terminal, "1", MODEM)
                    result = await hayes.next_result(bridge)
                assert result.code is ResultCode.CONNECT
                bridge.set_online(True)
                emulator.drop_carrier_after(Side.BRIDGE, 5)
                emulator.inject_noise(Side.TERMINAL, NOISE_DEFAULT)
                await terminal.send(b"0123456789")
                assert await _receive_exactly(bridge, 5) == b"01234"
                with pytest.raises(CarrierLostError):
                    await bridge.receive()
                assert emulator.carrier_drops == 1
                with pytest.raises(CarrierLostError):
                    await terminal.receive()

    async def test_initialise_escapes_a_modem_left_in_a_call(self):
        quick = msgspec.structs.replace(MODEM, command_timeout_s=0.3)
        async with ModemEmulator(EMULATOR) as emulator:
            with open_line(emulator.terminal_path, "t") as terminal:
                await hayes.initialise(terminal, ("ATZ", "ATE0"), MODEM)
                with open_line(emulator.bridge_path, "b") as bridge:
                    await hayes.initialise(bridge, ("ATZ", "ATE0", "ATS0=0"), MODEM)
                    async with anyio.create_task_group() as group:
                        group.start_soon(hayes.dial, terminal, "1", MODEM)
                        await hayes.wait_for_ring(bridge, MODEM)
                        await hayes.answer(bridge, MODEM)
                # The bridge went away mid-call; a pty has no DTR to hang its modem up.
                with open_line(emulator.bridge_path, "b") as bridge:
                    await hayes.initialise(bridge, ("ATZ", "ATE0"), quick)
                assert emulator.state is LineState.IDLE
                with anyio.fail_after(WAIT_S), pytest.raises(CarrierLostError):
                    while True:
                        await terminal.receive()  # ATZ, relayed as data, then NO CARRIER

    async def test_connect_and_drop_on_command(self):
        async with ModemEmulator(EMULATOR) as emulator:
            with open_line(emulator.terminal_path, "t") as terminal, \
                    open_line(emulator.bridge_path, "b") as bridge:
                await emulator.connect()
                for line in (terminal, bridge):
                    result = await hayes.next_result(line)
                    assert (result.code, result.speed_bps) == (ResultCode.CONNECT, 9600)
                    line.set_online(True)
                await bridge.send(b"\x02")
                assert await _receive_exactly(terminal, 1) == b"\x02"
                await emulator.drop_carrier()
                for line in (terminal, bridge):
                    with pytest.raises(CarrierLostError):
                        await line.receive()
                assert (emulator.calls, emulator.carrier_drops) == (1, 1)

    async def test_closing_the_emulator_closes_the_line(self):
        async with ModemEmulator(EMULATOR) as emulator:
            line = open_line(emulator.bridge_path, "b")
        with line, pytest.raises(LineClosedError):
            await line.receive()


async def _receive_exactly(line, size: int) -> bytes:
    data = b""
    with anyio.fail_after(WAIT_S):
        while len(data) < size:
            data += await line.receive(size - len(data))
    return data
