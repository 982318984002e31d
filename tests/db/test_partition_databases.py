"""Partition databases (docs/plans/partitions.md, step 3) on two embedded servers, as on two
machines: `jifen partition add p2` makes p2's database ready; a card issued on central reaches
p2, whose LISTEN hears `cards:<id>` as its host would; a command outcome written in p2 shows in
central's host_commands, folded there.

The servers live under this test's temporary directory and are stopped at its end, whatever
happens. Replication is waited for by polling with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest

from back_office.partitions.listing import RrnRange, rrns_left
from database import EmbeddedPostgres, default_migrations_dir, migrate, resolve_database_url
from database.config import DatabaseConfig
from database.migrate import MIGRATIONS_DIR_ENV
from database.roles import Role
from jifen.cli import main
from proto.changes import CHANNEL
from tests.account_host.host_harness import Terminal, host_config, running_host
from tests.e2e.system import make_pan, seed
from tests.keys_kit import sealed_columns
from tests.partition_day import connected

pytestmark = pytest.mark.anyio

# Logical replication on one machine delivers a row in milliseconds; a loaded box, a second.
REPLICATION_WAIT_S = 20.0
POLL_INTERVAL_S = 0.02
ADD_P2 = ["partition", "add", "p2", "--timeout", "60"]
P2_BIN = "622777"   # a card range of p2's; the seed's 622188 is main's


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory: pytest.TempPathFactory, run_async) -> Iterator[Path]:
    """A configuration file naming central's server and p2's, both under a temporary
    directory, central migrated and seeded; both servers stopped at the end (p2 first: its
    subscription to central ends with it)."""
    root = tmp_path_factory.mktemp("partitions")
    config = root / "jifen.toml"
    config.write_text(
        "[database]\n"
        f"data_dir = \"{root / 'central'}\"\nbackup_dir = \"{root / 'backups'}\"\n"
        "archive_wal = false\n"
        "[partitions.p2]\n"
        f"data_dir = \"{root / 'p2'}\"\nbackup_dir = \"{root / 'backups-p2'}\"\n"
        "archive_wal = false\n")
    try:
        central_url = _url(root / "central")
        run_async(migrate, central_url)
        run_async(seed, central_url)
        added, notes = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(added), contextlib.redirect_stderr(notes):
            assert main(["--config", str(config), *ADD_P2]) == 0
        (root / "added.txt").write_text(added.getvalue())
        (root / "notes.txt").write_text(notes.getvalue())
        yield config
    finally:
        for name in ("p2", "central"):
            EmbeddedPostgres(root / name).stop()


async def _until(condition: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Poll `condition` until it returns something true, within REPLICATION_WAIT_S."""
    with anyio.fail_after(REPLICATION_WAIT_S):
        while True:
            value = await condition()
            if value:
                return value
            await anyio.sleep(POLL_INTERVAL_S)
    raise AssertionError(what)  # not reached: fail_after raises TimeoutError


def _url(data_dir: Path, role: Role | None = None) -> str:
    return resolve_database_url(DatabaseConfig(data_dir=str(data_dir), archive_wal=False),
                                role)


