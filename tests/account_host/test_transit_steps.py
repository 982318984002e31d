"""A transfer's steps between two partitions as each host decides them (account_host/commands/
transit.py), two hosts' states side by side: the debit on the giver's, the credit or the void
on the taker's and the giver's, with what the debit carried; each refusal by its code; and,
over any sequence, points are neither made nor lost: the members' points and the two in-transit
accounts sum to what was given in, and a finished transfer's in-transit postings cancel."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from account_host.card_store import CardRow
from account_host.chart import AccountKind
from account_host.commands.item import Command
from account_host.state import HostState
from account_host.tiers.standing import MONTHS
from proto.codes import ResponseCode
from proto.host_commands import CommandKind, CommandPayload
from proto.tiers import pack_standing
from proto.transit import Carried, decode_carried, encode_carried
from tests.account_host.test_commands import ALLIANCE_ID, _apply, _command, _fen, _points, _state

GIVER, TAKER = 1, 2   # card 1 on the source's host, card 2 on the destination's


def _step(command_id: int, kind: CommandKind, points: int, *, approved: bool = True,
          carried: bytes | None = None, status: str = "active") -> Command:
    payload = CommandPayload(GIVER, "test", other_card_id=TAKER, points=points)
    card = TAKER if kind is CommandKind.TRANSIT_CREDIT else GIVER
    return Command(command_id, kind, payload, None, approved, card.to_bytes(32, "big"), status,
                   transfer_id=7, carried=carried, card_alliance_id=ALLIANCE_ID,
                   other_alliance_id=ALLIANCE_ID)


def _in_transit(state: HostState) -> int:
    account = state.owner_accounts.get((AccountKind.ALLIANCE_POINTS_IN_TRANSIT, ALLIANCE_ID))
    return 0 if account is None else state.balance(account)


def _given(state, identifiers, points: int) -> None:
    code, _ = _apply(state, identifiers, _command(900, CommandKind.POINTS_ADJUSTMENT, GIVER,
                                                  points=points))
    assert code == "00"


def test_debit_then_credit_moves_the_points_through_both_in_transit_accounts() -> None:
    (source, source_ids), (destination, destination_ids) = _state(), _state()
    _given(source, source_ids, 500)
    code, batch = _apply(source, source_ids, _step(1, CommandKind.TRANSIT_DEBIT, 300))
    assert code == "00"
    [carried] = batch.carried.values()
    assert decode_carried(carried).points == 300
    assert (_points(source, GIVER), _in_transit(source)) == (200, 300)
    code, batch = _apply(destination, destination_ids,
                         _step(2, CommandKind.TRANSIT_CREDIT, 300, carried=carried))
    assert code == "00" and not batch.carried
    assert (_points(destination, TAKER), _in_transit(destination)) == (300, -300)


def test_a_refused_credit_is_voided_back_on_the_giver_even_closed() -> None:
    (source, source_ids), (destination, destination_ids) = _state(), _state()
    _given(source, source_ids, 100)
    _, batch = _apply(source, source_ids, _step(1, CommandKind.TRANSIT_DEBIT, 100))
    [carried] = batch.carried.values()
    code, _ = _apply(destination, destination_ids,
                     _step(2, CommandKind.TRANSIT_CREDIT, 100, carried=carried, status="closed"))
    assert code == ResponseCode.DO_NOT_HONOUR
    assert _in_transit(destination) == 0
    code, _ = _apply(source, source_ids,
                     _step(3, CommandKind.TRANSIT_VOID, 100, carried=carried, status="closed"))
    assert code == "00"
    assert (_points(source, GIVER), _in_transit(source)) == (100, 0)


def test_each_refusal_by_its_code() -> None:
    (source, source_ids), (destination, destination_ids) = _state(), _state()
    _given(source, source_ids, 100)
    carried = encode_carried(Carried(50))
    for command, code in (
        (_step(1, CommandKind.TRANSIT_DEBIT, 50, approved=False), "12"),
        (_step(2, CommandKind.TRANSIT_DEBIT, 150), "51"),
        (_step(3, CommandKind.TRANSIT_DEBIT, 50, status="closed"), "05"),
    ):
        assert _apply(source, source_ids, command)[0] == code, command
    no_transfers, no_ids = _state(transfers=False)
    assert _apply(no_transfers, no_ids, _step(4, CommandKind.TRANSIT_DEBIT, 1))[0] == "57"
    for command, code in (
        (_step(5, CommandKind.TRANSIT_CREDIT, 50, approved=False, carried=carried), "12"),
        (_step(6, CommandKind.TRANSIT_CREDIT, 50), "12"),                      # carried nothing
        (_step(7, CommandKind.TRANSIT_CREDIT, 60, carried=carried), "12"),     # not what it says
        (_step(8, CommandKind.TRANSIT_CREDIT, 50, carried=b"\x01junk"), "12"),
    ):
        assert _apply(destination, destination_ids, command)[0] == code, command
    assert _in_transit(destination) == 0 and _points(destination, TAKER) == 0
    elsewhere = Command(9, CommandKind.TRANSIT_DEBIT,
                        CommandPayload(GIVER, "test", other_card_id=TAKER, points=1), None, True,
                        (99).to_bytes(32, "big"), "active", transfer_id=7)
    assert _apply(source, source_ids, elsewhere)[0] == "14"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 400), st.booleans()), max_size=15))
def test_points_are_neither_made_nor_lost(transfers: list[tuple[int, bool]]) -> None:
    (source, source_ids), (destination, destination_ids) = _state(), _state()
    _given(source, source_ids, 1_000)
    command_id = 0
    for points, taker_closed in transfers:
        command_id += 3
        code, batch = _apply(source, source_ids,
                             _step(command_id, CommandKind.TRANSIT_DEBIT, points))
        if code != "00":
            assert code == "51"
            continue
        [carried] = batch.carried.values()
        status = "closed" if taker_closed else "active"
        credit = _apply(destination, destination_ids, _step(
            command_id + 1, CommandKind.TRANSIT_CREDIT, points, carried=carried,
            status=status))[0]
        assert credit == ("05" if taker_closed else "00")
        if credit != "00":
            assert _apply(source, source_ids, _step(
                command_id + 2, CommandKind.TRANSIT_VOID, points, carried=carried))[0] == "00"
        assert _in_transit(source) + _in_transit(destination) == 0
        assert _points(source, GIVER) + _points(destination, TAKER) == 1_000


MEMBER = 42
OLD, NEW = 1, 2   # a replacement: the old card on the source's host, the new on the destination's


def _replacement(command_id: int, kind: CommandKind, *, carried: bytes | None = None,
                 status: str = "active") -> Command:
    payload = CommandPayload(OLD, "lost", other_card_id=NEW)
    card = NEW if kind is CommandKind.TRANSIT_CREDIT else OLD
    # A replacement's debit needs no approval (as on one host); the others are the host's own
    # reading of the debit's row.
    return Command(command_id, kind, payload, None, kind is not CommandKind.TRANSIT_DEBIT,
                   card.to_bytes(32, "big"), status, transfer_id=8, carried=carried,
                   card_alliance_id=ALLIANCE_ID, other_alliance_id=ALLIANCE_ID)


def _members(state: HostState) -> None:
    """Both cards the member's (before any posting: the rows have no accounts yet)."""
    for card_id in (OLD, NEW):
        state.cards.put(card_id.to_bytes(32, "big"),
                        CardRow(card_id, ALLIANCE_ID, None, 800_000, member_id=MEMBER))


