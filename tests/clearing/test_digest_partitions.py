"""The daily digest over partitions (docs/reports.md): a day split over two partition
databases gives the same digest as the same day in one database (sums added, a member whose
cards are in both partitions counted once; the terminals' batches judged over both, as in
clearing's report), and its liability is `jifen audit`'s over the partitions."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from back_office.ledger_check.partitioned import AuditTarget, audit_partitions
from database.roles import Role
from jifen.cli import main
from tests.partition_day import ALLIANCE, DAY, SplitDay, on_database, write_config

# Two cards of the alliance that bought on DAY, one of each partition (main keeps the even
# card ids, p2 the odd), and a card of nobody; $1 the alliance's code, $2 DAY.
_TWO_CARDS_SQL = """
SELECT min(t.card_id) FILTER (WHERE t.card_id % 2 = 0) AS even,
       min(t.card_id) FILTER (WHERE t.card_id % 2 = 1) AS odd
FROM transactions t JOIN cards c ON c.id = t.card_id
JOIN alliances a ON a.id = c.alliance_id
WHERE a.code = $1 AND t.business_date = $2 AND t.terminal_code IS NOT NULL AND t.points <> 0
"""
_MEMBER_SQL = """
INSERT INTO members (id, alliance_id, name, mobile_hmac, mobile_sealed, mobile_masked,
                     joined_on)
OVERRIDING SYSTEM VALUE
SELECT 900001, id, 'Member', sha256('member'::bytea), '\\x00'::bytea, '138****0000', $2
FROM alliances WHERE code = $1
"""


async def _one_member_in_both(split: SplitDay) -> None:
    """The same member, with a card in each partition, in every database (as replication
    copies central's members and cards to each partition)."""
    connection = await asyncpg.connect(split.single_url)
    try:
        cards = await connection.fetchrow(_TWO_CARDS_SQL, ALLIANCE, DAY)
    finally:
        await connection.close()
    assert cards["even"] is not None and cards["odd"] is not None
    for url in (split.single_url, split.central_url, split.p2_url):
        connection = await asyncpg.connect(url)
        try:
            async with connection.transaction():
                await connection.execute("SET LOCAL session_replication_role = replica")
                await connection.execute(_MEMBER_SQL, ALLIANCE, DAY)
                await connection.execute(
                    "UPDATE cards SET member_id = 900001 WHERE id = ANY($1::bigint[])",
                    [cards["even"], cards["odd"]])
        finally:
            await connection.close()


async def _audited(split: SplitDay) -> dict[str, int]:
    connection = await asyncpg.connect(split.central_url)
    try:
        central = await connection.fetchval("SELECT name FROM partitions WHERE number = 0")
    finally:
        await connection.close()
    report = await audit_partitions([AuditTarget(central, 0, split.central_url),
                                     AuditTarget("p2", 1, split.p2_url)])
    assert report.clean, report
    return {liability.alliance: liability.points for liability in report.liabilities}


def test_a_day_over_two_partitions_digests_as_in_one(
    split: SplitDay, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    run_async: Callable[..., object], role_url: Callable[[Role], str],
) -> None:
    run_async(_one_member_in_both, split)
    one = write_config(tmp_path / "one.toml", split.single_url, {})
    clearing = role_url(Role.CLEARING)
    two = write_config(tmp_path / "two.toml", split.central_url, {"p2": split.p2_url}, {
        "database": {"clearing_url": on_database(clearing, split.central_url)},
        "p2": {"clearing_url": on_database(clearing, split.p2_url)}})
    digests = {}
    for name, config in (("one", one), ("two", two)):
        capsys.readouterr()
        code = main(["--config", str(config), "report", "daily", "--alliance", ALLIANCE,
                     "--date", str(DAY), "--trend", "2", "--png", str(tmp_path / f"{name}.png"),
                     "--json"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        digests[name] = json.loads(captured.out)
    single, parted = digests["one"], digests["two"]
    assert len(single.pop("partitions")) == 1 and len(parted.pop("partitions")) == 2
    del single["generated_at"], parted["generated_at"]
    # The terminals' batches too: each judged from its parts in both partitions.
    assert parted == single
    assert single["members_active"] == 1            # one member, cards in both partitions
    assert single["flows"]["points_issued"] > 0
    assert single["liability"]["points"] == run_async(_audited, split)[ALLIANCE] > 0
