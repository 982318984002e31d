"""The back office's reads over partitions (docs/plans/partitions.md §2, "Queries"): with a day
split over two partition databases, `txn find` pages and a card's statement are those of the
same day in one database; a partition that cannot be read fails the query, naming it; a
merchant admin, logged in as itself on central, reads its merchant's rows of both partitions
and no other's (p2 through jifen_merchant_reader, migration 041)."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from back_office.queries import card_statement
from back_office.queries.cards import CardRef
from back_office.queries.errors import PartitionReadError
from back_office.queries.partitions import NO_OTHER_PARTITIONS, OtherPartitions
from back_office.queries.statement import Statement
from database.roles import Role
from jifen.cli import main
from tests.partition_day import DAY, UNREACHABLE_URL, SplitDay, first_row, on_database, write_config

CONNECT_TIMEOUT_S = 10.0


def _pages(
    capsys: pytest.CaptureFixture[str], config: Path, *argv: str, operator: str | None = None,
) -> list[int]:
    """Every transaction id `txn find` lists, page after page (as `operator`, if given)."""
    ids: list[int] = []
    after: list[str] = []
    acting = ["--operator", operator] if operator else []
    while True:
        capsys.readouterr()
        assert main(["--config", str(config), *acting, "txn", "find", *argv, "--json",
                     *after]) == 0, capsys.readouterr().err
        page = json.loads(capsys.readouterr().out)
        ids += [row["transaction_id"] for row in page["rows"]]
        if page["next_cursor"] is None:
            return ids
        after = ["--after", page["next_cursor"]]



def test_txn_find_pages_over_two_partitions_as_in_one(
    split: SplitDay, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    run_async: Callable[..., object], role_url: Callable[[Role], str],
) -> None:
    merchant = run_async(first_row, split.single_url,
                         "SELECT merchant_code FROM merchants m WHERE EXISTS"
                         " (SELECT 1 FROM transactions t WHERE t.merchant_id = m.id)"
                         " ORDER BY merchant_code LIMIT 1")["merchant_code"]
    one = write_config(tmp_path / "one.toml", split.single_url, {})
    # As jifen_audit, on central and on p2: its grants only.
    audit = role_url(Role.AUDIT)
    two = write_config(tmp_path / "two.toml", split.central_url, {"p2": split.p2_url}, {
        "database": {"audit_url": on_database(audit, split.central_url)},
        "p2": {"audit_url": on_database(audit, split.p2_url)}})
    for argv in (("--merchant", merchant, "--limit", "17"),
                 ("--since", "2000-01-01T00:00:00Z", "--limit", "250")):
        single = _pages(capsys, one, *argv)
        assert len(single) > 17
        assert _pages(capsys, two, *argv) == single
    # A partition that does not answer fails the query, naming it.
    down = write_config(tmp_path / "down.toml", split.central_url, {"p2": UNREACHABLE_URL})
    capsys.readouterr()
    assert main(["--config", str(down), "txn", "find", "--merchant", merchant]) == 2
    assert "partition p2 could not be read" in capsys.readouterr().err


async def _statements(split: SplitDay, card_id: int) -> tuple[object, object]:
    single = await asyncpg.connect(split.single_url)
    central = await asyncpg.connect(split.central_url)
    try:
        row = await single.fetchrow(
            "SELECT id, pan_masked, alliance_id, status FROM cards WHERE id = $1", card_id)
        assert row is not None
        card = CardRef(row["id"], row["pan_masked"], row["alliance_id"], row["status"])
        whole = await card_statement(single, card, DAY, DAY, NO_OTHER_PARTITIONS)
        parted = await card_statement(central, card, DAY, DAY, OtherPartitions(
            {"p2": split.p2_url}, CONNECT_TIMEOUT_S))
        with pytest.raises(PartitionReadError, match="partition p2 could not be read"):
            await card_statement(central, card, DAY, DAY, OtherPartitions(
                {"p2": UNREACHABLE_URL}, CONNECT_TIMEOUT_S))
        return whole, parted
    finally:
        await single.close()
        await central.close()


@pytest.mark.parametrize("parity", [0, 1], ids=["a card of main", "a card of p2"])
def test_a_card_statement_over_two_partitions_is_as_in_one(
    split: SplitDay, run_async: Callable[..., object], parity: int,
) -> None:
    card_id = run_async(first_row, split.single_url,
                        "SELECT card_id FROM transactions WHERE card_id % 2 = "
                        f"{parity} GROUP BY card_id ORDER BY count(*) DESC LIMIT 1")["card_id"]
    whole, parted = run_async(_statements, split, card_id)
    assert parted == whole
    assert whole.lines  # type: ignore[attr-defined]


# A merchant with transactions of cards of both partitions (even card ids in main, odd in p2).
MERCHANT_OF_BOTH_SQL = """
SELECT m.id, m.merchant_code FROM merchants m
WHERE EXISTS (SELECT 1 FROM transactions t WHERE t.merchant_id = m.id AND t.card_id % 2 = 0)
  AND EXISTS (SELECT 1 FROM transactions t WHERE t.merchant_id = m.id AND t.card_id % 2 = 1)
