"""TerminalClient against the fake front: fields it fills, STANs, pipelining, timeouts, MAC."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
import pytest
from Crypto.Cipher import DES3

from devices import messages
from devices.errors import AnswerMacError, AnswerTimeoutError, DeviceError, HostConnectionError
from devices.mac import check_value, retail_mac
from devices.terminal_client import DEFAULT_TPDU, TerminalClient
from proto.fields import encode_tlv, parse_original_data
from proto.frames import Totals
from proto.framing import Tpdu, encode_frame
from proto.iso_codec import encode_iso
from tests.devices.fake_front import FakeFront, default_answer

pytestmark = pytest.mark.anyio

TERMINAL = "TERM0001"
MERCHANT = "MERCHANT0000001"
PAN = "6221880000000009"
FIXED_NOW = datetime(2025, 3, 9, 16, 5, 7, tzinfo=UTC)


def client_for(front: FakeFront, **options: object) -> TerminalClient:
    options.setdefault("timeout_s", 5.0)
    return TerminalClient("127.0.0.1", front.port, TERMINAL, MERCHANT, **options)


class TestFields:
    async def test_sign_on_fills_network_fields_and_learns_the_batch(
        self, fake_front: FakeFront
    ) -> None:
        fake_front.answer = lambda request: {**default_answer(request), "60": "000042"}
        async with client_for(fake_front, clock=lambda: FIXED_NOW) as client:
            answer = await client.sign_on()
        tpdu, request = fake_front.requests[0]
        assert tpdu == DEFAULT_TPDU
        assert request == {"t": "0800", "7": "0309160507", "11": "000001", "41": TERMINAL,
                           "42": MERCHANT, "70": "001"}
        assert answer["t"] == "0810" and answer["39"] == "00"
        assert client.batch_number == 42

    async def test_purchase_has_every_required_field(self, fake_front: FakeFront) -> None:
        async with client_for(fake_front, batch_number=3, clock=lambda: FIXED_NOW) as client:
            answer = await client.purchase(PAN, amount_fen=1_234)
        _, request = fake_front.requests[0]
        local = FIXED_NOW.astimezone()
        assert request == {
            "t": "0200", "2": PAN, "3": "000000", "4": "000000001234", "7": "0309160507",
            "11": "000001", "12": local.strftime("%H%M%S"), "13": local.strftime("%m%d"),
            "22": "051", "25": "00", "41": TERMINAL, "42": MERCHANT, "49": "156",
            "60": "000003",
        }
        assert answer["t"] == "0210" and answer["4"] == "000000001234"

    async def test_purchase_without_a_known_batch_is_refused(
        self, fake_front: FakeFront
    ) -> None:
        async with client_for(fake_front) as client:
            with pytest.raises(DeviceError, match="batch number unknown"):
                await client.purchase(PAN, amount_fen=100)

    async def test_caller_fields_win_so_a_retransmission_repeats_stan_and_time(
        self, fake_front: FakeFront
    ) -> None:
        async with client_for(fake_front, batch_number=1) as client:
            first = await client.exchange(messages.purchase(PAN, 100, 1))
            again = await client.exchange(first.request)
        assert again.request == first.request
        assert fake_front.requests[0][1] == fake_front.requests[1][1]

    async def test_reversal_carries_the_original_data(self, fake_front: FakeFront) -> None:
        async with client_for(fake_front, batch_number=1) as client:
            original = await client.exchange(messages.purchase(PAN, 500, 1))
            await client.reverse(original.request, reason_code="17")
        _, reversal = fake_front.requests[1]
        assert reversal["t"] == "0400" and reversal["11"] == original.request["11"]
        assert reversal["39"] == "17" and reversal["4"] == "000000000500"
        data = parse_original_data(reversal["90"])
        assert (data.mti, data.stan, data.transmission_time) == \
            ("0200", original.request["11"], original.request["7"])

    async def test_reconciliation_moves_to_the_next_batch(self, fake_front: FakeFront) -> None:
        async with client_for(fake_front, batch_number=999_999) as client:
            answer = await client.reconcile(Totals(purchases_count=2, purchases_fen=300))
        assert answer["39"] == "00" and client.batch_number == 1
        _, request = fake_front.requests[0]
        assert request["74"] == "0000000002" and request["86"] == "0000000000000300"


class TestStan:
    async def test_stans_count_up_from_one_per_client(self, fake_front: FakeFront) -> None:
        async with client_for(fake_front) as client:
            for _ in range(3):
                await client.echo()
        assert [request["11"] for _, request in fake_front.requests] == \
            ["000001", "000002", "000003"]

    async def test_stan_wraps_after_999999_to_000001(self, fake_front: FakeFront) -> None:
        async with client_for(fake_front, stan_start=999_998) as client:
            for _ in range(3):
                await client.echo()
        assert [request["11"] for _, request in fake_front.requests] == \
            ["999998", "999999", "000001"]


class TestPipelining:
    async def test_answers_out_of_order_reach_their_requests(
        self, fake_front: FakeFront
    ) -> None:
        fake_front.hold = 5  # answers come back in reverse order, after all five arrived
        answers: dict[int, dict[str, str]] = {}
        async with client_for(fake_front, batch_number=1) as client:
            async def buy(amount_fen: int) -> None:
                answers[amount_fen] = await client.purchase(PAN, amount_fen)

            async with anyio.create_task_group() as task_group:
                for amount_fen in range(101, 106):
                    task_group.start_soon(buy, amount_fen)
        assert sorted(answers) == list(range(101, 106))
        for amount_fen, answer in answers.items():
            assert int(answer["4"]) == amount_fen
        assert len({answer["11"] for answer in answers.values()}) == 5

    async def test_an_answer_for_another_terminal_is_not_taken(
        self, fake_front: FakeFront
    ) -> None:
        fake_front.answer = lambda request: {**default_answer(request), "41": "OTHER001"}
        async with client_for(fake_front, timeout_s=0.3) as client:
            with pytest.raises(AnswerTimeoutError):
                await client.echo()
            stray = await client.receive_raw()
        assert stray.tpdu == DEFAULT_TPDU.swapped() and b"OTHER001" in stray.body


class TestFailures:
    async def test_no_answer_times_out(self, fake_front: FakeFront) -> None:
        fake_front.silent = True
        async with client_for(fake_front, timeout_s=0.2) as client:
            with pytest.raises(AnswerTimeoutError, match="no answer to 0800 STAN 000001"):
                await client.echo()

    async def test_a_late_answer_goes_to_receive_raw(self, fake_front: FakeFront) -> None:
        fake_front.hold = 2  # the first echo is answered only when the second arrives
        async with client_for(fake_front, timeout_s=0.2) as client:
            with pytest.raises(AnswerTimeoutError):
                await client.echo()
            client.timeout_s = 5.0
            second = await client.echo()
            late = await client.receive_raw()
        assert second["11"] == "000002" and b"000001" in late.body

    async def test_front_closing_on_bad_frame_ends_the_connection(
        self, fake_front: FakeFront
    ) -> None:
        async with client_for(fake_front) as client:
            await client.send_raw(b"\x00\x0a\x61\x00\x01\x00\x00ABCDE")  # TPDU not 0x60
            with pytest.raises(HostConnectionError, match="closed"):
                await client.receive_raw()
            with pytest.raises(HostConnectionError):
                await client.echo()
        assert fake_front.closed_on_error.is_set()

    async def test_raw_frame_round_trip(self, fake_front: FakeFront) -> None:
        request = {"t": "0800", "7": "0101000000", "11": "000077", "41": TERMINAL,
                   "42": MERCHANT, "70": "301"}
        async with client_for(fake_front) as client:
            await client.send_raw(encode_frame(Tpdu(0x0005, 0x0009), encode_iso(request)))
            frame = await client.receive_raw()
        assert frame.tpdu == Tpdu(0x0009, 0x0005) and frame.body.startswith(b"0810")

    async def test_connection_refused_is_a_host_connection_error(self) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        await listener.aclose()
        with pytest.raises(HostConnectionError, match="cannot connect"):
            async with TerminalClient("127.0.0.1", port, TERMINAL, MERCHANT, timeout_s=2):
                pass


TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
SESSION_KEY = bytes.fromhex("89ABCDEF01234567FEDCBA9876543210")


def mac_answer(request: dict[str, str]) -> dict[str, str]:
    """The fake host's side of MAC: MK/MV on sign-on, its answers MACed like the requests."""
    answer = default_answer(request)
    if request["t"] == "0800":
        key_under_tmk = DES3.new(TMK, DES3.MODE_ECB).encrypt(SESSION_KEY).hex().upper()
        answer["48"] = encode_tlv({"MK": key_under_tmk, "MV": check_value(SESSION_KEY)})
        answer["60"] = "000001"
        return answer
    answer["64"] = "0" * 16
    body = encode_iso(answer)
    answer["64"] = retail_mac(SESSION_KEY, body[:-16]).hex().upper()
    return answer


