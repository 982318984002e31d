"""The dial-up bridge end to end: dial-up terminal -> emulated line -> bridge -> front -> switch ->
host -> PostgreSQL, on real ptys and real TCP."""

from __future__ import annotations

import anyio
import msgspec
import pytest
from prometheus_client import REGISTRY

from devices import messages
from devices.dialup.emulator_faults import NOISE_DEFAULT
from devices.dialup.modem_emulator import Side
from devices.errors import AnswerTimeoutError, HostConnectionError
from dialup.events import PortFailed, PortReady, ReversalSettled
from dialup.reversals import ReversalOrder
from proto.dialup_framing import NAK, encode_dialup_frame
from proto.framing import Tpdu
from proto.iso_codec import encode_iso
from tests.dialup.bridge_harness import dialup_system
from tests.dialup.equipment import LINK, REVERSAL, WAIT_S
from tests.e2e.system import CARDS

# Both seeded under the test merchant (tests.e2e.system.SEED_SQL).
TERMINALS = ("TERM0001", "TERM0002")

pytestmark = pytest.mark.anyio

AMOUNT_FEN = 12_345
POINTS = 123  # the test merchant earns 1 point per yuan


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def purchase_frame(terminal, pan: str, amount_fen: int) -> bytes:
    """A whole dial-up frame of a purchase, as the terminal would send it."""
    message = terminal.prepare(messages.purchase(pan, amount_fen, terminal.batch_number))
    return encode_dialup_frame(Tpdu(1, 0).encode() + encode_iso(message))


class TestCalls:
    async def test_sign_on_purchase_ack_hang_up_moves_the_balance_once(self, database_url):
        calls_before = sample("jifen_dialup_calls_total", port="line0", result="connected")
        async with dialup_system(database_url) as dialup:
            async with dialup.terminal() as terminal:
                assert terminal.connect_speed_bps == 9600
                assert (await terminal.sign_on())["39"] == "00"
                answer = await terminal.purchase(CARDS[0], AMOUNT_FEN)
                assert (answer["t"], answer["39"]) == ("0210", "00")
            ended = await dialup.call_ended()
            assert (ended.reason, ended.requests, ended.delivered) == ("carrier_lost", 2, 2)
            assert ended.hangup is None  # the terminal hung up
            assert await dialup.points(CARDS[0]) == POINTS
            assert await dialup.transactions() == [("0200", answer["11"])]
            assert not dialup.events_of(ReversalSettled)
            # The port is ready for the next call.
            await dialup.bridge.events.wait_for(lambda e: isinstance(e, PortReady), WAIT_S, 2)
        assert sample("jifen_dialup_calls_total", port="line0", result="connected") \
            == calls_before + 1

    async def test_bad_lrc_gets_nak_and_a_resend(self, database_url):
        naks_before = sample("jifen_dialup_naks_sent_total", port="line0", reason="lrc")
        async with dialup_system(database_url) as dialup:
            async with dialup.terminal() as terminal:
                await terminal.sign_on()
                dialup.emulators[0].corrupt_lrc(Side.BRIDGE, frames=1)
                assert (await terminal.purchase(CARDS[1], AMOUNT_FEN))["39"] == "00"
                assert (terminal.link.stats.naks_received, terminal.link.stats.resends) == (1, 1)
            assert await dialup.points(CARDS[1]) == POINTS
            assert len(await dialup.transactions()) == 1
        assert sample("jifen_dialup_naks_sent_total", port="line0", reason="lrc") \
            == naks_before + 1

    async def test_three_bad_frames_hang_up_and_post_nothing(self, database_url):
        async with dialup_system(database_url) as dialup:
            async with dialup.terminal() as terminal:
                await terminal.sign_on()
                dialup.emulators[0].corrupt_lrc(Side.BRIDGE, frames=LINK.bad_frames_max)
                with pytest.raises(HostConnectionError):
                    await terminal.purchase(CARDS[2], AMOUNT_FEN)
                assert terminal.link.stats.naks_received == LINK.bad_frames_max
            ended = await dialup.call_ended()
            assert (ended.reason, ended.hangup) == ("bad_frames", "escape")
            assert await dialup.transactions() == []
            assert await dialup.points(CARDS[2]) == 0

    async def test_two_ports_in_parallel(self, database_url):
        async with dialup_system(database_url, lines=2) as dialup:
            assert dialup.bridge.readiness() == (True, "2 ports ready")

            async def buy(line: int, terminal_code: str, pan: str) -> None:
                async with dialup.terminal(line, terminal_code) as terminal:
                    await terminal.sign_on()
                    assert (await terminal.purchase(pan, AMOUNT_FEN))["39"] == "00"

            async with anyio.create_task_group() as group:
                group.start_soon(buy, 0, TERMINALS[0], CARDS[3])
                group.start_soon(buy, 1, TERMINALS[1], CARDS[4])
            for port in ("line0", "line1"):
                assert (await dialup.call_ended(port)).delivered == 2
            assert [await dialup.points(pan) for pan in CARDS[3:5]] == [POINTS, POINTS]

    async def test_one_port_failing_does_not_touch_the_other(self, database_url):
        async with dialup_system(database_url, lines=2) as dialup:
            await dialup.emulators[0].unplug()  # line0's device goes away
            await dialup.bridge.events.wait_for(
                lambda e: isinstance(e, PortFailed) and e.port == "line0", WAIT_S)
            # Not ready (`/readyz`), naming the port; line1 still is.
            assert dialup.bridge.readiness() == (False, "ports not ready: line0")
            assert dialup.bridge.port_link("line1").up
            async with dialup.terminal(1) as terminal:
                await terminal.sign_on()
                assert (await terminal.purchase(CARDS[5], AMOUNT_FEN))["39"] == "00"
            assert (await dialup.call_ended("line1")).delivered == 2


