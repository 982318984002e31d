"""`jifen audit` over partitions (docs/plans/partitions.md §2, step 4): a day split over two
partition databases passes, each partition reported; a break planted in p2 fails the audit
naming p2 (and, as it unbalances a ledger, the check across partitions); `--partition`
restricts it; a command decided in p2 is not a mismatch on central, which holds its row but
not its transaction."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from database.roles import Role
from jifen.cli import main
from tests.partition_day import DAY, SplitDay, on_database, write_config

# A command decided in p2 (number 1): its transaction's id is in p2's id base, and its row
# is central's, replicated into p2.
P2_TRANSACTION_ID = (1 << 48) + 5
COMMAND_SQL = f"""
INSERT INTO host_commands (id, kind, payload, card_id, state, result_code, result,
                           transaction_id, done_at) OVERRIDING SYSTEM VALUE
VALUES (900, 'points_adjustment', '{{}}', (SELECT min(id) FROM cards WHERE id % 2 = 1), 'done',
        '00', '+0', {P2_TRANSACTION_ID}, now())
"""
P2_TRANSACTION_SQL = f"""
INSERT INTO transactions (id, kind, business_date, posted_at, card_id, amount, currency,
                          points, command_id)
VALUES ({P2_TRANSACTION_ID}, 'points_adjustment', DATE '{DAY}', now(),
        (SELECT min(id) FROM cards WHERE id % 2 = 1), 0, '156', 0, 900)
"""
# A member's points balance one above its postings, in p2 only.
BREAK_SQL = """
UPDATE accounts SET balance = balance + 1
WHERE id = (SELECT min(id) FROM accounts WHERE kind = 'member_points')
"""


async def _execute(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await connection.execute("SET LOCAL session_replication_role = replica")
            for statement in statements:
                await connection.execute(statement)
    finally:
        await connection.close()


def _audit(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), "audit", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_two_clean_partitions_pass_each_reported(
    split: SplitDay, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    run_async: Callable[..., object], role_url: Callable[[Role], str],
) -> None:
    run_async(_execute, split.central_url, COMMAND_SQL)
    run_async(_execute, split.p2_url, COMMAND_SQL, P2_TRANSACTION_SQL)
    # As jifen_audit, on central and on p2: its grants only.
    audit = role_url(Role.AUDIT)
    config = write_config(tmp_path / "two.toml", split.central_url, {"p2": split.p2_url}, {
        "database": {"audit_url": on_database(audit, split.central_url)},
        "p2": {"audit_url": on_database(audit, split.p2_url)}})
    code, out, err = _audit(capsys, config)
    assert code == 0, err
    assert err == ""
    lines = out.splitlines()
    central = lines[0].split(":")[0].removeprefix("partition ")
    assert lines[0].startswith(f"partition {central}: audit clean: 18 checks over ")
    # join_bonus_twice reads central's rows only: run there, not in p2.
    assert lines[1].startswith("partition p2: audit clean: 17 checks over ")
    assert lines[2] == "across partitions: clean: 4 checks"
    assert lines[3].startswith("audit clean over 2 partitions in ")

    code, out, _ = _audit(capsys, config, "--json")
    report = json.loads(out)
    assert report["clean"] and [p["name"] for p in report["partitions"]] == [central, "p2"]
    assert [check["name"] for check in report["across"]] == [
        "ledger_totals_nonzero", "range_partition_unknown", "card_in_two_partitions",
        "transit_unbalanced"]


def test_a_break_in_p2_fails_the_audit_naming_p2(
    split: SplitDay, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    run_async: Callable[..., object],
) -> None:
    run_async(_execute, split.p2_url, BREAK_SQL)
    config = write_config(tmp_path / "two.toml", split.central_url, {"p2": split.p2_url})
    code, out, err = _audit(capsys, config)
    assert code == 1
    assert "partition p2: VIOLATION balance_mismatch: 1 rows break" in err
    assert "across partitions: VIOLATION ledger_totals_nonzero: 1 rows break" in err
    assert "ledger_totals_nonzero ledger=points: balances sum to 1 over the partitions" in err
    assert "partition p2: audit 1 violations:" in out
    assert "audit 2 violations over 2 partitions" in out
    central = out.splitlines()[0].split(":")[0].removeprefix("partition ")
    assert f"partition {central}: audit clean" in out

    # Restricted: central alone is clean, p2 alone is not; no checks across partitions.
    code, out, _ = _audit(capsys, config, "--partition", central)
    assert code == 0 and "across" not in out and "over 1 partitions" in out
    code, out, _ = _audit(capsys, config, "--partition", "p2")
    assert code == 1 and "partition p2: audit 1 violations:" in out
    code, _, err = _audit(capsys, config, "--partition", "p9")
    assert code == 2 and "no partition p9" in err


def test_a_card_held_in_two_partitions_is_named(
    split: SplitDay, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    run_async: Callable[..., object],
) -> None:
    # A member account of a card whose postings are p2's, holding points in central too
    # (central's own checks find its balance without postings as well).
    card = run_async(_card_held_in_p2, split.p2_url)
    run_async(_execute, split.central_url,
              "INSERT INTO accounts (id, ledger, kind, card_id, balance)"
              f" VALUES (900000, 'points', 'member_points', {card}, 7)")
    config = write_config(tmp_path / "two.toml", split.central_url, {"p2": split.p2_url})
    code, _, err = _audit(capsys, config)
    assert code == 1
    assert "across partitions: VIOLATION card_in_two_partitions: 1 rows break" in err
    assert f"card_in_two_partitions card_id={card}: member accounts hold something in" in err


async def _card_held_in_p2(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(
            "SELECT min(card_id) FROM accounts WHERE kind = 'member_points' AND balance <> 0")
    finally:
        await connection.close()


def test_a_command_without_its_transaction_is_named_in_its_partition(
    split: SplitDay, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    run_async: Callable[..., object],
) -> None:
    # Done with a transaction of p2's id base that p2 does not hold: p2's mismatch, not
    # central's, which never holds p2's transactions.
    run_async(_execute, split.central_url, COMMAND_SQL)
    run_async(_execute, split.p2_url, COMMAND_SQL)
    config = write_config(tmp_path / "two.toml", split.central_url, {"p2": split.p2_url})
    code, out, err = _audit(capsys, config)
    assert code == 1
    assert "partition p2: VIOLATION command_mismatch: 1 rows break" in err
    assert f"  command_mismatch command_id=900 transaction_id={P2_TRANSACTION_ID}: " in err
    assert "audit 1 violations over 2 partitions" in out
