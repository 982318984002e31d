"""A hypothesis stateful test of the whole transaction set, end to end: random sequences of
earns, redemptions (points and gifts), lottery draws, stored-value loads and purchases,
exchanges, offline
advices, returns, reversals (of what was sent, and of what was not: tombstones), retransmissions
(the same, and changed: 94), reconciliations and host restarts, through the real system (front,
switch and host over TCP, PostgreSQL). The plain-Python model in ledger_model.py predicts every
answer code, field 54 and tag PT; after each sequence every card's inquiry, every terminal's
reconciliation and every account's balance in the database must agree with it, and `jifen
audit`'s checks must pass.

Each example gets a fresh database and a fresh system, run in a background thread's event loop
(an AnyIO blocking portal), so that the rules are plain synchronous methods.

    JIFEN_MODEL_EXAMPLES=200 .venv/bin/pytest tests/e2e/test_ledger_model.py

raises the number of sequences (10 by default, about 20 s; 500 take about 15 minutes).
"""

from __future__ import annotations

import os
import sys
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import anyio
import asyncpg
import msgspec
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from back_office.ledger_check import audit_database
from database import with_database
from devices import messages
from devices.terminal_client import TerminalClient
from proto.fields import parse_balances, parse_tlv, totals_from_fields
from proto.frames import Totals
from proto.lots import read_lots
from proto.lottery import PrizeTable
from proto.tiers import Tier, Tiers
from tests.e2e.ledger_model import (
    Alliance,
    Card,
    Expected,
    Gift,
    LedgerModel,
    Lottery,
    Merchant,
    request_key,
)
from tests.e2e.system import (
    CARDS,
    GIFT,
    LOST_CARD,
    MERCHANT,
    OTHER_MERCHANT,
    SECOND_CARDS,
    SECOND_MERCHANT,
    TERMINAL,
    running_system,
    seed,
)
from tests.keys_kit import card_pans

Fields = dict[str, str]

# TEST's tiers (fen in the rolling 12 months), all at the base rate (points stay the
# merchant's): DIAMOND only by the largest purchases, beyond a month's 32-bit count.
MODEL_TIERS = (("SILVER", 0), ("GOLD", 100_000), ("PLATINUM", 400_000),
               ("DIAMOND", 4_000_000_000))
MODEL_EXAMPLES = int(os.environ.get("JIFEN_MODEL_EXAMPLES", "10"))
STEPS_PER_EXAMPLE = 40
# A restart costs the switch's reconnection; three per sequence show what a restart loses.
RESTARTS_PER_EXAMPLE_MAX = 3
# Each example takes a few seconds; shrinking a failure takes many more.
TEST_TIMEOUT_S = 240 + 20 * MODEL_EXAMPLES
ANSWER_TIMEOUT_S = 10.0
HOST_BACK_TIMEOUT_S = 20.0
SQL_TIMEOUT_S = 30.0
FIELD_4_MAX = 999_999_999_999   # n12
MEMBER_BALANCE_MAX = 999_999_999_999   # docs/ledger.md: the most field 54's 12 digits show

# A third terminal, at the merchant that earns 2 points per yuan (seeded here only).
RATE_TWO_TERMINAL = "TERM0031"
SECOND_ALLIANCE_TERMINAL = "TERM0021"
TERMINALS = {TERMINAL: MERCHANT, RATE_TWO_TERMINAL: OTHER_MERCHANT,
             SECOND_ALLIANCE_TERMINAL: SECOND_MERCHANT}
