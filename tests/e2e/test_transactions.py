"""Known answers over TCP for every processing code and decline of the full transaction set
(issue 4; host interface §4 and §9; docs/ledger.md). Every test ends by checking the journal
by SQL: each entry sums to zero within its ledger, each balance is the sum of its postings."""

from __future__ import annotations

import pytest

from devices import messages
from proto.fields import OriginalData, encode_original_data, parse_balances, parse_tlv
from proto.frames import Totals
from tests.e2e.system import (
    CARDS,
    GIFT,
    GIFT_POINTS,
    INACTIVE_GIFT,
    LOST_CARD,
    OTHER_ALLIANCE_GIFT,
    SECOND_ALLIANCE_TERMINAL,
    SECOND_CARDS,
    SECOND_MERCHANT,
    UNISSUED_CARD,
    RunningSystem,
    retry_until_host_is_back,
    running_system,
)

pytestmark = pytest.mark.anyio

POINTS, STORED_VALUE, MOVED = "0001999", "6001156", "0090999"
FIELD_4_MAX = 999_999_999_999


def balances(answer: dict[str, str]) -> dict[str, int]:
    return parse_balances(answer["54"])


def points_tag(answer: dict[str, str]) -> str:
    return parse_tlv(answer["48"])["PT"]


async def assert_ledger_sound(system: RunningSystem) -> None:
    """Entries balance within their ledger, balances are their postings' sums, each ledger
    sums to zero, one entry per ledger per transaction, no stored value below zero."""
    row = (await system.fetch("""
        SELECT
          (SELECT count(*) FROM (
             SELECT e.id FROM journal_entries e
             JOIN postings p ON p.entry_id = e.id JOIN accounts a ON a.id = p.account_id
             GROUP BY e.id HAVING sum(p.amount) <> 0 OR bool_or(a.ledger <> e.ledger)) x),
          (SELECT count(*) FROM accounts a WHERE a.balance <>
             (SELECT coalesce(sum(amount), 0) FROM postings WHERE account_id = a.id)),
          (SELECT count(*) FROM (SELECT ledger FROM accounts GROUP BY ledger
                                 HAVING sum(balance) <> 0) y),
          (SELECT count(*) FROM (SELECT transaction_id FROM journal_entries
                                 GROUP BY transaction_id, ledger HAVING count(*) > 1) z),
          (SELECT count(*) FROM accounts WHERE kind = 'member_stored_value' AND balance < 0),
          (SELECT count(*) FROM transactions t WHERE t.kind IN ('return', 'reversal')
             AND NOT EXISTS (SELECT 1 FROM transactions o
                             WHERE o.id = t.original_transaction_id))
        """))[0]
    assert tuple(row) == (0, 0, 0, 0, 0, 0), "unbalanced entries, wrong balances, unbalanced " \
        "ledgers, two entries in a ledger, negative stored value, missing originals"


async def member(system: RunningSystem, pan: str) -> tuple[int, int]:
    """The card's (points, stored value) balances in the database."""
    rows = await system.fetch(
        "SELECT a.kind, a.balance FROM accounts a JOIN cards c ON c.id = a.card_id"
        " WHERE c.pan_hmac = $1", await system.pan_hmac(pan))
    by_kind = {row["kind"]: row["balance"] for row in rows}
    return by_kind.get("member_points", 0), by_kind.get("member_stored_value", 0)


async def owner_balance(system: RunningSystem, kind: str) -> int:
    return await system.fetchval(
        "SELECT coalesce(sum(balance), 0) FROM accounts WHERE kind = $1", kind)


