"""The host's card password check as a pure function (account_host.card_password), against a
plain model of §4: locked 75 whatever is offered, missing 55 and not a try, wrong 55 and a try,
the third wrong in a row 75, a right one clears."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from account_host.card_password import judge_password
from account_host.card_store import CardRow
from account_host.state import HostState, LoadedCard
from proto.card_password import MALFORMED_BLOCK
from proto.codes import ResponseCode

STORED = b"S" * 16
WRONG = b"W" * 16
PAN_HMAC = b"h" * 32   # the PAN's HMAC-SHA256, as the card store keys it


class TestJudge:
    def test_no_password_ignores_what_is_offered(self) -> None:
        for offered in (None, WRONG, MALFORMED_BLOCK):
            assert judge_password(None, 0, offered) == (None, 0)

    def test_right_missing_wrong_and_locked(self) -> None:
        assert judge_password(STORED, 2, STORED) == (None, 0)
        assert judge_password(STORED, 1, None) == (ResponseCode.PASSWORD_WRONG, 1)
        assert judge_password(STORED, 0, WRONG) == (ResponseCode.PASSWORD_WRONG, 1)
        assert judge_password(STORED, 1, MALFORMED_BLOCK) == (ResponseCode.PASSWORD_WRONG, 2)
        assert judge_password(STORED, 2, WRONG) == (ResponseCode.PASSWORD_LOCKED, 3)
        for offered in (STORED, WRONG, None):
            assert judge_password(STORED, 3, offered) == (ResponseCode.PASSWORD_LOCKED, 3)

    @given(st.lists(st.sampled_from(["right", "wrong", "missing", "malformed"]), max_size=30))
    def test_a_sequence_against_the_model(self, offers: list[str]) -> None:
        values = {"right": STORED, "wrong": WRONG, "missing": None,
                  "malformed": MALFORMED_BLOCK}
        tries = 0
        model_wrong_in_a_row, model_locked = 0, False
        for offer in offers:
            code, tries = judge_password(STORED, tries, values[offer])
            if model_locked:
                expected = ResponseCode.PASSWORD_LOCKED
            elif offer == "right":
                model_wrong_in_a_row, expected = 0, None
            elif offer == "missing":
                expected = ResponseCode.PASSWORD_WRONG
            else:
                model_wrong_in_a_row += 1
                model_locked = model_wrong_in_a_row == 3
                expected = (ResponseCode.PASSWORD_LOCKED if model_locked
                            else ResponseCode.PASSWORD_WRONG)
            assert code == expected
            assert tries == model_wrong_in_a_row


class TestMergeCards:
    """A card re-read after a change keeps the tries in memory for the same password (the
    database may lag a batch in flight), and starts from its row for a reset one."""

    @staticmethod
    def _state_with(tries: int) -> HostState:
        state = HostState(86_400, 90)
        card = CardRow(1, 1, None, 800_000, password=STORED, password_version=1,
                    password_tries=tries)
        state.merge_cards([LoadedCard(PAN_HMAC, card, ())])
        return state

    def test_same_version_keeps_the_tries_in_memory(self) -> None:
        state = self._state_with(2)
        reread = CardRow(1, 1, ResponseCode.CARD_LOST, 800_000, password=STORED,
                      password_version=1, password_tries=1)
        state.merge_cards([LoadedCard(PAN_HMAC, reread, ())])
        assert state.cards[PAN_HMAC].password_tries == 2

    def test_a_reset_starts_afresh(self) -> None:
        state = self._state_with(3)
        reset = CardRow(1, 1, None, 800_000, password=WRONG, password_version=2, password_tries=0)
        state.merge_cards([LoadedCard(PAN_HMAC, reset, ())])
        card = state.cards[PAN_HMAC]
        assert (card.password, card.password_tries) == (WRONG, 0)


class TestBlockInFlight:
    """A card this host blocked (risk control) stays blocked through a re-read of its row
    while the block's batch is in flight; once the batch has committed, a row read says what
    the back office decided since (a release takes)."""

    def test_a_reread_during_the_blocks_batch_keeps_it_then_a_release_takes(self) -> None:
        state = HostState(86_400, 90)
        state.merge_cards([LoadedCard(PAN_HMAC, CardRow(1, 1, None, 800_000), ())])
        state.cards[PAN_HMAC].decline_code = ResponseCode.DO_NOT_HONOUR   # the host's block
        state.blocks_in_flight.add(1)
        state.merge_cards([LoadedCard(PAN_HMAC, CardRow(1, 1, None, 800_000), ())])
        assert state.cards[PAN_HMAC].decline_code == ResponseCode.DO_NOT_HONOUR
        state.blocks_landed({1: ("blocked", 77), 2: ("closed", 78)})
        assert not state.blocks_in_flight
        state.merge_cards([LoadedCard(PAN_HMAC, CardRow(1, 1, None, 800_000), ())])
        assert state.cards[PAN_HMAC].decline_code is None

    def test_a_lost_card_stays_lost(self) -> None:
        state = HostState(86_400, 90)
        state.blocks_in_flight.add(1)
        state.merge_cards([LoadedCard(PAN_HMAC, CardRow(1, 1, None, 800_000), ())])
        state.merge_cards([LoadedCard(PAN_HMAC, CardRow(1, 1, ResponseCode.CARD_LOST, 800_000),
                                      ())])
        assert state.cards[PAN_HMAC].decline_code == ResponseCode.CARD_LOST