PLAYED_CARDS = [CARDS[0], CARDS[1], SECOND_CARDS[0], LOST_CARD]
EXTRA_SEED_SQL = f"""
INSERT INTO terminals (terminal_code, merchant_id, requires_mac)
VALUES ('{RATE_TWO_TERMINAL}', (SELECT id FROM merchants WHERE merchant_code = '{OTHER_MERCHANT}'),
        false);
-- One in stock and cheap, so that examples run a gift out of stock and reversals put it back
-- (the audit after each example counts the stock against the journal).
UPDATE gift_catalogue SET stock = 1, stock_initial = 1, points = 2 WHERE gift_code = '{GIFT}';
-- Points may pay 30 % of an order in alliance TEST (the other keeps the default, half).
UPDATE alliances SET order_points_share_bp = 3000 WHERE code = 'TEST';
-- Points of alliance TEST expire (each earning a lot: the final state checks them), with no
-- other rule: every merchant earns its own rate, as the model has it.
INSERT INTO earn_rule_sets (alliance_id, effective_from, document)
SELECT id, date '2020-01-01', '{{"expiry": {{"months": 12}}}}' FROM alliances WHERE code = 'TEST';
"""
# The TEST alliance's lottery: a draw costs 50 points; a prize of 120 points (3 in stock) in
# 30 % of draws, a gift in 20 %, nothing in the rest.
LOTTERY_PRICE = 50
LOTTERY_TABLE = """{"prizes": [
    {"code": "WIN", "kind": "points", "ppm": 300000, "points": 120, "stock": 3},
    {"code": "MUG", "kind": "gift", "ppm": 200000, "gift_code": "MUG"}]}"""
CARD_STATUS_DECLINES = {"active": None, "lost": "41", "stolen": "43", "blocked": "05"}
CARD_EXPIRED = "54"   # after 41 and 43, before a blocked card's 05 (host interface §4)


# ---- the system, one per example --------------------------------------------------------------

@dataclass(frozen=True)
class Environment:
    portal: BlockingPortal
    server_url: str
    template_database: str


class SteppingClock:
    """A terminal clock one second further at every read, so that no two requests share a
    field 7 (a reversal repeats its original's STAN: its own field 7 keeps its key new)."""

    def __init__(self) -> None:
        self._next = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        now, self._next = self._next, self._next + timedelta(seconds=1)
        return now


class Harness:
    """A fresh database and system, and a signed-on terminal client per terminal."""

    def __init__(self, environment: Environment) -> None:
        self.portal = environment.portal
        self.server_url = environment.server_url
        self.database_name = f"jifen_model_{uuid.uuid4().hex}"
        self.database_url = with_database(self.server_url, self.database_name)
        self._stack = ExitStack()
        self._stack.callback(self.portal.call, _drop_database, self.server_url,
                             self.database_name)
        try:
            self.portal.call(_create_database, self.server_url, self.database_name,
                             environment.template_database)
            self.world = self.portal.call(_seed, self.database_url)
            self.system = self._stack.enter_context(self.portal.wrap_async_context_manager(
                running_system(self.database_url, seeded=False)))
            clock = SteppingClock()
            self.clients: dict[str, TerminalClient] = {}
            for terminal, merchant in TERMINALS.items():
                client = TerminalClient("127.0.0.1", self.system.front_port, terminal, merchant,
                                        timeout_s=ANSWER_TIMEOUT_S, clock=clock)
                self.clients[terminal] = self._stack.enter_context(
                    self.portal.wrap_async_context_manager(client))
                answer = self.portal.call(client.sign_on)
                assert (answer["39"], answer["60"]) == ("00", "000001"), answer
        except BaseException:
            self.close()
            raise

    def prepare(self, fields: Fields) -> Fields:
        """The request as its terminal will send it (7, 11, 12, 13, 22, 25, 41, 42 filled)."""
        terminal = fields.get("41", TERMINAL)
        return self.clients[terminal].prepare(fields)

    def request(self, request: Fields) -> Fields:
        return self.portal.call(self.clients[request["41"]].request, request)

    def pipeline(self, requests: list[Fields]) -> list[Fields]:
        """Send all at once, in this order, on their terminal's connection: the host takes
        them in one group commit, or a few."""
        async def send_all() -> list[Fields]:
            answers: list[Fields] = [{} for _ in requests]

            async def send(index: int) -> None:
                request = requests[index]
                answers[index] = await self.clients[request["41"]].request(request)

            async with anyio.create_task_group() as group:
                for index in range(len(requests)):
                    group.start_soon(send, index)
            return answers

        return self.portal.call(send_all)

    def request_until_host_is_back(self, request: Fields) -> Fields:
        """The same request until it is not 91: one that the host never saw is new to it, and
        one that it saw gets its first answer, so the host takes it once either way."""
        async def resend() -> Fields:
            with anyio.fail_after(HOST_BACK_TIMEOUT_S):
                while True:
                    answer = await self.clients[request["41"]].request(request)
                    if answer["39"] != "91":
                        return answer
                    await anyio.sleep(0.05)

        return self.portal.call(resend)

    def restart_host(self) -> None:
        self.portal.call(self.system.host.stop)
        self.portal.call(self.system.host.start, self.system.group)

    def fetch(self, query: str) -> list[asyncpg.Record]:
        return self.portal.call(self.system.fetch, query)

    def close(self) -> None:
        self._stack.close()


