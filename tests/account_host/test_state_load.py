"""The host's bulk load (account_host/loading.py), read a chunk ahead: every chunk of cards,
remembered requests and the ledger's windows is filed, however many there are, and a load
that stops on an error ends the fetch it had in flight first, so that the error, not the
connection's, is what the caller sees."""

from __future__ import annotations

import time

import asyncpg
import pytest

from account_host import loading, loading_ledger
from account_host.errors import StateLoadError
from account_host.idempotency import request_key
from account_host.loading import load_state
from account_host.state import HostState
from proto.fields import OriginalData, encode_original_data
from proto.frames import Request
from proto.retransmission import key_sql
from tests.account_host.host_harness import CARDS, Terminal, fetch, host_config, running_host

pytestmark = pytest.mark.anyio


async def test_cards_in_many_chunks_are_all_filed(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection = await asyncpg.connect(seeded_url)
    try:
        in_one = await load_state(connection, host_config(), bytes(32))
        monkeypatch.setattr(loading, "CARD_LOAD_CHUNK_ROWS", 2)
        in_twos = await load_state(connection, host_config(), bytes(32))
    finally:
        await connection.close()
    assert len(in_twos.cards) == len(in_one.cards) > 2 * 2   # several chunks
    assert sorted(card.id for card in in_twos.cards) == sorted(card.id for card in in_one.cards)


async def test_more_cards_than_cards_max_stop_the_load_with_its_own_error(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(loading, "CARD_LOAD_CHUNK_ROWS", 2)
    connection = await asyncpg.connect(seeded_url)
    try:
        with pytest.raises(StateLoadError, match="more than cards_max=2 cards"):
            await load_state(connection, host_config(cards_max=2), bytes(32))
        # The connection is usable again: nothing of the load is left in flight.
        assert await connection.fetchval("SELECT count(*) FROM cards") >= len(CARDS)
    finally:
        await connection.close()


def _reversal(terminal: Terminal, original: Request) -> Request:
    return terminal.request(
        "0400", processing_code=original.processing_code, pan=original.pan,
        amount=original.amount, currency=original.currency, batch_number=1, reason_code="68",
        entry_mode=original.entry_mode, original_data=encode_original_data(OriginalData(
            original.mti, original.stan, original.transmission_time)))


def _return(terminal: Terminal, pan: str, amount_fen: int, rrn: str) -> Request:
    return terminal.request("0200", processing_code="200000", pan=pan, amount=amount_fen,
                            currency="156", batch_number=1, rrn=rrn, entry_mode="051")


async def test_the_windows_in_many_chunks_are_all_loaded(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Remembered requests with what they posted (a reversed purchase marked so) and the
    return index, read two rows a chunk, are what one chunk of each reads."""
    terminal = Terminal()
    purchases = [terminal.purchase(pan, 1_000 * (number + 1))
                 for number, pan in enumerate(CARDS[:3])]
    async with running_host(seeded_url) as host:
        bought = [await host.ask(purchase) for purchase in purchases]
        undone = await host.ask(_reversal(terminal, purchases[1]))
        returned = await host.ask(_return(terminal, CARDS[2], 500, bought[2].rrn or ""))
    assert [answer.response_code for answer in [*bought, undone, returned]] == ["00"] * 5
    keys = [row[0] for row in await fetch(seeded_url, f"SELECT {key_sql()} FROM host_requests")]
    connection = await asyncpg.connect(seeded_url)
    try:
        in_one = await load_state(connection, host_config(), bytes(32))
        monkeypatch.setattr(loading, "REQUEST_LOAD_CHUNK_ROWS", 2)
        monkeypatch.setattr(loading_ledger, "LEDGER_LOAD_CHUNK_ROWS", 2)
        in_twos = await load_state(connection, host_config(), bytes(32))
    finally:
        await connection.close()
    now_s = int(time.time())
    assert len(in_twos.retransmissions) == len(in_one.retransmissions) == len(keys) > 2 * 2
    for key in keys:
        remembered = in_twos.retransmissions.lookup(key, now_s)
        assert remembered is not None
        assert remembered == in_one.retransmissions.lookup(key, now_s)
    posted = [in_twos.retransmissions.lookup(request_key(purchase), now_s)
              for purchase in purchases]
    assert [None if entry is None or entry.posted is None else entry.posted.reversed
            for entry in posted] == [False, True, False]
    assert len(in_twos.returns) == len(in_one.returns) == len(purchases)
    rows = [[_purchase_row(state, int(answer.rrn or 0), now_s) for answer in bought]
            for state in (in_one, in_twos)]
    assert rows[1] == rows[0]
    assert [(returned_fen, reversed_) for *_, returned_fen, reversed_ in rows[1]] == \
        [(0, False), (0, True), (500, False)]


def _purchase_row(state: HostState, rrn: int, now_s: int) -> tuple[int, int, int, int, bool]:
    """A purchase in the return index: its transaction, card, amount, fen returned, reversal."""
    purchase = state.returns.find(rrn, now_s, for_return=True)
    assert purchase is not None
    return (purchase.transaction_id, purchase.card_id, purchase.amount, purchase.returned,
            purchase.reversed)