class TestStoredValuePurchase:
    async def test_debits_stored_value_and_earns_points_then_51(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            load = await terminal.load_stored_value(CARDS[0], 10_000)
            assert (load["39"], points_tag(load)) == ("00", "+0")
            assert balances(load) == {POINTS: 0, STORED_VALUE: 10_000, MOVED: 0}

            spend = await terminal.purchase_stored_value(CARDS[0], 6_000)
            assert (spend["39"], points_tag(spend)) == ("00", "+60")
            assert balances(spend) == {POINTS: 60, STORED_VALUE: 4_000, MOVED: 60}
            assert len(spend["37"]) == 12 and len(spend["38"]) == 6

            short = await terminal.purchase_stored_value(CARDS[0], 4_001)
            assert short["39"] == "51" and "54" not in short
            assert await member(system, CARDS[0]) == (60, 4_000)
            entries = await system.fetch(
                "SELECT e.ledger, count(*) AS postings FROM transactions t"
                " JOIN journal_entries e ON e.transaction_id = t.id JOIN postings p"
                " ON p.entry_id = e.id WHERE t.kind = 'stored_value_purchase'"
                " GROUP BY e.id, e.ledger ORDER BY e.ledger")
            assert [tuple(row) for row in entries] == [("money", 2), ("points", 2)]
            assert await owner_balance(system, "merchant_stored_value_spent") == 6_000
            assert await owner_balance(system, "merchant_stored_value_loaded") == -10_000
            await assert_ledger_sound(system)


class TestRedemption:
    async def test_spends_points_and_51_when_short(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            await terminal.purchase(CARDS[1], 50_000)                      # +500
            spent = await terminal.redeem(CARDS[1], 200)
            assert (spent["39"], points_tag(spent)) == ("00", "-200")
            assert balances(spent) == {POINTS: 300, STORED_VALUE: 0, MOVED: -200}
            assert (await terminal.redeem(CARDS[1], 301))["39"] == "51"
            assert (await terminal.redeem(CARDS[1], 0))["39"] == "13"
            assert await member(system, CARDS[1]) == (300, 0)
            assert await owner_balance(system, "merchant_points_redeemed") == 200
            await assert_ledger_sound(system)

    async def test_gift_is_priced_from_the_catalogue(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            await terminal.purchase(CARDS[2], 20_000)                      # +200
            gift = await terminal.redeem(CARDS[2], GIFT_POINTS, gift_code=GIFT)
            assert (gift["39"], points_tag(gift)) == ("00", f"-{GIFT_POINTS}")
            cases = [
                (GIFT_POINTS + 1, GIFT, "13"),          # field 4 must be the gift's price
                (GIFT_POINTS, "NOSUCH", "12"),          # unknown gift
                (30, INACTIVE_GIFT, "05"),               # withdrawn from the catalogue
                (80, OTHER_ALLIANCE_GIFT, "12"),         # another alliance's catalogue
            ]
            for points, code, expected in cases:
                answer = await terminal.redeem(CARDS[2], points, gift_code=code)
                assert answer["39"] == expected, (points, code, answer)
            assert await member(system, CARDS[2]) == (200 - GIFT_POINTS, 0)
            await assert_ledger_sound(system)


class TestReturn:
    async def test_claws_back_proportionally_over_the_running_total(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            purchase = await terminal.purchase(CARDS[3], 10_000)           # earns 100
            assert points_tag(purchase) == "+100"
            rrns = {purchase["37"]}
            for amount, claw, left in ((3_333, 33, 67), (3_333, 33, 34), (3_334, 34, 0)):
                answer = await terminal.purchase_return(CARDS[3], amount, purchase["37"])
                assert (answer["39"], points_tag(answer)) == ("00", f"-{claw}")
                assert balances(answer) == {POINTS: left, STORED_VALUE: 0, MOVED: -claw}
                assert answer["37"] not in rrns        # the return's own new RRN
                rrns.add(answer["37"])
            assert (await terminal.purchase_return(CARDS[3], 1, purchase["37"]))["39"] == "13"
            returns = await system.fetch(
                "SELECT r.amount, r.points FROM transactions r JOIN transactions o"
                " ON o.id = r.original_transaction_id WHERE r.kind = 'return' ORDER BY r.id")
            assert [tuple(row) for row in returns] == [(3_333, -33), (3_333, -33), (3_334, -34)]
            assert await owner_balance(system, "merchant_points_issued") == 0
            await assert_ledger_sound(system)

    async def test_over_the_amount_13_and_unknown_original_25(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            purchase = await terminal.purchase(CARDS[4], 1_000)
            assert (await terminal.purchase_return(CARDS[4], 1_001, purchase["37"]))["39"] == "13"
            assert (await terminal.purchase_return(CARDS[4], 0, purchase["37"]))["39"] == "13"
            assert (await terminal.purchase_return(CARDS[4], 1, "999999999999"))["39"] == "25"
            # Another card's purchase, and an RRN that is not a purchase's, are no originals.
            assert (await terminal.purchase_return(CARDS[5], 1, purchase["37"]))["39"] == "25"
            inquiry = await terminal.inquiry(CARDS[4])
            assert (await terminal.purchase_return(CARDS[4], 1, inquiry["37"]))["39"] == "25"
            assert (await terminal.purchase_return(CARDS[4], 1_000, purchase["37"]))["39"] == "00"
            assert await member(system, CARDS[4]) == (0, 0)
            await assert_ledger_sound(system)

    async def test_return_of_another_alliances_purchase_is_25(self, database_url):
        async with running_system(database_url) as system, \
                system.terminal(SECOND_ALLIANCE_TERMINAL, SECOND_MERCHANT) as second, \
                system.terminal() as terminal:
            await second.sign_on()
            await terminal.sign_on()
            purchase = await second.purchase(SECOND_CARDS[0], 1_000)
            assert purchase["39"] == "00"
            # A card of the other alliance is unknown at this alliance's merchant (14) ...
            assert (await terminal.purchase(SECOND_CARDS[0], 100))["39"] == "14"
            # ... and this alliance's card cannot return the other alliance's purchase (25).
            assert (await terminal.purchase_return(CARDS[6], 100, purchase["37"]))["39"] == "25"
            await assert_ledger_sound(system)

    async def test_return_of_a_stored_value_purchase_refunds_it(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            await terminal.load_stored_value(CARDS[5], 10_000)
            purchase = await terminal.purchase_stored_value(CARDS[5], 10_000)   # +100 points
            answer = await terminal.purchase_return(CARDS[5], 4_000, purchase["37"])
            assert (answer["39"], points_tag(answer)) == ("00", "-40")
            assert balances(answer) == {POINTS: 60, STORED_VALUE: 4_000, MOVED: -40}
            assert await member(system, CARDS[5]) == (60, 4_000)
            assert await owner_balance(system, "merchant_stored_value_spent") == 6_000
            await assert_ledger_sound(system)

    async def test_points_below_zero_after_a_return_block_redemption(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            purchase = await terminal.purchase(CARDS[6], 10_000)            # +100
            assert (await terminal.redeem(CARDS[6], 100))["39"] == "00"    # 0 left
            answer = await terminal.purchase_return(CARDS[6], 10_000, purchase["37"])
            assert answer["39"] == "00"
            assert balances(answer) == {POINTS: -100, STORED_VALUE: 0, MOVED: -100}
            assert answer["54"].startswith("0001999D000000000100")
            assert (await terminal.redeem(CARDS[6], 1))["39"] == "51"
            await terminal.purchase(CARDS[6], 15_000)                       # +150: 50
            assert (await terminal.redeem(CARDS[6], 51))["39"] == "51"
            assert (await terminal.redeem(CARDS[6], 50))["39"] == "00"
            assert await member(system, CARDS[6]) == (0, 0)
            await assert_ledger_sound(system)


class TestLoadAndExchange:
    async def test_load_credits_stored_value_against_the_merchant(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            answer = await terminal.load_stored_value(CARDS[7], 2_500)
            assert (answer["39"], points_tag(answer)) == ("00", "+0")
            assert balances(answer) == {POINTS: 0, STORED_VALUE: 2_500, MOVED: 0}
            assert (await terminal.load_stored_value(CARDS[7], 0))["39"] == "13"
            assert await owner_balance(system, "merchant_stored_value_loaded") == -2_500
            transaction = (await system.fetch(
                "SELECT kind, amount, currency, points, stored_value_fen FROM transactions"))[0]
            assert tuple(transaction) == ("stored_value_load", 2_500, "156", 0, 2_500)
            await assert_ledger_sound(system)

    async def test_exchange_moves_both_ledgers_at_the_alliance_rate(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            await terminal.purchase(CARDS[8], 100_000)                      # +1000
            answer = await terminal.exchange_points(CARDS[8], 250)        # 100 points = 1 yuan
            assert (answer["39"], points_tag(answer)) == ("00", "-250")
            assert balances(answer) == {POINTS: 750, STORED_VALUE: 250, MOVED: -250}
            assert (await terminal.exchange_points(CARDS[8], 751))["39"] == "51"
            assert (await terminal.exchange_points(CARDS[8], 0))["39"] == "13"
            assert await owner_balance(system, "alliance_points_exchanged") == 250
            assert await owner_balance(system, "alliance_stored_value_exchange") == -250
            ledgers = await system.fetch(
                "SELECT e.ledger FROM journal_entries e JOIN transactions t"
                " ON t.id = e.transaction_id WHERE t.kind = 'points_exchange' ORDER BY 1")
            assert [row["ledger"] for row in ledgers] == ["money", "points"]
            await assert_ledger_sound(system)

    async def test_exchange_rounds_the_fen_down_and_debits_all_points(self, database_url):
        async with running_system(database_url) as system, \
                system.terminal(SECOND_ALLIANCE_TERMINAL, SECOND_MERCHANT) as terminal:
            await terminal.sign_on()
            await terminal.purchase(SECOND_CARDS[1], 100_000)                # +1000
            answer = await terminal.exchange_points(SECOND_CARDS[1], 100)  # 150 points = 1 yuan
            assert (answer["39"], points_tag(answer)) == ("00", "-100")
            assert balances(answer) == {POINTS: 900, STORED_VALUE: 66, MOVED: -100}
            assert (await terminal.exchange_points(SECOND_CARDS[1], 1))["39"] == "13"  # 0 fen
            await assert_ledger_sound(system)


class TestOfflineAdvice:
    async def test_lost_card_is_posted_and_flagged_unknown_card_acknowledged(
        self, database_url
    ):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            lost = await terminal.request(messages.offline_purchase_advice(LOST_CARD, 5_000, 1))
            assert (lost["t"], lost["39"], points_tag(lost)) == ("0230", "00", "+50")
            assert balances(lost) == {POINTS: 50, STORED_VALUE: 0, MOVED: 50}
            unknown = await terminal.request(
                messages.offline_purchase_advice(UNISSUED_CARD, 700, 1))
            assert (unknown["39"], points_tag(unknown)) == ("00", "+0")
            assert len(unknown["37"]) == 12 and len(unknown["38"]) == 6
            zero = await terminal.request(messages.offline_purchase_advice(CARDS[0], 0, 1))
            assert zero["39"] == "13"
            assert await member(system, LOST_CARD) == (50, 0)
            reviews = await system.fetch(
                "SELECT t.kind, t.amount, t.card_id IS NULL AS no_card, r.reason"
                " FROM review_items r JOIN transactions t ON t.id = r.transaction_id"
                " ORDER BY r.id")
            assert [tuple(row) for row in reviews] == [
                ("offline_purchase", 5_000, False, "card_lost"),
                ("offline_purchase", 700, True, "card_unknown")]
            # Both count in the batch: the terminal approved them.
            answer = await terminal.reconcile(Totals(purchases_count=2, purchases_fen=5_700))
            assert answer["39"] == "00"
            await assert_ledger_sound(system)


class TestReversal:
    async def test_undoes_once_and_later_reversals_change_nothing(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            await terminal.load_stored_value(CARDS[9], 10_000)
            original = await terminal.exchange(messages.purchase_stored_value(CARDS[9], 4_000, 1))
            assert balances(original.answer)[STORED_VALUE] == 6_000

            reversal = await terminal.exchange(messages.reversal(original.request))
            assert (reversal.answer["t"], reversal.answer["39"]) == ("0410", "00")
            assert await member(system, CARDS[9]) == (0, 10_000)
            counts = await _row_counts(system)
            rows = await system.fetch(
                "SELECT r.kind, r.points, r.stored_value_fen, o.kind AS original"
                " FROM transactions r JOIN transactions o ON o.id = r.original_transaction_id"
                " WHERE r.kind = 'reversal'")
            assert [tuple(row) for row in rows] == [
                ("reversal", -40, 4_000, "stored_value_purchase")]
            negated = await system.fetchval("""
                SELECT count(*) FROM postings p JOIN journal_entries e ON e.id = p.entry_id
                JOIN transactions t ON t.id = e.transaction_id WHERE t.kind = 'reversal'
                  AND p.amount = -(SELECT q.amount FROM postings q
                                   JOIN journal_entries f ON f.id = q.entry_id
                                   WHERE f.transaction_id = t.original_transaction_id
                                     AND q.account_id = p.account_id)""")
            assert negated == 4

            again = await terminal.request(reversal.request)                  # retransmitted
            assert again == reversal.answer
            advice = dict(messages.reversal(original.request, "17", advice=True))
            later = await terminal.request(advice)                            # a new one
            assert (later["t"], later["39"]) == ("0430", "00")
            assert await _row_counts(system) == counts
            assert await member(system, CARDS[9]) == (0, 10_000)
            # Reversed: out of the batch's totals.
            answer = await terminal.reconcile(Totals(loads_count=1, loads_fen=10_000))
            assert answer["39"] == "00"
            await assert_ledger_sound(system)

    async def test_declined_original_is_00_with_nothing_to_undo(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            declined = await terminal.exchange(messages.redemption(CARDS[0], 10, 1))
            assert declined.answer["39"] == "51"
            answer = await terminal.request(messages.reversal(declined.request))
            assert answer["39"] == "00"
            assert await system.fetchval("SELECT count(*) FROM transactions") == 0
            await assert_ledger_sound(system)

    async def test_reversal_that_would_overdraw_stored_value_is_51_and_flagged(
        self, database_url
    ):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            load = await terminal.exchange(messages.stored_value_load(CARDS[1], 5_000, 1))
            await terminal.purchase_stored_value(CARDS[1], 3_000)
            answer = await terminal.request(messages.reversal(load.request))
            assert answer["39"] == "51"
            assert await member(system, CARDS[1]) == (30, 2_000)
            reason = await system.fetchval(
                "SELECT r.reason FROM review_items r JOIN transactions t"
                " ON t.id = r.transaction_id WHERE t.kind = 'stored_value_load'")
            assert reason == "reversal_declined_stored_value_spent"
            await assert_ledger_sound(system)

    async def test_purchase_with_returns_is_05_until_they_are_reversed(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            purchase = await terminal.exchange(messages.purchase(CARDS[2], 10_000, 1))
            rrn = purchase.answer["37"]
            returned = await terminal.exchange(messages.purchase_return(CARDS[2], 5_000, 1, rrn))
            assert (await terminal.request(messages.reversal(purchase.request)))["39"] == "05"
            assert (await terminal.request(messages.reversal(returned.request)))["39"] == "00"
            assert await member(system, CARDS[2]) == (100, 0)
            # A new reversal (0420: not a retransmission of the first 0400) now undoes it.
            advice = messages.reversal(purchase.request, advice=True)
            assert (await terminal.request(advice))["39"] == "00"
            assert await member(system, CARDS[2]) == (0, 0)
            # A reversed purchase can no longer be returned.
            assert (await terminal.purchase_return(CARDS[2], 1, rrn))["39"] == "25"
            await assert_ledger_sound(system)

    async def test_unknown_original_is_25_and_its_late_arrival_05_across_restarts(
        self, database_url
    ):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            late = terminal.prepare(messages.purchase(CARDS[3], 1_000, 1))
            other_late = terminal.prepare(messages.stored_value_load(CARDS[3], 1_000, 1))
            for original in (late, other_late):
                answer = await terminal.request(messages.reversal(original))
                assert answer["39"] == "25"
            tombstones = await system.fetch(
                "SELECT mti, stan, transmission_time FROM reversal_tombstones ORDER BY stan")
            assert [tuple(row) for row in tombstones] == [
                ("0200", late["11"], late["7"]), ("0200", other_late["11"], other_late["7"])]

            assert (await terminal.request(late))["39"] == "05"
            await system.host.stop()
            await system.host.start(system.group)
            answer = await retry_until_host_is_back(terminal, other_late)
            assert answer["39"] == "05"
            assert await system.fetchval("SELECT count(*) FROM transactions") == 0
            await assert_ledger_sound(system)

    async def test_field_90_names_the_original_across_a_restart(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            purchase = await terminal.exchange(messages.purchase(CARDS[4], 20_000, 1))
            returned = await terminal.exchange(
                messages.purchase_return(CARDS[4], 5_000, 1, purchase.answer["37"]))
            await system.host.stop()
            await system.host.start(system.group)
            # Wait with an inquiry: a 0420 sent while the host is away is stored and answered
            # 00 at once by the front (store-and-forward), before the host has undone anything.
            await retry_until_host_is_back(terminal, messages.inquiry(CARDS[4]))
            answer = await terminal.request(messages.reversal(returned.request, advice=True))
            assert (answer["t"], answer["39"]) == ("0430", "00")
            assert await member(system, CARDS[4]) == (200, 0)
            # The reversed return gave its share back: the whole purchase may be returned.
            full = await terminal.purchase_return(CARDS[4], 20_000, purchase.answer["37"])
            assert (full["39"], points_tag(full)) == ("00", "-200")
            wrong = dict(messages.reversal(purchase.request))
            wrong["90"] = encode_original_data(OriginalData("0200", "999999", "0101000000"))
            assert (await terminal.request(wrong))["39"] == "25"
            await assert_ledger_sound(system)


class TestReconciliation:
    async def test_balanced_00_then_the_batch_is_closed(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            assert (await terminal.sign_on())["60"] == "000001"
            purchase = await terminal.purchase(CARDS[5], 10_000)           # +100 points
            await terminal.purchase_return(CARDS[5], 2_500, purchase["37"])
            await terminal.load_stored_value(CARDS[5], 3_000)
            await terminal.purchase_stored_value(CARDS[5], 1_000)          # +10 points
            await terminal.redeem(CARDS[5], 20)
            await terminal.exchange_points(CARDS[5], 30)
            await terminal.redeem(CARDS[5], 10_000)                          # 51: not counted
            totals = Totals(purchases_count=2, purchases_fen=11_000, returns_count=1,
                            returns_fen=2_500, redemptions_count=2, redemptions_points=50,
                            loads_count=1, loads_fen=3_000)
            answer = await terminal.reconcile(totals, batch_number=1)
            assert (answer["t"], answer["39"]) == ("0510", "00")
            assert "74" not in answer                  # the host's totals only with 95

            stale = await terminal.purchase(CARDS[5], 100, batch_number=1)
            assert stale["39"] == "12"
            assert (await terminal.reconcile(Totals(), batch_number=1))["39"] == "12"
            assert (await terminal.sign_on())["60"] == "000002"
            assert (await terminal.purchase(CARDS[5], 100))["39"] == "00"
            batches = await system.fetch(
                "SELECT batch_number, closed_at IS NOT NULL AS closed, result_code"
                " FROM terminal_batches WHERE terminal_code = 'TERM0001' ORDER BY batch_number")
            assert [tuple(row) for row in batches] == [(1, True, "00"), (2, False, None)]
            await assert_ledger_sound(system)

    async def test_unbalanced_95_with_the_hosts_totals_and_still_closes(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            await terminal.purchase(CARDS[6], 1_234)
            await terminal.load_stored_value(CARDS[6], 500)
            answer = await terminal.reconcile(Totals(purchases_count=1, purchases_fen=1_000))
            assert answer["39"] == "95"
            assert (answer["74"], answer["86"], answer["77"], answer["89"]) == (
                "0000000001", "0000000000001234", "0000000001", "0000000000000500")
            assert (answer["75"], answer["76"], answer["87"], answer["88"]) == (
                "0000000000", "0000000000", "0" * 16, "0" * 16)
            assert (await terminal.purchase(CARDS[6], 100, batch_number=1))["39"] == "12"
            assert (await terminal.sign_on())["60"] == "000002"
            # The totals of the new batch start from zero, also after a host restart.
            await terminal.purchase(CARDS[6], 200)
            await system.host.stop()
            await system.host.start(system.group)
            # Retried as a terminal does, the same 0500 (its STAN and field 7): one answered 91
            # is also owed by the front's store-and-forward, which may close the batch first,
            # and then the retransmission gets that first answer (a new 0500 would get 12).
            reconciliation = terminal.prepare(messages.reconciliation(
                2, Totals(purchases_count=1, purchases_fen=200)))
            answer = await retry_until_host_is_back(terminal, reconciliation)
            assert answer["39"] == "00"
            assert (await terminal.sign_on())["60"] == "000003"
            batches = await system.fetch(
                "SELECT batch_number, closed_at IS NOT NULL AS closed, result_code"
                " FROM terminal_batches WHERE terminal_code = 'TERM0001' ORDER BY batch_number")
            assert [tuple(row) for row in batches] == [
                (1, True, "95"), (2, True, "00"), (3, False, None)]
            await assert_ledger_sound(system)


class TestFieldLimits:
    async def test_refunds_stop_at_what_field_54_shows(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            await terminal.load_stored_value(CARDS[9], FIELD_4_MAX)
            spent = await terminal.exchange(messages.purchase_stored_value(CARDS[9], 100, 1))
            assert (await terminal.load_stored_value(CARDS[9], 100))["39"] == "00"
            refund = await terminal.purchase_return(CARDS[9], 100, spent.answer["37"])
            assert refund["39"] == "61"
            assert (await terminal.reverse(spent.request))["39"] == "61"
            assert await member(system, CARDS[9]) == (1, FIELD_4_MAX)
            reason = await system.fetchval("SELECT reason FROM review_items")
            assert reason == "reversal_declined_balance_limit"
            await assert_ledger_sound(system)

    async def test_amounts_of_1_and_999999999999(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            big = await terminal.load_stored_value(CARDS[7], FIELD_4_MAX)
            assert balances(big)[STORED_VALUE] == FIELD_4_MAX
            # Field 54 shows 12 digits: no balance may go beyond them.
            assert (await terminal.load_stored_value(CARDS[7], 1))["39"] == "61"
            spent = await terminal.purchase_stored_value(CARDS[7], FIELD_4_MAX)
            assert balances(spent) == {POINTS: 9_999_999_999, STORED_VALUE: 0,
                                       MOVED: 9_999_999_999}
            assert (await terminal.redeem(CARDS[7], 1))["39"] == "00"
            exchanged = await terminal.exchange_points(CARDS[7], 9_999_999_998)
            assert balances(exchanged) == {POINTS: 0, STORED_VALUE: 9_999_999_998,
                                           MOVED: -9_999_999_998}
            one = await terminal.purchase_stored_value(CARDS[7], 1)
            assert (one["39"], points_tag(one)) == ("00", "+0")
            assert (await terminal.load_stored_value(CARDS[7], 1))["39"] == "00"
            purchase = await terminal.purchase(CARDS[8], FIELD_4_MAX)
            returned = await terminal.purchase_return(CARDS[8], 1, purchase["37"])
            assert (returned["39"], points_tag(returned)) == ("00", "+0")   # floor(P/A) = 0
            rest = await terminal.purchase_return(CARDS[8], FIELD_4_MAX - 1, purchase["37"])
            assert points_tag(rest) == "-9999999999"
            await assert_ledger_sound(system)


async def _row_counts(system: RunningSystem) -> tuple[int, ...]:
    row = (await system.fetch(
        "SELECT (SELECT count(*) FROM transactions), (SELECT count(*) FROM journal_entries),"
        " (SELECT count(*) FROM postings)"))[0]
    return tuple(row)