async def _create_database(server_url: str, name: str, template: str) -> None:
    with anyio.fail_after(SQL_TIMEOUT_S):
        connection = await asyncpg.connect(server_url)
        try:
            await connection.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
        finally:
            await connection.close()


async def _drop_database(server_url: str, name: str) -> None:
    with anyio.fail_after(SQL_TIMEOUT_S):
        connection = await asyncpg.connect(server_url)
        try:
            await connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await connection.close()


async def _seed(database_url: str) -> tuple[dict[str, Merchant], dict[str, Card]]:
    """Seed the database; the model's terminals and cards, read back from it."""
    await seed(database_url)
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(EXTRA_SEED_SQL)
        campaign = await connection.fetchrow(
            "INSERT INTO lottery_campaigns (alliance_id, code, draw_price_points, prize_table)"
            " SELECT id, 'MODEL', $1, $2::jsonb FROM alliances WHERE code = 'TEST'"
            " RETURNING id, secret, prize_table::text AS prize_table", LOTTERY_PRICE,
            LOTTERY_TABLE)
        await connection.execute("INSERT INTO lottery_prize_stock VALUES ($1, 'WIN', 3)",
                                 campaign["id"])
        await connection.execute(   # TEST's rules (expiry, above) have tiers too
            "UPDATE earn_rule_sets SET document = document || jsonb_build_object('tiers',"
            " $1::jsonb) WHERE alliance_id = (SELECT id FROM alliances WHERE code = 'TEST')",
            msgspec.json.encode(Tiers(tuple(Tier(code, threshold)
                                            for code, threshold in MODEL_TIERS))).decode())
        gifts: dict[str, dict[str, Gift]] = {}
        for row in await connection.fetch(
                "SELECT a.code, g.gift_code, g.points, g.stock, g.active FROM gift_catalogue g "
                "JOIN alliances a ON a.id = g.alliance_id"):
            gifts.setdefault(row["code"], {})[row["gift_code"]] = Gift(
                row["points"], row["stock"], row["active"])
        # No PAN is stored in clear: open them as the back office would.
        pans = await card_pans(database_url)
        table = msgspec.json.decode(campaign["prize_table"], type=PrizeTable)
        lottery = Lottery(LOTTERY_PRICE, table, bytes(campaign["secret"]),
                          [prize.stock for prize in table.prizes],
                          {pan: card_id for card_id, pan in pans.items()})
        alliances = {row["code"]: Alliance(row["code"], row["exchange_points_per_yuan"],
                                           gifts.get(row["code"], {}),
                                           row["order_points_share_bp"],
                                           lottery if row["code"] == "TEST" else None,
                                           MODEL_TIERS if row["code"] == "TEST" else ())
                     for row in await connection.fetch("SELECT * FROM alliances")}
        merchants = {row["merchant_code"]: Merchant(row["merchant_code"], alliances[row["code"]],
                                                    row["earn_points_per_yuan"])
                     for row in await connection.fetch(
                         "SELECT m.merchant_code, a.code, m.earn_points_per_yuan "
                         "FROM merchants m JOIN alliances a ON a.id = m.alliance_id")}
        card_rows = await connection.fetch(
            "SELECT c.id, a.code, c.status, c.expires_on FROM cards c "
            "JOIN alliances a ON a.id = c.alliance_id")
    finally:
        await connection.close()
    cards = {pans[row["id"]]: Card(alliances[row["code"]], _card_decline(row))
             for row in card_rows}
    return {terminal: merchants[merchant] for terminal, merchant in TERMINALS.items()}, cards