ORDER BY m.merchant_code LIMIT 1
"""


@pytest.fixture
def merchant_admin_of_both(
    split: SplitDay, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    run_async: Callable[..., object], monkeypatch: pytest.MonkeyPatch,
    execute_sql: Callable[..., None],
) -> Iterator[tuple[str, str, str, int]]:
    """An operator, created on central, who administers a merchant that has transactions in
    both partitions: (name, password, merchant code, merchant id)."""
    merchant = run_async(first_row, split.single_url, MERCHANT_OF_BOTH_SQL)
    name = f"t{uuid.uuid4().hex[:10]}_madmin"
    password = secrets.token_urlsafe(18)
    monkeypatch.setenv("TEST_NEW_PASSWORD", password)
    config = write_config(tmp_path / "central.toml", split.central_url, {})
    capsys.readouterr()
    assert main(["--config", str(config), "operator", "create", "--name", name, "--role",
                 "merchant_admin", "--merchant", merchant["merchant_code"],
                 "--password-env", "TEST_NEW_PASSWORD"]) == 0, capsys.readouterr().err
    yield name, password, merchant["merchant_code"], merchant["id"]
    execute_sql(split.central_url, f"DROP ROLE IF EXISTS {name}")


# A request declined 51 at a terminal of the merchant ($1) and one at another merchant's. The
# answer as the host stores it: a msgpack array, correlation id 1, field 39 "51" (migration 013).
DECLINES_SQL = """
INSERT INTO host_requests (terminal_code, mti, stan, transmission_time, content_digest, answer,
                           received_at)
SELECT terminal_code, '0200', '{stan}', '1207100000', '\\x00'::bytea, '\\x9301a23531'::bytea,
       now() - interval '{stan} minutes'
FROM (SELECT min(terminal_code) AS terminal_code FROM terminals WHERE merchant_id = $1
      UNION ALL
      SELECT min(terminal_code) FROM terminals WHERE merchant_id <> $1) AS chosen