class TestReversals:
    @pytest.mark.parametrize("fault", ["carrier_lost", "no_ack"])
    async def test_undelivered_approval_is_reversed(self, database_url, fault):
        async with dialup_system(database_url) as dialup:
            acknowledge = fault != "no_ack"
            async with dialup.terminal() as terminal:
                await terminal.sign_on()
            await dialup.call_ended()
            async with dialup.terminal(acknowledge_answers=acknowledge) as terminal:
                if acknowledge:
                    # The bridge's ACK of the request, then 5 bytes of the answer: cut.
                    dialup.emulators[0].drop_carrier_after(Side.TERMINAL, 1 + 5)
                    with pytest.raises(HostConnectionError):
                        await terminal.purchase(CARDS[6], AMOUNT_FEN, batch_number=1)
                else:
                    # The terminal reads the answer but never ACKs: the bridge cannot know.
                    await terminal.purchase(CARDS[6], AMOUNT_FEN, batch_number=1)
                    # The bridge resends, gives up and hangs up, while this terminal waits.
                    ended = await dialup.call_ended(count=2)
                    assert (ended.reason, ended.hangup) == ("not_delivered", "escape")
            reversal = await dialup.reversal_settled()
            assert (reversal.terminal, reversal.outcome, reversal.response_code) == \
                ("TERM0001", "approved", "00")
            if acknowledge:
                assert (await dialup.call_ended(count=2)).reason == "carrier_lost"
            assert [mti for mti, _ in await dialup.transactions()] == ["0200", "0400"]
            journal = await dialup.system.fetch(
                "SELECT t.mti, count(DISTINCT e.id) AS entries, sum(p.amount) AS total"
                " FROM transactions t JOIN journal_entries e ON e.transaction_id = t.id"
                " JOIN postings p ON p.entry_id = e.id GROUP BY t.mti ORDER BY t.mti")
            assert [row["mti"] for row in journal] == ["0200", "0400"]
            assert all(row["entries"] >= 1 and row["total"] == 0 for row in journal)
            assert await dialup.points(CARDS[6]) == 0

    async def test_declines_and_delivered_answers_are_not_reversed(self, database_url):
        async with dialup_system(database_url) as dialup:
            async with dialup.terminal() as terminal:
                await terminal.sign_on()
                dialup.emulators[0].drop_carrier_after(Side.TERMINAL, 1 + 5)
                with pytest.raises(HostConnectionError):
                    await terminal.inquiry(CARDS[7])  # an 0100 moves nothing
            assert (await dialup.call_ended()).reason == "carrier_lost"
            assert not dialup.events_of(ReversalSettled)


