"""End to end over TCP: terminal -> front -> switch -> host -> PostgreSQL, as issue 3 lists."""

from __future__ import annotations

import anyio
import pytest

from devices import messages
from proto.fields import parse_balances, parse_tlv
from proto.framing import Tpdu, encode_frame
from proto.iso_codec import encode_iso
from tests.e2e.system import (
    CARDS,
    LOST_CARD,
    MERCHANT,
    UNISSUED_CARD,
    retry_until_host_is_back,
    running_system,
)

pytestmark = pytest.mark.anyio


async def _journal_counts(system) -> tuple[int, int, int]:
    row = (await system.fetch(
        "SELECT (SELECT count(*) FROM transactions), (SELECT count(*) FROM journal_entries),"
        " (SELECT count(*) FROM postings)"))[0]
    return row[0], row[1], row[2]


class TestPurchaseEarn:
    async def test_sign_on_inquiry_purchase_inquiry(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            answer = await terminal.sign_on()
            assert (answer["t"], answer["39"], answer["60"]) == ("0810", "00", "000001")

            before = await terminal.inquiry(CARDS[0])
            assert before["39"] == "00"
            assert parse_balances(before["54"]) == {"0001999": 0, "6001156": 0}

            purchase = await terminal.purchase(CARDS[0], 12_345)
            assert (purchase["t"], purchase["39"]) == ("0210", "00")
            assert len(purchase["37"]) == 12 and len(purchase["38"]) == 6
            assert parse_tlv(purchase["48"])["PT"] == "+123"
            assert parse_balances(purchase["54"]) == {
                "0001999": 123, "6001156": 0, "0090999": 123}
            for field in ("2", "3", "4", "11", "41", "42", "49"):
                assert field in purchase

            after = await terminal.inquiry(CARDS[0])
            assert parse_balances(after["54"])["0001999"] == 123
            assert after["37"] not in (before["37"], purchase["37"])

            entries = await system.fetch(
                "SELECT e.id, e.ledger, sum(p.amount) AS total, count(*) AS postings"
                " FROM journal_entries e JOIN postings p ON p.entry_id = e.id GROUP BY e.id")
            assert len(entries) == 1
            assert entries[0]["ledger"] == "points"
            assert (entries[0]["total"], entries[0]["postings"]) == (0, 2)
            member = await system.fetchval(
                "SELECT a.balance FROM accounts a JOIN cards c ON c.id = a.card_id"
                " WHERE c.pan_hmac = $1 AND a.kind = 'member_points'",
                await system.pan_hmac(CARDS[0]))
            assert member == 123


class TestRetransmission:
    async def test_same_answer_and_no_new_posting(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            first = await terminal.exchange(messages.purchase(CARDS[1], 5_000, 1))
            counts = await _journal_counts(system)

            again = await terminal.request(first.request)
            assert again == first.answer
            assert await _journal_counts(system) == counts

            changed = dict(first.request, **{"4": f"{6_000:012d}"})
            mismatch = await terminal.request(changed)
            assert mismatch["39"] == "94"
            assert await _journal_counts(system) == counts

    async def test_key_survives_a_host_restart(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            first = await terminal.exchange(messages.purchase(CARDS[2], 7_700, 1))
            await system.host.stop()
            await system.host.start(system.group)
            # Wait with an inquiry: a retransmission answered 91 meanwhile would have the front
            # reverse the original (store-and-forward), which is not what this test is about.
            await retry_until_host_is_back(terminal, messages.inquiry(CARDS[2]))
            again = await terminal.request(first.request)
            assert again == first.answer
            assert (await terminal.request(dict(first.request, **{"4": "000000000001"})))[
                "39"] == "94"
            assert await system.fetchval("SELECT count(*) FROM transactions") == 1


class TestDeclines:
    async def test_each_gets_its_code_and_posts_nothing(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            cases = [
                (messages.purchase(CARDS[0][:-1] + str((int(CARDS[0][-1]) + 1) % 10), 100, 1),
                 "14"),
                (messages.purchase(UNISSUED_CARD, 100, 1), "14"),
                (messages.purchase(LOST_CARD, 100, 1), "41"),
                (messages.purchase(CARDS[0], 0, 1), "13"),
                (messages.purchase(CARDS[0], 100, 2), "12"),
                ({k: v for k, v in messages.purchase(CARDS[0], 100, 1).items() if k != "4"},
                 "30"),
                (dict(messages.purchase(CARDS[0], 100, 1), **{"3": "123456"}), "12"),
                (dict(messages.purchase(CARDS[0], 100, 1), **{"42": "MERCHANT0000002"}), "03"),
            ]
            for fields, code in cases:
                answer = await terminal.request(fields)
                assert answer["39"] == code, (fields, answer)
                assert "38" not in answer
            assert await _journal_counts(system) == (0, 0, 0)

    async def test_unknown_terminal_and_not_signed_on(self, database_url):
        async with running_system(database_url) as system:
            async with system.terminal("NOSUCH01", MERCHANT) as stranger:
                answer = await stranger.request(messages.purchase(CARDS[0], 100, 1))
                assert answer["39"] == "58"
            async with system.terminal("TERM0002", MERCHANT) as not_signed_on:
                answer = await not_signed_on.request(messages.purchase(CARDS[0], 100, 1))
                assert answer["39"] == "58"
            assert await _journal_counts(system) == (0, 0, 0)

    async def test_amount_at_the_field_limit_earns_rounded_down(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            small = await terminal.purchase(CARDS[3], 1)
            assert (small["39"], parse_tlv(small["48"])["PT"]) == ("00", "+0")
            largest = await terminal.purchase(CARDS[4], 999_999_999_999)
            assert largest["39"] == "00"
            assert parse_balances(largest["54"])["0001999"] == 9_999_999_999


class TestFraming:
    @pytest.mark.parametrize("header", [
        (3000).to_bytes(2, "big") + bytes([0x60, 0, 1, 0, 0]),
        (100).to_bytes(2, "big") + bytes([0x61, 0, 1, 0, 0]),
        (5).to_bytes(2, "big") + bytes([0x60, 0, 1, 0, 0]),
    ])
    async def test_framing_error_closes_and_posts_nothing(self, database_url, header):
        async with running_system(database_url) as system:
            stream = await anyio.connect_tcp("127.0.0.1", system.front_port)
            async with stream:
                await stream.send(header + b"0200" + b"0" * 60)
                with anyio.fail_after(5):
                    received = b""
                    try:
                        while chunk := await stream.receive():
                            received += chunk
                    except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError):
                        pass
                assert received == b""
            assert await _journal_counts(system) == (0, 0, 0)

    async def test_truncated_frame_does_not_disturb_other_connections(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            body = encode_iso(dict(terminal.prepare(messages.purchase(CARDS[5], 100, 1))))
            frame = encode_frame(Tpdu(1, 0), body)
            broken = await anyio.connect_tcp("127.0.0.1", system.front_port)
            await broken.send(frame[: len(frame) // 2])
            await broken.aclose()
            answer = await terminal.purchase(CARDS[5], 200)
            assert answer["39"] == "00"
            assert await system.fetchval("SELECT count(*) FROM transactions") == 1


class TestHostOutage:
    async def test_91_while_host_is_down_and_recovery_without_front_restart(
        self, database_url
    ):
        async with running_system(database_url, answer_timeout_s=2.0) as system, \
                system.terminal() as terminal:
            await terminal.sign_on()
            await system.host.stop()
            started = anyio.current_time()
            answer = await terminal.purchase(CARDS[6], 100)
            assert answer["39"] == "91"
            assert anyio.current_time() - started <= 2.5
            await system.host.start(system.group)
            answer = await retry_until_host_is_back(
                terminal, messages.purchase(CARDS[6], 300, 1))
            assert answer["39"] == "00"


class TestPipelining:
    async def test_fifty_pipelined_purchases_all_matched(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            answers: dict[int, dict] = {}

            async def purchase(index: int) -> None:
                answers[index] = await terminal.purchase(CARDS[index % 10], 100 + index)

            async with anyio.create_task_group() as group:
                for index in range(50):
                    group.start_soon(purchase, index)
            assert len(answers) == 50
            assert all(answer["39"] == "00" for answer in answers.values())
            assert {answer["4"] for answer in answers.values()} == {
                f"{100 + index:012d}" for index in range(50)}
            assert len({answer["37"] for answer in answers.values()}) == 50
            assert await system.fetchval("SELECT count(*) FROM transactions") == 50
