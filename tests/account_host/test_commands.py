"""Back-office commands applied to the host's state as a pure function (account_host/commands/
applying.py), against a plain model: random sequences keep both ledgers summing to zero,
member balances never below zero, a closed card out of everything, and each command decided
once; and each refusal of the module's docstring, by its code."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st

from account_host.card_store import Card, CardRow
from account_host.chart import AccountKind
from account_host.commands.applying import GIFT_STOCK_MAX, apply_command
from account_host.commands.item import Command
from account_host.context import ApplyContext
from account_host.identifiers import Identifiers
from account_host.journal import BatchWrite
from account_host.state import Alliance, Gift, HostState
from proto.codes import ResponseCode
from proto.host_commands import CommandKind, CommandPayload, GiftPayload
from tests.account_host.counters_fake import FakeCounters

NOW = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
ALLIANCE_ID = 1
CARD_IDS = (1, 2, 3)


def _state(*, transfers: bool = True) -> tuple[HostState, Identifiers]:
    state = HostState(600, 90)
    state.replace_alliances([Alliance(ALLIANCE_ID, ZoneInfo("Asia/Shanghai"), time(23), 100,
                                      points_transfer_allowed=transfers)])
    for card_id in CARD_IDS:
        state.cards.put(_hmac(card_id), CardRow(card_id, ALLIANCE_ID, None, 800_000))
    identifiers = Identifiers(100_000)
    anyio.run(identifiers.reserve_for, FakeCounters(), 1_000, 1.0)
    return state, identifiers


def _hmac(card_id: int) -> bytes:
    return card_id.to_bytes(32, "big")


def _command(command_id: int, kind: CommandKind, card_id: int, *, other: int | None = None,
             points: int = 0, fen: int = 0, approved: bool = True,
             status: str = "active", other_status: str = "active") -> Command:
    payload = CommandPayload(card_id, "test", other_card_id=other, points=points,
                             stored_value_fen=fen)
    return Command(command_id, kind, payload, None, approved, _hmac(card_id), status,
                   None if other is None else _hmac(other),
                   None if other is None else other_status)


def _apply(state: HostState, identifiers: Identifiers, command: Command) -> tuple[str, BatchWrite]:
    batch = BatchWrite(NOW, "main")
    answer = apply_command(ApplyContext(state, identifiers, batch, NOW), command)
    return answer.response_code, batch


def _card(state: HostState, card_id: int) -> Card:
    return state.cards[_hmac(card_id)]


def _points(state: HostState, card_id: int) -> int:
    return state.balance(_card(state, card_id).points_account_id)


def _fen(state: HostState, card_id: int) -> int:
    return state.balance(_card(state, card_id).stored_value_account_id)


_STEPS = st.lists(st.one_of(
    st.tuples(st.just(CommandKind.POINTS_ADJUSTMENT), st.sampled_from(CARD_IDS),
              st.integers(-500, 500).filter(bool)),
    st.tuples(st.just(CommandKind.STORED_VALUE_ADJUSTMENT), st.sampled_from(CARD_IDS),
              st.integers(-500, 500).filter(bool)),
    st.tuples(st.just(CommandKind.POINTS_TRANSFER), st.sampled_from(CARD_IDS),
              st.integers(1, 300)),
    st.tuples(st.just(CommandKind.CARD_CLOSURE), st.sampled_from(CARD_IDS), st.just(0)),
), max_size=40)


@settings(max_examples=60, deadline=None)
@given(_STEPS)
def test_a_sequence_keeps_the_ledgers_and_the_model(steps) -> None:
    state, identifiers = _state()
    model = {card_id: [0, 0] for card_id in CARD_IDS}    # points, fen
    closed: set[int] = set()
    for number, (kind, card_id, amount) in enumerate(steps, start=1):
        other = card_id % len(CARD_IDS) + 1
        command = _command(number, kind, card_id,
                           other=other if kind is CommandKind.POINTS_TRANSFER else None,
                           points=amount if kind in (CommandKind.POINTS_ADJUSTMENT,
                                                     CommandKind.POINTS_TRANSFER) else 0,
                           fen=amount if kind is CommandKind.STORED_VALUE_ADJUSTMENT else 0)
        code, batch = _apply(state, identifiers, command)
        involved = {card_id, other} if kind is CommandKind.POINTS_TRANSFER else {card_id}
        if involved & closed:
            expected = ResponseCode.DO_NOT_HONOUR
        elif kind is CommandKind.POINTS_ADJUSTMENT:
            expected = "00" if model[card_id][0] + amount >= 0 else "51"
            model[card_id][0] += amount if expected == "00" else 0
        elif kind is CommandKind.STORED_VALUE_ADJUSTMENT:
            expected = "00" if model[card_id][1] + amount >= 0 else "51"
            model[card_id][1] += amount if expected == "00" else 0
        elif kind is CommandKind.POINTS_TRANSFER:
            expected = "00" if model[card_id][0] >= amount else "51"
            if expected == "00":
                model[card_id][0] -= amount
                model[other][0] += amount
        else:
            expected = "00"
            model[card_id] = [0, 0]
            closed.add(card_id)
        assert code == expected, (kind, card_id, amount)
        # Decided once, in the batch, with a transaction exactly when done.
        [command_id], [_state_text], [result_code], _, [transaction_id] = batch.commands
        assert (command_id, result_code) == (number, code)
        assert (transaction_id is not None) == (code == "00")
        assert len(batch.transactions[0]) == (1 if code == "00" else 0)
        # Read again (a notification and a periodic read): applied once.
        assert _apply(state, identifiers, command)[0] == ResponseCode.DUPLICATE_MISMATCH
    for card_id in CARD_IDS:
        assert [_points(state, card_id), _fen(state, card_id)] == model[card_id]
        assert (_card(state, card_id).decline_code is not None) == (card_id in closed)
    assert sum(state.balances.values()) == 0   # both ledgers, each summing to zero
    points_accounts = {account for card in state.cards
                       for account in (card.points_account_id,) if account}
    points_accounts |= {state.owner_accounts[key] for key in state.owner_accounts
                        if key[0] in (AccountKind.ALLIANCE_POINTS_ADJUSTED,
                                      AccountKind.ALLIANCE_BREAKAGE)}
    assert sum(state.balance(account) for account in points_accounts) == 0


class TestRefusals:
    def test_not_approved_is_12_and_posts_nothing(self) -> None:
        state, identifiers = _state()
        code, batch = _apply(state, identifiers, _command(
            1, CommandKind.POINTS_ADJUSTMENT, 1, points=100, approved=False))
        assert code == ResponseCode.INVALID_TRANSACTION
        assert batch.commands[3] == ["not approved by a second operator"]
        assert not batch.entries[0] and _points(state, 1) == 0

    def test_a_replacement_needs_no_approval_and_moves_everything(self) -> None:
        state, identifiers = _state()
        _apply(state, identifiers, _command(1, CommandKind.POINTS_ADJUSTMENT, 1, points=70))
        _apply(state, identifiers, _command(2, CommandKind.STORED_VALUE_ADJUSTMENT, 1, fen=30))
        _card(state, 2).decline_code = ResponseCode.DO_NOT_HONOUR      # sold, inactive
        code, batch = _apply(state, identifiers, _command(
            3, CommandKind.CARD_REPLACEMENT, 1, other=2, approved=False,
            other_status="inactive"))
        assert code == "00"
        assert (_points(state, 2), _fen(state, 2), _points(state, 1), _fen(state, 1)) == (
            70, 30, 0, 0)
        [transaction_id] = batch.transactions[0]
        assert batch.card_statuses == {1: ("closed", transaction_id),
                                       2: ("active", transaction_id)}
        assert _card(state, 2).decline_code is None
        assert _card(state, 1).decline_code == ResponseCode.DO_NOT_HONOUR

    def test_a_new_card_with_balances_or_lost_takes_nothing(self) -> None:
        state, identifiers = _state()
        _apply(state, identifiers, _command(1, CommandKind.POINTS_ADJUSTMENT, 2, points=5))
        assert _apply(state, identifiers, _command(
            2, CommandKind.CARD_REPLACEMENT, 1, other=2))[0] == "12"
        assert _apply(state, identifiers, _command(
            3, CommandKind.CARD_REPLACEMENT, 1, other=3, other_status="lost"))[0] == "05"

    def test_transfers_the_alliance_does_not_allow_are_57(self) -> None:
        state, identifiers = _state(transfers=False)
        _apply(state, identifiers, _command(1, CommandKind.POINTS_ADJUSTMENT, 1, points=50))
        assert _apply(state, identifiers, _command(
            2, CommandKind.POINTS_TRANSFER, 1, other=2, points=10))[0] == "57"

    def test_a_card_of_another_host_is_14_and_a_closed_one_05(self) -> None:
        state, identifiers = _state()
        stranger = Command(1, CommandKind.CARD_CLOSURE, CommandPayload(9, "x"), None, True,
                           _hmac(9), "active")
        assert _apply(state, identifiers, stranger)[0] == "14"
        assert _apply(state, identifiers, _command(
            2, CommandKind.CARD_CLOSURE, 1, status="closed"))[0] == "05"

    def test_above_what_field_54_shows_is_61(self) -> None:
        state, identifiers = _state()
        big = 999_999_999_999
        assert _apply(state, identifiers, _command(
            1, CommandKind.POINTS_ADJUSTMENT, 1, points=big))[0] == "00"
        assert _apply(state, identifiers, _command(
            2, CommandKind.POINTS_ADJUSTMENT, 1, points=1))[0] == "61"

    def test_an_invalid_payload_is_12_with_its_reason(self) -> None:
        state, identifiers = _state()
        invalid = Command(1, CommandKind.POINTS_ADJUSTMENT, None, "the payload does not decode",
                          True, _hmac(1), "active")
        code, batch = _apply(state, identifiers, invalid)
        assert (code, batch.commands[3]) == ("12", ["the payload does not decode"])


def _gift_command(command_id: int, kind: CommandKind, code: str = "LAMP",
                  quantity: int = 0) -> Command:
    return Command(command_id, kind, None, None, False, b"", "",
                   gift=GiftPayload(ALLIANCE_ID, code, "test", quantity))


class TestGifts:
    """Gift commands: no card, no approval, no transaction; the gift's new stock and state in
    the batch (migration 021)."""

    def _state(self, stock: int | None = 2) -> tuple[HostState, Identifiers]:
        state, identifiers = _state()
        state.merge_gifts({(ALLIANCE_ID, "LAMP"): Gift(40, stock, True)})
        return state, identifiers

    def test_a_restock_adds_and_a_withdrawal_stops_it(self) -> None:
        state, identifiers = self._state()
        code, batch = _apply(state, identifiers, _gift_command(1, CommandKind.GIFT_RESTOCK,
                                                               quantity=3))
        assert (code, batch.gifts) == ("00", {(ALLIANCE_ID, "LAMP"): (5, True)})
        assert batch.commands[1:] == (["done"], ["00"], ["+3: 5 in stock"], [None])
        assert not batch.transactions[0] and not batch.entries[0]
        code, batch = _apply(state, identifiers, _gift_command(2, CommandKind.GIFT_WITHDRAWAL))
        assert (code, batch.gifts) == ("00", {(ALLIANCE_ID, "LAMP"): (5, False)})
        code, batch = _apply(state, identifiers, _gift_command(3, CommandKind.GIFT_RESTOCK,
                                                               quantity=1))
        assert (code, batch.gifts, batch.commands[1]) == ("05", {}, ["refused"])
        assert state.gifts[ALLIANCE_ID, "LAMP"] == Gift(40, 5, False)

    def test_a_restock_of_a_gift_not_counted_starts_counting(self) -> None:
        state, identifiers = self._state(stock=None)
        code, batch = _apply(state, identifiers, _gift_command(1, CommandKind.GIFT_RESTOCK,
                                                               quantity=7))
        assert (code, batch.gifts) == ("00", {(ALLIANCE_ID, "LAMP"): (7, True)})

    def test_refusals(self) -> None:
        state, identifiers = self._state(stock=GIFT_STOCK_MAX)
        assert _apply(state, identifiers, _gift_command(
            1, CommandKind.GIFT_RESTOCK, quantity=1))[0] == "61"
        assert _apply(state, identifiers, _gift_command(
            2, CommandKind.GIFT_RESTOCK, code="NOSUCH", quantity=1))[0] == "12"
        invalid = Command(3, CommandKind.GIFT_RESTOCK, None, "a restock adds 1 to", False,
                          b"", "")
        code, batch = _apply(state, identifiers, invalid)
        assert (code, batch.commands[3]) == ("12", ["a restock adds 1 to"])
        assert state.gifts[ALLIANCE_ID, "LAMP"].stock == GIFT_STOCK_MAX