class TestLineFaults:
    async def test_noise_before_stx(self, database_url):
        noise_before = sample("jifen_dialup_noise_bytes_total", port="line0")
        async with dialup_system(database_url) as dialup:
            async with dialup.terminal() as terminal:
                dialup.emulators[0].inject_noise(Side.BRIDGE, NOISE_DEFAULT, frames=2)
                await terminal.sign_on()
                assert (await terminal.purchase(CARDS[8], AMOUNT_FEN))["39"] == "00"
                assert terminal.link.stats.naks_received == 0
            assert await dialup.points(CARDS[8]) == POINTS
        assert sample("jifen_dialup_noise_bytes_total", port="line0") \
            == noise_before + 2 * len(NOISE_DEFAULT)

    @pytest.mark.parametrize(("name", "bad_frame"), [
        ("oversize_bcd_length", lambda frame: frame[:1] + b"\x99\x99" + frame[3:]),
        ("non_bcd_digits", lambda frame: frame[:1] + b"\x0a\x2f" + frame[3:]),
        ("cut_off_mid_way", lambda frame: frame[:len(frame) // 2]),
    ])
    async def test_bad_frame_gets_nak_and_the_next_one_goes_through(
        self, database_url, name, bad_frame,
    ):
        async with dialup_system(database_url) as dialup:
            async with dialup.terminal() as terminal:
                await terminal.sign_on()
                frame = purchase_frame(terminal, CARDS[9], AMOUNT_FEN)
                await terminal.send_raw(bad_frame(frame))
                assert await terminal.link.receive_control(WAIT_S) == NAK
                assert await dialup.transactions() == []
                assert (await terminal.purchase(CARDS[9], AMOUNT_FEN))["39"] == "00"
            assert len(await dialup.transactions()) == 1
            assert await dialup.points(CARDS[9]) == POINTS

    async def test_carrier_lost_mid_request_posts_nothing(self, database_url):
        async with dialup_system(database_url) as dialup:
            async with dialup.terminal() as terminal:
                await terminal.sign_on()
                dialup.emulators[0].drop_carrier_after(Side.BRIDGE, 20)
                with pytest.raises(HostConnectionError):
                    await terminal.purchase(CARDS[0], AMOUNT_FEN)
            ended = await dialup.call_ended()
            assert (ended.reason, ended.requests) == ("carrier_lost", 1)
            assert await dialup.transactions() == []
        assert sample("jifen_dialup_carrier_losses_total", port="line0", phase="mid_frame") >= 1


class TestBridgeLimits:
    async def test_an_idle_call_is_hung_up(self, database_url):
        link = msgspec.structs.replace(LINK, frame_wait_timeout_s=0.3)
        async with dialup_system(database_url, link=link) as dialup, \
                dialup.terminal() as terminal:
            ended = await dialup.call_ended()
            assert (ended.reason, ended.hangup, ended.requests) == ("idle", "escape", 0)
            with pytest.raises(HostConnectionError):
                await terminal.echo()

    async def test_front_unreachable_reversal_attempts_are_bounded(self, database_url):
        async with dialup_system(database_url, front_address="127.0.0.1:1") as dialup:
            async with dialup.terminal(timeout_s=1.0) as terminal:
                with pytest.raises(AnswerTimeoutError):
                    await terminal.purchase(CARDS[0], AMOUNT_FEN, batch_number=1)
                reversal = await dialup.reversal_settled()
            assert (reversal.outcome, reversal.response_code) == ("gave_up", None)
            assert reversal.attempts == REVERSAL.attempts_max

    async def test_reversal_of_an_unknown_original_is_settled_by_25(self, database_url):
        async with dialup_system(database_url) as dialup:
            async with dialup.terminal() as terminal:
                await terminal.sign_on()
                original = terminal.prepare(messages.purchase(CARDS[1], AMOUNT_FEN, 1))
            order = ReversalOrder(original, Tpdu(1, 0), "line0", "test")
            settled = await dialup.bridge.reverser.reverse(order)
            assert (settled.outcome, settled.response_code) == ("unknown_original", "25")
            assert await dialup.transactions() == []
