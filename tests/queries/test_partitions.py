"""The back office's reads over partitions (docs/plans/partitions.md §2, "Queries"): with a day
split over two partition databases, `txn find` pages and a card's statement are those of the
same day in one database; a partition that cannot be read fails the query, naming it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from back_office.queries import card_statement
from back_office.queries.cards import CardRef
from back_office.queries.errors import PartitionReadError
from back_office.queries.partitions import NO_OTHER_PARTITIONS, OtherPartitions
from database.roles import Role
from jifen.cli import main
from tests.partition_day import DAY, UNREACHABLE_URL, SplitDay, on_database, write_config

CONNECT_TIMEOUT_S = 10.0


def _pages(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> list[int]:
    """Every transaction id `txn find` lists, page after page."""
    ids: list[int] = []
    after: list[str] = []
    while True:
        capsys.readouterr()
        assert main(["--config", str(config), "txn", "find", *argv, "--json", *after]) == 0
        page = json.loads(capsys.readouterr().out)
        ids += [row["transaction_id"] for row in page["rows"]]
        if page["next_cursor"] is None:
            return ids
        after = ["--after", page["next_cursor"]]


async def _first(url: str, sql: str) -> asyncpg.Record:
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow(sql)
        assert row is not None
        return row
    finally:
        await connection.close()


def test_txn_find_pages_over_two_partitions_as_in_one(
    split: SplitDay, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    run_async: Callable[..., object], role_url: Callable[[Role], str],
) -> None:
    merchant = run_async(_first, split.single_url,
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
    card_id = run_async(_first, split.single_url,
                        "SELECT card_id FROM transactions WHERE card_id % 2 = "
                        f"{parity} GROUP BY card_id ORDER BY count(*) DESC LIMIT 1")["card_id"]
    whole, parted = run_async(_statements, split, card_id)
    assert parted == whole
    assert whole.lines  # type: ignore[attr-defined]