def _card_decline(card: asyncpg.Record) -> str | None:
    decline = CARD_STATUS_DECLINES[card["status"]]
    if decline in ("41", "43"):
        return decline
    return CARD_EXPIRED if card["expires_on"] < datetime.now(UTC).date() else decline


def _at(terminal: str, fields: Fields) -> Fields:
    """The request as sent from `terminal` (fields 41 and 42)."""
    return dict(fields, **{"41": terminal, "42": TERMINALS[terminal]})


# ---- the rules -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sent:
    request: Fields
    answer: Fields


@dataclass(frozen=True)
class Unsent:
    """A request prepared (its key fixed) but not sent: its reversal came first."""

    request: Fields


ALL_PAIRS = [(terminal, pan) for terminal in TERMINALS for pan in PLAYED_CARDS]
# Mostly a terminal and a card of the same alliance, and mostly the first card, so that its
# balances grow enough to spend; sometimes any pair (14, 41).
USABLE_PAIRS = [*[(TERMINAL, CARDS[0])] * 3, *[(RATE_TWO_TERMINAL, CARDS[0])] * 2,
                *[(SECOND_ALLIANCE_TERMINAL, SECOND_CARDS[0])] * 2, (TERMINAL, CARDS[1])]
OPENING_PAIRS = [(TERMINAL, CARDS[0]), (TERMINAL, CARDS[1]),
                 (SECOND_ALLIANCE_TERMINAL, SECOND_CARDS[0])]
WHERE = st.one_of(*[st.sampled_from(USABLE_PAIRS)] * 3, st.sampled_from(ALL_PAIRS))
FEN = st.one_of(st.integers(1, 100_000), st.sampled_from([0, 1, 99, 100, FIELD_4_MAX]))
POINTS = st.one_of(st.integers(1, 400), st.sampled_from([0, 1, 149, 150, FIELD_4_MAX]))
# What a debit asks for: a number, or a share of the member's balance (per mille: up to a
# little more than all of it), so that debits are approved often enough to matter.
SPEND = st.one_of(*[st.integers(1, 1_100).map(lambda per_mille: ("per_mille", per_mille))] * 2,
                  POINTS.map(lambda amount: ("amount", amount)))
# TEA (one in stock) most often, so that examples take the last one and find none left.
GIFTS = st.sampled_from(["TEA", "TEA", "TEA", "TEA", "MUG", "BOOK", "NOSUCHGIFT"])
CREDITS = ["earn", "load", "offline"]
PIPELINED_MAX = 8
UNSENT_KINDS = st.sampled_from(["purchase", "stored_value_purchase", "redemption", "load",
                                "exchange", "offline"])