def test_a_replacement_moves_every_balance_and_the_standing_and_activates_the_new_card() -> None:
    (source, source_ids), (destination, destination_ids) = _state(), _state()
    _members(source)
    _members(destination)
    _given(source, source_ids, 700)
    assert _apply(source, source_ids, _command(
        901, CommandKind.STORED_VALUE_ADJUSTMENT, OLD, fen=1_234))[0] == "00"
    standing = pack_standing("GOLD", 0, 1, [5] * MONTHS)
    source.member_standings[MEMBER] = standing
    code, batch = _apply(source, source_ids, _replacement(1, CommandKind.TRANSIT_DEBIT,
                                                          status="lost"))
    assert code == "00"
    [carried] = batch.carried.values()
    assert decode_carried(carried) == Carried(700, 1_234, b"", standing, "lost")
    assert OLD in source.closed_cards and batch.card_statuses[OLD][0] == "closed"
    assert (_points(source, OLD), _fen(source, OLD), _in_transit(source)) == (0, 0, 700)
    # The new card was sold and not activated yet: the credit activates it.
    new_card = destination.cards[NEW.to_bytes(32, "big")]
    new_card.decline_code = ResponseCode.DO_NOT_HONOUR
    code, batch = _apply(destination, destination_ids, _replacement(
        2, CommandKind.TRANSIT_CREDIT, carried=carried, status="inactive"))
    assert code == "00"
    assert (_points(destination, NEW), _fen(destination, NEW)) == (700, 1_234)
    assert _in_transit(destination) == -700
    assert destination.member_standings[MEMBER] == standing
    assert new_card.decline_code is None and batch.card_statuses[NEW][0] == "active"


def test_a_refused_replacement_reopens_the_old_card_as_it_was() -> None:
    (source, source_ids), (destination, destination_ids) = _state(), _state()
    _given(source, source_ids, 300)
    _, batch = _apply(source, source_ids, _replacement(1, CommandKind.TRANSIT_DEBIT,
                                                       status="lost"))
    [carried] = batch.carried.values()
    # The new card has balances of its own by now: 12; a blocked one: 05.
    _apply(destination, destination_ids, _command(900, CommandKind.POINTS_ADJUSTMENT, NEW,
                                                  points=5))
    assert _apply(destination, destination_ids, _replacement(
        2, CommandKind.TRANSIT_CREDIT, carried=carried))[0] == "12"
    assert _apply(destination, destination_ids, _replacement(
        3, CommandKind.TRANSIT_CREDIT, carried=carried, status="blocked"))[0] == "05"
    code, batch = _apply(source, source_ids, _replacement(
        4, CommandKind.TRANSIT_VOID, carried=carried, status="closed"))
    assert code == "00"
    old = source.cards[OLD.to_bytes(32, "big")]
    assert (_points(source, OLD), _in_transit(source)) == (300, 0)
    assert OLD not in source.closed_cards and old.decline_code == ResponseCode.CARD_LOST
    assert batch.card_statuses[OLD][0] == "lost"


def test_a_referral_credit_posts_only_what_its_copy_of_the_credit_names() -> None:
    """Migration 042: `approved` is the host's own reading of its copy of the referral credit
    (same purchase, card and points); without it nothing posts."""
    state, identifiers = _state()
    refused = _command(1, CommandKind.REFERRAL_CREDIT, TAKER, points=200, approved=False)
    assert _apply(state, identifiers, refused)[0] == "12"
    code, batch = _apply(state, identifiers, _command(2, CommandKind.REFERRAL_CREDIT, TAKER,
                                                      points=200))
    assert code == "00" and _points(state, TAKER) == 200
    bonus = state.owner_accounts[(AccountKind.ALLIANCE_POINTS_BONUS, ALLIANCE_ID)]
    assert state.balance(bonus) == -200
    assert batch.transactions[1] == [CommandKind.REFERRAL_CREDIT]
