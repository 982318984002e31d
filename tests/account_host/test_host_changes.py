"""Cards and merchants changed while the host runs reach it through LISTEN jifen_changes."""

from __future__ import annotations

import anyio
import asyncpg
import pytest

from account_host import changes
from tests.account_host.host_harness import (
    CARDS,
    WAIT_S,
    Terminal,
    ask_until,
    host_config,
    insert_cards,
    make_pan,
    running_host,
)
from tests.keys_kit import lookup_hash

pytestmark = pytest.mark.anyio


async def test_a_card_issued_while_running_is_served(seeded_url: str) -> None:
    terminal = Terminal()
    new_card = make_pan(500)
    async with running_host(seeded_url) as host:
        assert (await host.ask(terminal.inquiry(new_card))).response_code == "14"
        connection = await asyncpg.connect(seeded_url)
        try:
            async with connection.transaction():
                await insert_cards(connection, [(new_card, "active", "2099-12-31")])
                await connection.execute("NOTIFY jifen_changes, 'cards'")
        finally:
            await connection.close()
        await ask_until(host, lambda: terminal.inquiry(new_card), "00")
        purchase = await host.ask(terminal.purchase(new_card, 700))
    assert purchase.response_code == "00"
    assert purchase.balances is not None and purchase.balances.points == 7


async def test_a_card_reported_lost_is_declined_and_keeps_its_points(seeded_url: str) -> None:
    terminal = Terminal()
    async with running_host(seeded_url) as host:
        assert (await host.ask(terminal.purchase(CARDS[0], 900))).response_code == "00"
        connection = await asyncpg.connect(seeded_url)
        try:
            card_id = await connection.fetchval(
                "UPDATE cards SET status = 'lost' WHERE pan_hmac = $1 RETURNING id",
                await lookup_hash(connection, CARDS[0]))
            await connection.execute(f"NOTIFY jifen_changes, 'cards:{card_id}'")
            await ask_until(host, lambda: terminal.inquiry(CARDS[0]), "41")
            await connection.execute(
                "UPDATE cards SET status = 'active' WHERE id = $1", card_id)
            await connection.execute(f"NOTIFY jifen_changes, 'cards:{card_id}'")
        finally:
            await connection.close()
        inquiry = await ask_until(host, lambda: terminal.inquiry(CARDS[0]), "00")
    assert inquiry.balances is not None and inquiry.balances.points == 9


async def test_a_merchant_rate_change_applies_to_later_purchases(seeded_url: str) -> None:
    terminal = Terminal()
    async with running_host(seeded_url) as host:
        connection = await asyncpg.connect(seeded_url)
        try:
            await connection.execute(
                "UPDATE merchants SET earn_points_per_yuan = 3 WHERE merchant_code = $1",
                terminal.merchant_code)
            await connection.execute("NOTIFY jifen_changes, 'merchants'")
        finally:
            await connection.close()
        with anyio.fail_after(WAIT_S):
            while True:
                answer = await host.ask(terminal.purchase(CARDS[5], 100))
                assert answer.balances is not None
                if answer.balances.points_moved == 3:
                    break
                await anyio.sleep(0.02)


async def test_the_listener_comes_back_after_its_connection_is_lost(seeded_url: str) -> None:
    terminal = Terminal()
    new_card = make_pan(501)
    async with running_host(seeded_url, host_config(listen_probe_interval_s=0.2)) as host:
        connection = await asyncpg.connect(seeded_url)
        try:
            await connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            # The writer comes back too (reloading its state if a batch failed meanwhile).
            await ask_until(host, lambda: terminal.inquiry(CARDS[0]), "00")
            await insert_cards(connection, [(new_card, "active", "2099-12-31")])
            # Sent while the listener may still be away: its catch-up read finds the card.
            await connection.execute("NOTIFY jifen_changes, 'cards'")
        finally:
            await connection.close()
        await ask_until(host, lambda: terminal.inquiry(new_card), "00")


async def test_a_bug_in_the_listener_ends_the_host(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only database errors are retried (above): anything else is a bug, and the host ends
    rather than run on without the changes (restarted, its load reads them all)."""
    first_read = anyio.Event()
    real_load_gifts = changes.load_gifts

    async def broken_after_the_first_read(
        connection: asyncpg.Connection, host_name: str,
    ) -> object:
        if first_read.is_set():
            raise AssertionError("a gift without points")
        first_read.set()
        return await real_load_gifts(connection, host_name)

    monkeypatch.setattr(changes, "load_gifts", broken_after_the_first_read)
    with pytest.raises(ExceptionGroup) as ended:
        async with running_host(seeded_url) as host:
            assert (await host.ask(Terminal().inquiry(CARDS[0]))).response_code == "00"
            with anyio.fail_after(WAIT_S):
                await first_read.wait()
                connection = await asyncpg.connect(seeded_url)
                try:
                    await connection.execute("NOTIFY jifen_changes, 'gift_catalogue'")
                finally:
                    await connection.close()
                await anyio.Event().wait()   # until the host's end cancels this
    assert ended.group_contains(AssertionError, match="gift without points")
