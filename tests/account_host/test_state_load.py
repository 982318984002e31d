"""The host's bulk load of its cards (account_host/loading.py), read a chunk ahead: every chunk
is filed, however many there are, and a load that stops on an error ends the fetch it had in
flight first, so that the error, not the connection's, is what the caller sees."""

from __future__ import annotations

import asyncpg
import pytest

from account_host import loading
from account_host.errors import StateLoadError
from account_host.loading import load_state
from tests.account_host.host_harness import CARDS, host_config

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
