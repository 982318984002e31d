"""The framed exchange (ACK, NAK, resends, bad frames): two FrameLinks on an emulated call."""

from __future__ import annotations

import time

import msgspec
import pytest

from devices.dialup.modem_emulator import Side
from dialup.errors import BadFramesError, CarrierLostError, NotDeliveredError
from proto.dialup_framing import ACK, NAK, STX, encode_dialup_frame
from tests.dialup.equipment import EMULATOR, LINK, WAIT_S, connected_call

pytestmark = pytest.mark.anyio

TIMER_RESOLUTION_S = 0.001
PAYLOAD = bytes.fromhex("6000010000") + b"0800" + b"0" * 16


class TestDelivery:
    async def test_a_frame_each_way(self):
        async with connected_call() as call:
            await call.terminal.send_frame(PAYLOAD)
            assert await call.bridge.receive_frame(WAIT_S) == PAYLOAD
            await call.bridge.send_frame(PAYLOAD + b"answer")
            assert await call.terminal.receive_frame(WAIT_S) == PAYLOAD + b"answer"
            assert call.bridge.stats.frames_received == call.terminal.stats.frames_received == 1
            assert call.bridge.stats.naks_sent == call.terminal.stats.resends == 0

    async def test_bad_lrc_gets_nak_and_a_resend(self):
        async with connected_call() as call:
            call.emulator.corrupt_lrc(Side.BRIDGE, frames=1)
            await call.terminal.send_frame(PAYLOAD)
            assert await call.bridge.receive_frame(WAIT_S) == PAYLOAD
            assert call.bridge.stats.frames_rejected == {"lrc": 1}
            assert (call.terminal.stats.naks_received, call.terminal.stats.resends) == (1, 1)

    async def test_noise_before_stx_is_skipped(self):
        async with connected_call() as call:
            call.emulator.inject_noise(Side.BRIDGE, b"\x00\xff\x7f\x13", frames=2)
            await call.terminal.send_frame(PAYLOAD)
            await call.terminal.send_frame(PAYLOAD)
            assert await call.bridge.receive_frame(WAIT_S) == PAYLOAD
            assert await call.bridge.receive_frame(WAIT_S) == PAYLOAD
            assert call.bridge.stats.noise_bytes == 8
            assert call.bridge.stats.naks_sent == 0

    async def test_no_ack_means_four_sends_then_not_delivered(self):
        async with connected_call(terminal_acknowledges=False) as call:
            started = time.monotonic()
            with pytest.raises(NotDeliveredError):
                await call.bridge.send_frame(PAYLOAD)
            elapsed_s = time.monotonic() - started
            assert call.bridge.stats.resends == LINK.resends_max
            sends = LINK.resends_max + 1
            # uvloop's timers have a millisecond's resolution: each wait may end up to 1 ms
            # before time.monotonic says it is due (0.99992 s for four waits of 0.25 s, once).
            assert elapsed_s >= sends * (LINK.ack_timeout_s - TIMER_RESOLUTION_S)
            assert call.terminal.stats.frames_received == LINK.resends_max + 1


class TestBadFrames:
    async def test_oversize_bcd_length_is_drained_then_naked(self):
        async with connected_call() as call:
            await call.terminal.send_raw(b"\x02\x99\x99" + PAYLOAD + b"\x03\x00")
            assert await call.terminal.receive_control(WAIT_S) == NAK
            assert call.bridge.stats.frames_rejected == {"length": 1}
            await call.terminal.send_frame(PAYLOAD)  # the line is in step again
            assert await call.bridge.receive_frame(WAIT_S) == PAYLOAD

    async def test_non_bcd_length(self):
        async with connected_call() as call:
            await call.terminal.send_raw(b"\x02\x0a\x25" + PAYLOAD + b"\x03\x00")
            assert await call.terminal.receive_control(WAIT_S) == NAK
            assert call.bridge.stats.frames_rejected == {"bcd": 1}

    async def test_frame_cut_off_mid_way(self):
        async with connected_call() as call:
            started = time.monotonic()
            await call.terminal.send_raw(encode_dialup_frame(PAYLOAD)[:12])
            assert await call.terminal.receive_control(WAIT_S) == NAK
            assert time.monotonic() - started >= LINK.inter_byte_timeout_s - TIMER_RESOLUTION_S
            assert call.bridge.stats.frames_rejected == {"truncated": 1}

    async def test_three_bad_frames_in_a_row_end_the_call(self):
        async with connected_call() as call:
            call.emulator.corrupt_lrc(Side.BRIDGE, frames=3)
            with pytest.raises(NotDeliveredError):
                await call.terminal.send_frame(PAYLOAD)
            assert isinstance(call.bridge.error, BadFramesError)
            assert call.bridge.stats.frames_rejected == {"lrc": 3}
            with pytest.raises(BadFramesError):
                await call.bridge.receive_frame(WAIT_S)

    async def test_a_good_frame_resets_the_count(self):
        async with connected_call() as call:
            for _ in range(3):
                call.emulator.corrupt_lrc(Side.BRIDGE, frames=2)
                await call.terminal.send_frame(PAYLOAD)  # third send gets through
                assert await call.bridge.receive_frame(WAIT_S) == PAYLOAD
            assert call.bridge.error is None


class TestCarrier:
    async def test_loss_mid_frame_reaches_both_ends(self):
        async with connected_call() as call:
            call.emulator.drop_carrier_after(Side.BRIDGE, 10)
            with pytest.raises(CarrierLostError):
                await call.terminal.send_frame(PAYLOAD)
            with pytest.raises(CarrierLostError):
                await call.bridge.receive_frame(WAIT_S)
            assert call.bridge.lost_mid_frame

    async def test_faults_armed_per_call(self):
        settings = msgspec.structs.replace(
            EMULATOR, faults_towards_bridge=msgspec.structs.replace(
                EMULATOR.faults_towards_bridge, corrupt_lrc_frames=1, noise=b"\x00"))
        async with connected_call(settings) as call:
            await call.terminal.send_frame(PAYLOAD)
            await call.terminal.send_frame(PAYLOAD)
            assert await call.bridge.receive_frame(WAIT_S) == PAYLOAD
            assert call.bridge.stats.frames_rejected == {"lrc": 1}
            assert call.bridge.stats.noise_bytes == 3  # before every frame: 3 sent in all


def test_control_bytes_are_distinct():
    assert len({STX, ACK, NAK}) == 3