class TestMac:
    async def test_after_sign_on_with_mk_requests_carry_a_valid_mac(
        self, fake_front: FakeFront
    ) -> None:
        fake_front.answer = mac_answer
        async with client_for(fake_front, tmk=TMK) as client:
            await client.sign_on()
            assert client.must_mac
            exchange = await client.exchange(messages.purchase(PAN, 100, 1))
        assert exchange.mac_verified is True
        body = fake_front.bodies[1]
        assert body[-16:].decode() == retail_mac(SESSION_KEY, body[:-16]).hex().upper()

    async def test_a_wrong_answer_mac_is_an_error(self, fake_front: FakeFront) -> None:
        def bad_mac(request: dict[str, str]) -> dict[str, str]:
            answer = mac_answer(request)
            return {**answer, "64": "0" * 16} if "64" in answer else answer

        fake_front.answer = bad_mac
        async with client_for(fake_front, tmk=TMK) as client:
            await client.sign_on()
            with pytest.raises(AnswerMacError):
                await client.inquiry(PAN)

    async def test_without_mk_no_mac_is_sent(self, fake_front: FakeFront) -> None:
        async with client_for(fake_front, tmk=TMK, batch_number=1) as client:
            await client.sign_on()
            await client.purchase(PAN, 100)
        assert not client.must_mac and "64" not in fake_front.requests[1][1]