"""


async def _execute(url: str, sql: str, *arguments: object) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql, *arguments)
    finally:
        await connection.close()


async def _ids(url: str, sql: str, *arguments: object) -> set[int]:
    connection = await asyncpg.connect(url)
    try:
        return {row[0] for row in await connection.fetch(sql, *arguments)}
    finally:
        await connection.close()


def test_a_merchant_admin_reads_its_merchants_rows_in_both_partitions(
    split: SplitDay, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    run_async: Callable[..., object], role_url: Callable[[Role], str],
    monkeypatch: pytest.MonkeyPatch, merchant_admin_of_both: tuple[str, str, str, int],
) -> None:
    name, password, merchant_code, merchant_id = merchant_admin_of_both
    audit = role_url(Role.AUDIT)
    two = write_config(tmp_path / "two.toml", split.central_url, {"p2": split.p2_url}, {
        "p2": {"audit_url": on_database(audit, split.p2_url)}})
    monkeypatch.setenv("JIFEN_OPERATOR_PASSWORD", password)
    listed = _pages(capsys, two, "--since", "2000-01-01T00:00:00Z", "--limit", "100",
                    operator=name)
    mine = run_async(_ids, split.single_url,
                     "SELECT id FROM transactions WHERE merchant_id = $1", merchant_id)
    # Its merchant's transactions, each once, from both partitions; no other merchant's.
    assert sorted(listed, reverse=True) == listed and set(listed) == mine
    assert len(listed) == len(mine)
    in_p2 = run_async(_ids, split.p2_url, "SELECT id FROM transactions")
    assert set(listed) & in_p2 and set(listed) - in_p2
    # Another merchant does not exist for it (central's policy on merchants).
    other = run_async(first_row, split.single_url,
                      f"SELECT merchant_code FROM merchants WHERE id <> {merchant_id} LIMIT 1")
    capsys.readouterr()
    assert main(["--config", str(two), "--operator", name, "txn", "find", "--merchant",
                 other["merchant_code"]]) == 2
    assert f"no merchant {other['merchant_code']}" in capsys.readouterr().err
    # The host's declines at its terminals, from p2 as from central, none of another's.
    for url, stan in ((split.central_url, "000001"), (split.p2_url, "000002")):
        run_async(_execute, url, DECLINES_SQL.format(stan=stan), merchant_id)
    capsys.readouterr()
    assert main(["--config", str(two), "--operator", name, "txn", "find", "--declined",
                 "--json"]) == 0
    declined = json.loads(capsys.readouterr().out)["rows"]
    # Newest first: central's (a minute ago), then p2's (two).
    assert [(row["merchant_code"], row["stan"]) for row in declined] == [
        (merchant_code, "000001"), (merchant_code, "000002")]


def test_a_merchant_admins_statement_over_partitions_is_its_merchants_lines(
    split: SplitDay, run_async: Callable[..., object], role_url: Callable[[Role], str],
    merchant_admin_of_both: tuple[str, str, str, int],
) -> None:
    name, password, _, merchant_id = merchant_admin_of_both
    audit = on_database(role_url(Role.AUDIT), split.p2_url)
    # A card of p2 that bought at the merchant and elsewhere.
    card_id = run_async(first_row, split.single_url, f"""
        SELECT card_id FROM transactions WHERE card_id % 2 = 1 GROUP BY card_id
        HAVING bool_or(merchant_id = {merchant_id}) AND bool_or(merchant_id <> {merchant_id})
        ORDER BY card_id LIMIT 1""")["card_id"]
    whole, narrowed = run_async(_statements_of, split, audit, name, password, card_id)
    at_merchant = run_async(_ids, split.single_url,
                            "SELECT id FROM transactions WHERE card_id = $1 AND merchant_id = $2",
                            card_id, merchant_id)
    assert {line.transaction_id for line in narrowed.lines} == at_merchant
    assert 0 < len(narrowed.lines) < len(whole.lines)
    assert narrowed.expiring == []    # never the card's lots, as on central


async def _statements_of(
    split: SplitDay, audit_url: str, name: str, password: str, card_id: int,
) -> tuple[Statement, Statement]:
    """The card's statement over both partitions, read as the installer, then as the
    merchant admin on central (p2 as jifen_audit, narrowed)."""
    central = await asyncpg.connect(split.central_url)
    admin = await asyncpg.connect(split.central_url, user=name, password=password)
    try:
        row = await central.fetchrow(
            "SELECT id, pan_masked, alliance_id, status FROM cards WHERE id = $1", card_id)
        assert row is not None
        card = CardRef(row["id"], row["pan_masked"], row["alliance_id"], row["status"])
        p2 = OtherPartitions({"p2": audit_url}, CONNECT_TIMEOUT_S)
        return (await card_statement(central, card, DAY, DAY, p2),
                await card_statement(admin, card, DAY, DAY, p2))
    finally:
        await central.close()
        await admin.close()


async def _reader_counts(audit_url: str, merchant_id: str | None) -> int:
    connection = await asyncpg.connect(audit_url)
    try:
        async with connection.transaction(readonly=True):
            if merchant_id is not None:
                await connection.execute(
                    "SELECT set_config('jifen.reader_merchant_id', $1, true)", merchant_id)
            await connection.execute("SET LOCAL ROLE jifen_merchant_reader")
            return int(await connection.fetchval("SELECT count(*) FROM transactions"))
    finally:
        await connection.close()


def test_the_merchant_reader_reads_its_merchant_only_and_no_operator_becomes_it(
    split: SplitDay, run_async: Callable[..., object], role_url: Callable[[Role], str],
    merchant_admin_of_both: tuple[str, str, str, int],
) -> None:
    name, password, _, merchant_id = merchant_admin_of_both
    audit = on_database(role_url(Role.AUDIT), split.p2_url)
    in_p2 = run_async(_ids, split.p2_url,
                      "SELECT id FROM transactions WHERE merchant_id = $1", merchant_id)
    assert run_async(_reader_counts, audit, str(merchant_id)) == len(in_p2) > 0
    assert run_async(_reader_counts, audit, None) == 0      # no merchant set: nothing
    assert run_async(_reader_counts, audit, "") == 0

    async def become_reader() -> None:
        connection = await asyncpg.connect(split.central_url, user=name, password=password)
        try:
            await connection.execute("SET ROLE jifen_merchant_reader")
        finally:
            await connection.close()

    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        run_async(become_reader)
