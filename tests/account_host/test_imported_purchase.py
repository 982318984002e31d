"""An imported purchase applied to the host's state as a pure function (account_host/commands/
imported_purchase.py): posted as the merchant's advice at its rate, on the line's date while
it is open and on the open date once sealed; each refusal by its code, posting nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import anyio
import pytest

from account_host.card_store import CardRow
from account_host.commands.applying import apply_command
from account_host.commands.item import Command
from account_host.context import ApplyContext
from account_host.identifiers import Identifiers
from account_host.journal import BatchWrite
from account_host.state import Alliance, HostState, Merchant
from proto.codes import ResponseCode
from proto.host_commands import CommandKind
from proto.purchase_imports import PurchasePayload, virtual_terminal_code
from tests.account_host.counters_fake import FakeCounters

# 12:00 in Shanghai on 2026-12-07: the open business date is 2026-12-07.
NOW = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
TODAY = date(2026, 12, 7)
ALLIANCE_ID, MERCHANT_ID = 1, 7
# (card id, its decline code, its last day)
CARDS = ((1, None, date(2030, 1, 31)), (2, ResponseCode.CARD_LOST, date(2030, 1, 31)),
         (3, None, date(2026, 12, 5)), (4, None, date(2030, 1, 31)))
# _TRANSACTION columns: id, kind, business_date, terminal_code, merchant_id, card_id,
# batch_number, mti, stan, ...
_DATE, _TERMINAL, _MERCHANT, _BATCH, _MTI, _POINTS = 2, 3, 4, 6, 7, 14


def _state(sealed_through: date | None = None) -> tuple[HostState, Identifiers]:
    state = HostState(600, 90)
    state.replace_alliances([Alliance(ALLIANCE_ID, ZoneInfo("Asia/Shanghai"), time(23), 100,
                                      sealed_through=sealed_through)])
    state.replace_merchants([Merchant(MERCHANT_ID, "MERCHANT0000007", ALLIANCE_ID, True, 3)])
    for card_id, decline, last_day in CARDS:
        state.cards.put(_hmac(card_id), CardRow(card_id, ALLIANCE_ID, decline,
                                                last_day.toordinal()))
    identifiers = Identifiers(100_000)
    anyio.run(identifiers.reserve_for, FakeCounters(), 1_000, 1.0)
    return state, identifiers


def _hmac(card_id: int) -> bytes:
    return card_id.to_bytes(32, "big")


def _command(command_id: int, card_id: int, amount_fen: int, day: date,
             status: str = "active") -> Command:
    purchase = PurchasePayload(MERCHANT_ID, f"L{command_id}", card_id, amount_fen, day, 5)
    return Command(command_id, CommandKind.IMPORTED_PURCHASE, None, None, False,
                   _hmac(card_id), status, purchase=purchase)


def _apply(state: HostState, identifiers: Identifiers, command: Command):
    batch = BatchWrite(NOW, "main")
    answer = apply_command(ApplyContext(state, identifiers, batch, NOW), command)
    return answer.response_code, batch


def test_posted_as_the_merchants_advice_on_the_lines_date():
    state, identifiers = _state()
    code, batch = _apply(state, identifiers, _command(11, 1, 12_345, date(2026, 12, 1)))
    assert code == ResponseCode.APPROVED
    row = [column[0] for column in batch.transactions]
    assert (row[1], row[_DATE], row[_TERMINAL], row[_MERCHANT], row[_BATCH], row[_MTI],
            row[_POINTS]) == ("offline_purchase", date(2026, 12, 1),
                              virtual_terminal_code(MERCHANT_ID), MERCHANT_ID, 5, "0220", 370)
    assert batch.command_ids == [11]
    assert batch.commands[0] == [11] and batch.commands[2] == ["00"]
    assert batch.commands[3] == ["+370 points on 2026-12-01"]
    assert state.balance(state.cards[_hmac(1)].points_account_id) == 370


def test_a_sealed_date_posts_on_the_open_date():
    state, identifiers = _state(sealed_through=date(2026, 12, 6))
    code, batch = _apply(state, identifiers, _command(12, 1, 1_000, date(2026, 12, 6)))
    assert code == ResponseCode.APPROVED
    assert batch.transactions[_DATE] == [TODAY]
    assert batch.commands[3] == ["+30 points on 2026-12-07 (date 2026-12-06 sealed)"]


@pytest.mark.parametrize(("card_id", "amount", "day", "status", "code"), [
    (2, 100, TODAY, "lost", ResponseCode.CARD_LOST),
    (3, 100, TODAY, "active", ResponseCode.CARD_EXPIRED),          # expired on 12-05
    (4, 100, TODAY, "closed", ResponseCode.DO_NOT_HONOUR),
    (9, 100, TODAY, "active", ResponseCode.CARD_UNKNOWN),          # not on this host
    (4, 100, date(2026, 12, 8), "active", ResponseCode.INVALID_TRANSACTION),   # after today
])
def test_each_refusal_posts_nothing(card_id, amount, day, status, code):
    state, identifiers = _state()
    answer, batch = _apply(state, identifiers, _command(13, card_id, amount, day, status))
    assert answer == code
    assert batch.transactions[0] == [] and batch.command_ids == []
    assert batch.commands[2] == [code]


def test_a_card_that_expired_after_the_lines_date_still_posts():
    state, identifiers = _state()
    code, _ = _apply(state, identifiers, _command(14, 3, 100, date(2026, 12, 4)))
    assert code == ResponseCode.APPROVED


def test_read_twice_is_decided_once():
    state, identifiers = _state()
    assert _apply(state, identifiers, _command(15, 1, 100, TODAY))[0] == ResponseCode.APPROVED
    code, batch = _apply(state, identifiers, _command(15, 1, 100, TODAY))
    assert code == ResponseCode.DUPLICATE_MISMATCH and batch.transactions[0] == []