class LedgerMachine(RuleBasedStateMachine):
    sent = Bundle("sent")
    unsent = Bundle("unsent")
    reconciliations = Bundle("reconciliations")

    def __init__(self, environment: Environment) -> None:
        super().__init__()
        self.harness = Harness(environment)
        terminals, cards = self.harness.world
        self.model = LedgerModel(terminals, cards)
        self.first_answers: dict[tuple[str, ...], Fields] = {}
        self.restarts = 0
        self.purchase_terminals: dict[str, str] = {}   # RRN -> the terminal it was made at
        self.rrns: set[str] = set()   # of every approval: each must be new

    @initialize(target=sent, purchase_fen=st.integers(0, 300_000),
                load_fen=st.integers(0, 300_000))
    def opening_balances(self, purchase_fen, load_fen):
        """Each card in play starts with some points and stored value (or none), so that
        spending them is often approved."""
        opening = []
        for where in OPENING_PAIRS:
            if purchase_fen:
                opening.append(self._financial(where, messages.purchase, purchase_fen))
            if load_fen:
                opening.append(self._financial(where, messages.stored_value_load, load_fen))
        return multiple(*opening)

    # ---- requests that post ------------------------------------------------------------------

    @rule(target=sent, where=WHERE, amount=FEN)
    def earn(self, where, amount):
        return self._financial(where, messages.purchase, amount)

    @rule(target=sent, where=WHERE, spend=SPEND)
    def purchase_from_stored_value(self, where, spend):
        amount = self._spend(spend, self.model.member_balances(where[1])[1])
        return self._financial(where, messages.purchase_stored_value, amount)

    @rule(target=sent, where=WHERE, amount=FEN)
    def offline_purchase(self, where, amount):
        return self._financial(where, messages.offline_purchase_advice, amount)

    @rule(target=sent, where=WHERE, amount=FEN)
    def load_stored_value(self, where, amount):
        return self._financial(where, messages.stored_value_load, amount)

    @rule(target=sent, where=WHERE, spend=SPEND)
    def redeem(self, where, spend):
        points = self._spend(spend, self.model.member_balances(where[1])[0])
        return self._financial(where, messages.redemption, points)

    @rule(target=sent, where=WHERE, spend=SPEND, order_fen=st.integers(0, 200_000))
    def redeem_for_order(self, where, spend, order_fen):
        """Points paying part of an order (tag OA), around the alliance's share of it."""
        terminal, pan = where
        points = self._spend(spend, self.model.member_balances(pan)[0])
        batch = self._batch(terminal)
        return self._send(_at(terminal, messages.redemption(pan, points, batch,
                                                            order_fen=order_fen)))

    @rule(target=sent, where=WHERE, gift=GIFTS, priced=st.sampled_from([True, True, False]))
    def redeem_gift(self, where, gift, priced):
        terminal, pan = where
        known = self.model.terminals[terminal].alliance.gifts.get(gift)
        price = 50 if known is None else known.points
        points = price if priced else price + 1
        batch = self._batch(terminal)
        return self._send(_at(terminal, messages.redemption(pan, points, batch, gift)))

    @rule(target=sent, where=WHERE, priced=st.sampled_from([True, True, True, False]))
    def lottery_draw(self, where, priced):
        """910000: the draw price (or not: 13); TEST's campaign only (the other alliance has
        none: 12)."""
        stake = LOTTERY_PRICE if priced else LOTTERY_PRICE + 1
        return self._financial(where, messages.lottery_draw, stake)

    @rule(target=sent, where=WHERE, spend=SPEND)
    def exchange_points(self, where, spend):
        points = self._spend(spend, self.model.member_balances(where[1])[0])
        return self._financial(where, messages.points_exchange, points)

    @precondition(lambda self: self.model.purchases)
    @rule(target=sent, which=st.integers(0, 1_000),
          terminal=st.sampled_from(["the purchase's"] * 3 + list(TERMINALS)),
          share=st.sampled_from(["part", "rest", "over"]), per_mille=st.integers(1, 999),
          other_card=st.sampled_from([False, False, False, True]))
    def return_purchase(self, which, terminal, share, per_mille, other_card):
        """200000 of an approved purchase (the `which`-th, modulo their number) by its RRN:
        part of what is left, all of it, or more."""
        rrns = list(self.model.purchases)
        rrn = rrns[which % len(rrns)]
        purchase = self.model.purchases[rrn]
        left = purchase.amount - purchase.returned
        amount = {"part": max(1, left * per_mille // 1000), "rest": left,
                  "over": min(left + 1, FIELD_4_MAX)}[share]
        pan = purchase.card
        terminal = self.purchase_terminals[rrn] if terminal == "the purchase's" else terminal
        if other_card:
            pan = CARDS[1] if pan == CARDS[0] else CARDS[0]
        fields = messages.purchase_return(pan, amount, self._batch(terminal), rrn)
        return self._send(_at(terminal, fields))

    @rule(target=sent, where=st.sampled_from(USABLE_PAIRS),
          credits=st.lists(st.tuples(st.sampled_from(CREDITS), st.integers(1, 100_000)),
                           min_size=2, max_size=PIPELINED_MAX))
    def pipelined_credits(self, where, credits):
        """Several earns, loads and advices for one card in flight at once, so that one group
        commit posts to the same accounts several times. Credits commute: each answer's code
        and PT do not depend on the order the host takes them in (field 54 does: not
        checked here; the balances are, after the sequence)."""
        terminal, pan = where
        if max(self.model.member_balances(pan)) > MEMBER_BALANCE_MAX // 2:
            return multiple()   # near the limit (61), the order would matter
        build = {"earn": messages.purchase, "load": messages.stored_value_load,
                 "offline": messages.offline_purchase_advice}
        requests = [self.harness.prepare(_at(terminal, build[kind](pan, amount,
                                                                    self._batch(terminal))))
                    for kind, amount in credits]
        expected = [self.model.expect(request) for request in requests]
        answers = self.harness.pipeline(requests)
        for request, answer, expectation in zip(requests, answers, expected, strict=True):
            self._check(request, answer, replace(expectation, balances=None))
        return multiple(*(Sent(request, answer)
                          for request, answer in zip(requests, answers, strict=True)))

    @rule(target=sent, where=WHERE, amount=FEN)
    def return_unknown_purchase(self, where, amount):
        terminal, pan = where
        fields = messages.purchase_return(pan, amount, self._batch(terminal), "999999999999")
        return self._send(_at(terminal, fields))

    # ---- reversals, retransmissions, reconciliation, restarts --------------------------------

    @rule(target=sent, original=sent, advice=st.booleans(),
          reason=st.sampled_from(["68", "17", "06"]))
    def reverse(self, original, advice, reason):
        return self._send(messages.reversal(original.request, reason, advice))

    @rule(target=unsent, where=WHERE, kind=UNSENT_KINDS, amount=POINTS, advice=st.booleans())
    def reverse_before_the_original(self, where, kind, amount, advice):
        """The reversal of a request the host never saw: 25, and its original is declined
        (05) when it arrives."""
        terminal, pan = where
        build = {"purchase": messages.purchase,
                 "stored_value_purchase": messages.purchase_stored_value,
                 "redemption": messages.redemption, "load": messages.stored_value_load,
                 "exchange": messages.points_exchange,
                 "offline": messages.offline_purchase_advice}[kind]
        original = self.harness.prepare(_at(terminal, build(pan, amount, self._batch(terminal))))
        self._send(messages.reversal(original, "68", advice))
        return Unsent(original)

    @rule(target=sent, original=consumes(unsent))
    def send_the_late_original(self, original):
        return self._send(original.request)

    @rule(original=sent)
    def retransmit(self, original):
        self._send(original.request)

    @rule(original=sent)
    def retransmit_changed(self, original):
        request = original.request
        changed = f"{(int(request['4']) + 1) % 10**12:012d}"
        self._send(dict(request, **{"4": changed}))

    @rule(target=reconciliations, terminal=st.sampled_from(list(TERMINALS)),
          balanced=st.booleans())
    def reconcile(self, terminal, balanced):
        totals = self.model.batches[terminal].totals()
        if not balanced:
            totals = Totals(*(count + 1 for count in msgspec.structs.astuple(totals)))
        fields = messages.reconciliation(self._batch(terminal), totals)
        return self._send(_at(terminal, fields))

    @rule(original=reconciliations)
    def retransmit_reconciliation(self, original):
        self._send(original.request)

    @precondition(lambda self: self.restarts < RESTARTS_PER_EXAMPLE_MAX)
    @rule()
    def restart_host(self):
        self.restarts += 1
        self.harness.restart_host()
        request = self.harness.prepare(messages.inquiry(CARDS[0]))
        expected = self.model.expect(request)
        self._check(request, self.harness.request_until_host_is_back(request), expected)

    # ---- after each sequence ------------------------------------------------------------------

    def teardown(self):
        failing = sys.exc_info()[0] is not None
        try:
            if not failing:
                self._check_final_state()
        finally:
            self.harness.close()

    def _check_final_state(self):
        for pan in PLAYED_CARDS:
            terminal = SECOND_ALLIANCE_TERMINAL if pan in SECOND_CARDS else TERMINAL
            self._send(_at(terminal, messages.inquiry(pan)))
        for terminal in TERMINALS:
            fields = messages.reconciliation(self._batch(terminal),
                                             self.model.batches[terminal].totals())
            answer = self._send(_at(terminal, fields))
            assert answer.answer["39"] == "00", (terminal, answer)
        report = self.harness.portal.call(audit_database, self.harness.database_url)
        assert report.clean, [violation.describe() for violation in report.violations()]
        rows = self.harness.fetch("""
            SELECT a.kind, a.card_id, coalesce(m.merchant_code, l.code) AS owner, a.balance
            FROM accounts a
            LEFT JOIN merchants m ON m.id = a.merchant_id
            LEFT JOIN alliances l ON l.id = a.alliance_id""")
        pans = self.harness.portal.call(card_pans, self.harness.database_url)
        in_database = {(row["kind"], pans[row["card_id"]] if row["card_id"] else row["owner"]):
                       row["balance"] for row in rows if row["balance"]}
        modelled = {account: balance for account, balance in self.model.balances.items()
                    if balance}
        assert in_database == modelled
        self._check_lots(pans)

    def _check_lots(self, pans: dict[int, str]) -> None:
        """Every point of alliance TEST was earned under its expiry, all on the sequence's
        day: the lots hold exactly the balance above zero, ending a year on; the other alliance's
        points never expire (no lots)."""
        rows = self.harness.fetch("""
            SELECT a.card_id, a.balance, a.lots, l.code AS alliance
            FROM accounts a JOIN cards c ON c.id = a.card_id JOIN alliances l
              ON l.id = c.alliance_id WHERE a.kind = 'member_points'""")
        for row in rows:
            lots = read_lots(row["lots"])
            pan = pans[row["card_id"]]
            if row["alliance"] != "TEST":
                assert lots == [], (pan, lots)
                continue
            assert sum(points for _, points in lots) == max(0, row["balance"]), (pan, lots)
            assert all(day > date.today() for day, _ in lots), (pan, lots)

    # ---- sending and checking ------------------------------------------------------------

    @staticmethod
    def _spend(spend: tuple[str, int], balance: int) -> int:
        how, amount = spend
        if how == "amount":
            return amount
        return min(max(1, balance * amount // 1000), FIELD_4_MAX)

    def _batch(self, terminal: str) -> int:
        return self.model.batches[terminal].number

    def _financial(self, where, build, amount) -> Sent:
        terminal, pan = where
        fields = build(pan, amount, self._batch(terminal))
        return self._send(_at(terminal, fields))

    def _send(self, fields: Fields) -> Sent:
        request = self.harness.prepare(fields)
        expected = self.model.expect(request)
        answer = self.harness.request(request)
        self._check(request, answer, expected)
        return Sent(request, answer)

    def _check(self, request: Fields, answer: Fields, expected: Expected) -> None:
        key = request_key(request)
        where = f"{key} {request.get('3')} field 4 {request.get('4')}"
        if expected.retransmission:
            assert answer == self.first_answers[key], f"retransmission {where}"
            return
        assert answer["39"] == expected.code, \
            f"{where}: answered {answer['39']}, the model expects {expected.code}"
        if expected.code != "94":
            self.first_answers[key] = answer
        if expected.code == "00" and answer["t"] in ("0110", "0210", "0230"):
            assert answer["37"] not in self.rrns, f"{where}: RRN {answer['37']} given twice"
            self.rrns.add(answer["37"])
            assert answer["t"] == "0110" or len(answer["38"]) == 6, where
        if expected.balances is not None:
            assert parse_balances(answer["54"]) == expected.balances, where
        if expected.points_moved is not None:
            assert parse_tlv(answer["48"])["PT"] == f"{expected.points_moved:+d}", where
        if expected.prize is not None:
            assert parse_tlv(answer["48"])["LD"] == expected.prize, where
        if expected.code == "00" and answer["t"] in ("0110", "0210", "0230"):
            tier = parse_tlv(answer.get("48", "")).get("TR")
            assert tier == expected.tier, f"{where}: TR {tier}, the model expects {expected.tier}"
        if expected.totals is not None:
            assert totals_from_fields(answer) == expected.totals, where
        if expected.purchase is not None:
            self.model.learn_rrn(expected.purchase, answer["37"])
            self.purchase_terminals[answer["37"]] = request["41"]


@pytest.mark.timeout(TEST_TIMEOUT_S)
def test_random_sequences_agree_with_the_model(postgres_server_url, template_database):
    with start_blocking_portal("asyncio") as portal:
        environment = Environment(portal, postgres_server_url, template_database)
        run_state_machine_as_test(
            lambda: LedgerMachine(environment),
            settings=settings(
                max_examples=MODEL_EXAMPLES, stateful_step_count=STEPS_PER_EXAMPLE,
                deadline=None, suppress_health_check=[HealthCheck.too_slow],
            ),
        )


# ---- the balance limit and field 54, known answers -------------------------------------------

def _assert_field_54_well_formed(answer: Fields) -> None:
    blocks = answer["54"]
    assert len(blocks) % 20 == 0, f"field 54 {blocks!r} is not 20-character blocks"
    for amount in parse_balances(blocks).values():
        assert abs(amount) <= MEMBER_BALANCE_MAX


@pytest.mark.anyio
@pytest.mark.parametrize("refund", ["return", "reversal"])
async def test_a_refund_never_takes_stored_value_beyond_field_54(database_url, refund):
    async with running_system(database_url) as system, system.terminal() as terminal:
        await terminal.sign_on()
        assert (await terminal.load_stored_value(CARDS[0], MEMBER_BALANCE_MAX))["39"] == "00"
        spent = await terminal.exchange(messages.purchase_stored_value(CARDS[0], 100, 1))
        assert spent.answer["39"] == "00"
        assert (await terminal.load_stored_value(CARDS[0], 100))["39"] == "00"
        if refund == "return":
            answer = await terminal.purchase_return(CARDS[0], 100, spent.answer["37"])
        else:
            answer = await terminal.reverse(spent.request)
        assert answer["39"] == "61"
        _assert_field_54_well_formed(await terminal.inquiry(CARDS[0]))


@pytest.mark.anyio
async def test_an_advice_beyond_the_limit_keeps_field_54_well_formed(database_url):
    await seed(database_url)
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(EXTRA_SEED_SQL)
        campaign = await connection.fetchrow(
            "INSERT INTO lottery_campaigns (alliance_id, code, draw_price_points, prize_table)"
            " SELECT id, 'MODEL', $1, $2::jsonb FROM alliances WHERE code = 'TEST'"
            " RETURNING id, secret, prize_table::text AS prize_table", LOTTERY_PRICE,
            LOTTERY_TABLE)
        await connection.execute("INSERT INTO lottery_prize_stock VALUES ($1, 'WIN', 3)",
                                 campaign["id"])
    finally:
        await connection.close()
    async with running_system(database_url, seeded=False) as system, \
            system.terminal(RATE_TWO_TERMINAL, OTHER_MERCHANT) as terminal:
        await terminal.sign_on()
        # 50 purchases of the most field 4 holds, at 2 points per yuan: 999,999,999,950 points.
        for _ in range(50):
            assert (await terminal.purchase(CARDS[0], FIELD_4_MAX))["39"] == "00"
        assert (await terminal.purchase(CARDS[0], FIELD_4_MAX))["39"] == "61"
        advice = await terminal.request(
            messages.offline_purchase_advice(CARDS[0], FIELD_4_MAX, 1))
        assert advice["39"] == "00"
        _assert_field_54_well_formed(advice)
        _assert_field_54_well_formed(await terminal.inquiry(CARDS[0]))
    # The sale stands; it earned only the 49 points up to the limit, and is flagged for review.
    connection = await asyncpg.connect(database_url)
    try:
        points = await connection.fetchval(
            "SELECT p.amount FROM postings p JOIN journal_entries e ON e.id = p.entry_id"
            " JOIN transactions t ON t.id = e.transaction_id JOIN accounts a ON a.id = p.account_id"
            " WHERE t.kind = 'offline_purchase' AND a.kind = 'member_points'")
        reasons = await connection.fetch(
            "SELECT r.reason FROM review_items r JOIN transactions t ON t.id = r.transaction_id"
            " WHERE t.kind = 'offline_purchase'")
    finally:
        await connection.close()
    assert points == MEMBER_BALANCE_MAX - 50 * (FIELD_4_MAX * 2 // 100)
    assert [row["reason"] for row in reasons] == ["balance_limit"]