async def test_a_partition_added_replicates_both_ways(
    two_servers: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    root = two_servers.parent
    central_url = await anyio.to_thread.run_sync(_url, root / "central")
    out = (root / "added.txt").read_text()
    # The add started p2's embedded server, and says how to stop it.
    assert "db stop --partition p2`" in (root / "notes.txt").read_text()
    assert "partition p2 ready: number 1, ids from 281474976710656" in out
    assert "central's RRN range now ends at 1000000000" in out
    # Run again, it resumes: nothing left to do, the same range.
    argv = ["--config", str(two_servers), *ADD_P2]
    assert await anyio.to_thread.run_sync(main, argv) == 0
    assert "RRNs 1000000001-2000000000" in capsys.readouterr().out

    p2_url = await anyio.to_thread.run_sync(_url, root / "p2")
    p2_host_url = await anyio.to_thread.run_sync(_url, root / "p2", Role.HOST)
    heard: list[str] = []
    async with connected(central_url) as central, connected(p2_url) as p2, \
            connected(p2_host_url) as p2_host:
        assert await p2.fetchval("SELECT next_value FROM host_counters"
                                 " WHERE name = 'transaction'") == 1 << 48
        # Every published table copied whole, those under row-level security too; of the
        # data keys, only the host's.
        for table in await central.fetch("SELECT tablename, rowfilter FROM"
                                         " pg_publication_tables WHERE pubname = $1",
                                         "jifen_reference"):
            count = (f"SELECT count(*) FROM {table['tablename']}"
                     f" WHERE {table['rowfilter'] or 'true'}")
            assert await p2.fetchval(count) == await central.fetchval(count), table
        assert await p2.fetchval("SELECT count(*) FROM cards") > 0
        assert await p2.fetchval("SELECT array_agg(DISTINCT purpose) FROM data_keys") == [
            "pan_lookup"]
        await p2_host.add_listener(CHANNEL, lambda *args: heard.append(args[3]))

        card_id = await _issue_card(central)
        await _until(lambda: p2.fetchval("SELECT true FROM cards WHERE id = $1", card_id),
                     "the card reaches p2")
        await _until(lambda: _async(f"cards:{card_id}" in heard), "p2's LISTEN hears the card")

        # A member's birthday (loaded with each of its cards) announces its cards.
        await central.execute(
            "INSERT INTO members (alliance_id, name, mobile_hmac, mobile_sealed, mobile_masked,"
            " joined_on) SELECT alliance_id, 'Li Lei', decode(repeat('ab', 32), 'hex'), '\\x00',"
            " '138****0000', current_date FROM cards WHERE id = $1", card_id)
        await central.execute("UPDATE cards SET member_id = (SELECT max(id) FROM members)"
                              " WHERE id = $1", card_id)
        heard.clear()
        await central.execute("UPDATE members SET birthday = '1990-05-01'")
        await _until(lambda: _async(f"cards:{card_id}" in heard),
                     "p2's LISTEN hears the member's card")

        command_id = await central.fetchval(
            "INSERT INTO host_commands (kind, payload, card_id) VALUES ('card_closure',"
            " jsonb_build_object('card_id', $1::bigint, 'reason', 'left', 'other_card_id',"
            " null, 'points', 0, 'stored_value_fen', 0), $1) RETURNING id", card_id)
        await _until(lambda: p2.fetchval("SELECT true FROM host_commands WHERE id = $1",
                                         command_id), "the command reaches p2")
        await _until(lambda: _async("host_commands" in heard), "p2's LISTEN hears it")

        # As p2's host decides it (its own table; p2's copy of host_commands is central's).
        await p2_host.execute(
            "INSERT INTO command_outcomes (command_id, state, result_code, result, done_at)"
            " VALUES ($1, 'refused', '12', 'not approved', now())", command_id)
        assert await p2.fetchval("SELECT state FROM host_commands WHERE id = $1",
                                 command_id) == "pending"   # the fold is central's
        outcome = await _until(lambda: central.fetchrow(
            "SELECT state, result_code, result FROM host_commands WHERE id = $1"
            " AND state <> 'pending'", command_id), "the outcome reaches central")
        assert tuple(outcome) == ("refused", "12", "not approved")
        # and comes back to p2 as central's row
        await _until(lambda: p2.fetchval("SELECT state = 'refused' FROM host_commands"
                                         " WHERE id = $1", command_id),
                     "central's row comes back to p2")

    assert await anyio.to_thread.run_sync(main, ["--config", str(two_servers), "partition",
                                                 "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    # name, number, state, next RRN, RRNs left: nothing issued yet, 10^9 each
    assert [line.split()[:5] for line in listed[1:]] == [
        ["main", "0", "ready", "1", "1000000000"], ["p2", "1", "ready", "1", "1000000000"]]


async def _async(value: object) -> object:
    return value


async def _issue_card(central: asyncpg.Connection, pan: str = make_pan(500)) -> int:
    """A card as `jifen card issue` writes one (sealed PAN), in the seeded alliance."""
    (sealed,) = await sealed_columns(central, [pan])
    card_id: int = await central.fetchval(
        "INSERT INTO cards (pan_hmac, pan_sealed, pan_masked, alliance_id, expires_on)"
        " VALUES ($1, $2, $3, (SELECT id FROM alliances WHERE code = 'TEST'), '2099-12-31')"
        " RETURNING id", *sealed)
    return card_id


async def test_migrate_runs_on_every_partition_then_central(
    two_servers: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A new column of a replicated table is added on p2 before central sends it; a table
    added to a publication is taken by the subscriptions, its rows copied."""
    migrations = tmp_path / "migrations"
    shutil.copytree(default_migrations_dir(), migrations)
    (migrations / "999_test_column.sql").write_text(
        "ALTER TABLE cards ADD COLUMN test_note text;\n"
        "CREATE TABLE test_notes (id integer PRIMARY KEY, note text);\n"
        "INSERT INTO test_notes SELECT 1, 'central''s' WHERE NOT EXISTS"
        " (SELECT 1 FROM pg_subscription WHERE subname LIKE 'jifen_reference%');\n"
        "ALTER PUBLICATION jifen_reference ADD TABLE test_notes;\n"
        "GRANT SELECT ON test_notes TO jifen_replication;\n")
    monkeypatch.setenv(MIGRATIONS_DIR_ENV, str(migrations))
    argv = ["--config", str(two_servers), "db", "migrate"]
    assert await anyio.to_thread.run_sync(main, argv) == 0
    assert capsys.readouterr().out.splitlines() == [
        "p2: applied 999_test_column", "applied 999_test_column",
        "subscription jifen_partition_out_p1 refreshed",
        "subscription jifen_reference_p1 refreshed"]

    root = two_servers.parent
    central_url = await anyio.to_thread.run_sync(_url, root / "central")
    p2_url = await anyio.to_thread.run_sync(_url, root / "p2")
    async with connected(central_url) as central, connected(p2_url) as p2:
        card_id = await central.fetchval(
            "UPDATE cards SET test_note = 'sent' WHERE id = (SELECT min(id) FROM cards)"
            " RETURNING id")
        await _until(lambda: p2.fetchval("SELECT test_note = 'sent' FROM cards WHERE id = $1",
                                         card_id), "the new column's value reaches p2")
        await _until(lambda: p2.fetchval("SELECT note FROM test_notes WHERE id = 1"),
                     "the new table's row reaches p2")


async def test_a_host_on_p2_serves_its_range_and_decides_central_s_commands(
    two_servers: Path,
) -> None:
    """p2's own host, on p2's database alone: it loads a card of its range from the copy,
    posts with p2's ids and RRNs, hears a command written on central through p2's triggers,
    and its outcome comes back to central's host_commands."""
    root = two_servers.parent
    central_url = await anyio.to_thread.run_sync(_url, root / "central")
    p2_url = await anyio.to_thread.run_sync(_url, root / "p2")
    p2_host_url = await anyio.to_thread.run_sync(_url, root / "p2", Role.HOST)
    pan = make_pan(1, bin_=P2_BIN)
    async with connected(central_url) as central, connected(p2_url) as p2:
        await central.execute("INSERT INTO card_ranges (bin_low, bin_high, host_name)"
                              " VALUES ($1, $1, 'p2')", P2_BIN)
        card_id = await _issue_card(central, pan)
        await _until(lambda: p2.fetchval("SELECT true FROM cards WHERE id = $1", card_id),
                     "the card reaches p2")
        async with running_host(p2_host_url, host_config(name="p2")) as host:
            answer = await host.ask(Terminal().purchase(pan, 1_000))
            assert answer.response_code == "00"
            assert answer.rrn is not None and 10**9 < int(answer.rrn) <= 2 * 10**9
            assert await p2.fetchval("SELECT min(id) FROM transactions") >= 1 << 48

            command_id = await central.fetchval(
                "INSERT INTO host_commands (kind, payload, card_id) VALUES ('card_closure',"
                " jsonb_build_object('card_id', $1::bigint, 'reason', 'left', 'other_card_id',"
                " null, 'points', 0, 'stored_value_fen', 0), $1) RETURNING id", card_id)
            decided = await _until(lambda: central.fetchrow(
                "SELECT state, result_code, result FROM host_commands WHERE id = $1"
                " AND state <> 'pending'", command_id), "p2's outcome reaches central")
        own = await p2.fetchrow("SELECT state, result_code, result FROM command_outcomes"
                                " WHERE command_id = $1", command_id)
        assert tuple(decided) == tuple(own)


class TestWithoutServers:
    def test_add_names_the_section_it_needs(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    ) -> None:
        config = tmp_path / "jifen.toml"
        config.write_text("[partitions.p2]\ndata_dir = \"var/pg-p2\"\n")
        assert main(["--config", str(config), "partition", "add", "p3"]) == 2
        error = capsys.readouterr().err
        assert "no [partitions.p3] in the configuration" in error
        assert 'data_dir = "var/pg-p3"' in error

    @pytest.mark.parametrize(("rrn_next", "left"), [
        (1, 2 * 10**9), (10**9, 10**9 + 1), (10**9 + 1, 10**9), (2 * 10**9, 1),
        (3 * 10**9, 0),
    ])
    def test_rrns_left_count_from_the_counter_over_the_ranges_above(
        self, rrn_next: int, left: int,
    ) -> None:
        ranges = [RrnRange(1, 10**9), RrnRange(10**9 + 1, 2 * 10**9)]
        assert rrns_left(ranges, rrn_next) == left
