"""RRN ranges running out and topped up (`jifen partition rrns`, migration 029): a host
reserves its blocks inside its partition's ranges, reports what is left beyond them, cannot
reserve (96) once they are spent, and takes a range added on central at its next reservation.

One database stands for central and the partition alike: what is tested is the ranges' and the
counters' arithmetic and the command, not replication (tests/db/test_partition_databases.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import asyncpg
import msgspec
import pytest

from account_host.errors import ReservationError
from account_host.identifiers import PER_REQUEST_MAX, RRN, Identifiers
from back_office.partitions.add import RRN_RANGE_SIZE
from jifen.cli import main

P9_NUMBER = 9
P9_FIRST, P9_LAST = 1_000_001, 1_000_020   # 20 RRNs: two blocks of 10
BLOCK = 10
assert PER_REQUEST_MAX[RRN] == 1, "a reservation for one request takes one block of BLOCK"


def _jifen(config: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), "partition", "rrns", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "jifen.toml"
    path.write_text(f'[database]\nurl = "{database_url}"\n')
    return path


@pytest.fixture
def p9(database_url: str, execute_sql: Callable[..., None]) -> str:
    """Central's range ended below p9's small one, and the id counters at p9's base, as
    `partition add` leaves a partition's."""
    execute_sql(
        database_url,
        "UPDATE rrn_ranges SET last_rrn = 1000000 WHERE partition = 'main'",
        f"INSERT INTO partitions (name, number, state) VALUES ('p9', {P9_NUMBER}, 'ready')",
        f"INSERT INTO rrn_ranges (partition, first_rrn, last_rrn)"
        f" VALUES ('p9', {P9_FIRST}, {P9_LAST})",
        f"UPDATE host_counters SET next_value = {P9_NUMBER}::bigint << 48"
        " WHERE name IN ('transaction', 'entry', 'account')")
    return "p9"


def test_the_only_partition_has_nothing_to_add(
    config: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = _jifen(config, capsys, "main")
    assert code == 2
    assert "runs to the last RRN" in err and "jifen partition add" in err


def test_an_unknown_partition_is_named(
    config: Path, p9: str, capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = _jifen(config, capsys, "p8")
    assert code == 2
    assert "no partition p8" in err


@pytest.mark.anyio
async def test_spent_ranges_refuse_until_a_range_is_added(
    config: Path, p9: str, database_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        host = Identifiers(block_size=BLOCK, partition=p9)
        await host.reserve_for(connection, 1, timeout_s=5.0)
        assert host.rrns_unreserved == P9_LAST - P9_FIRST + 1 - BLOCK
        rrns = [host.next_rrn() for _ in range(BLOCK)]
        await host.reserve_for(connection, 1, timeout_s=5.0)
        assert host.rrns_unreserved == 0
        rrns += [host.next_rrn() for _ in range(BLOCK)]
        assert [int(rrn) for rrn in rrns] == list(range(P9_FIRST, P9_LAST + 1))
        with pytest.raises(ReservationError, match="no RRN range of partition 'p9' has room"):
            await host.reserve_for(connection, 1, timeout_s=5.0)
        assert host.rrns_unreserved == 0

        code, out, _ = await anyio.to_thread.run_sync(_jifen, config, capsys, p9, "--json")
        assert code == 0
        added = msgspec.json.decode(out)
        assert added == {"partition": "p9", "first_rrn": P9_LAST + 1,
                         "last_rrn": P9_LAST + RRN_RANGE_SIZE}

        await host.reserve_for(connection, 1, timeout_s=5.0)
        assert int(host.next_rrn()) == P9_LAST + 1
        assert host.rrns_unreserved == RRN_RANGE_SIZE - BLOCK
    finally:
        await connection.close()

