"""`jifen audit`'s transit_unbalanced over two partitions (back_office/ledger_check/transit.py):
a transfer credited from central to p2 whose in-transit postings cancel passes; the same with
the credit short in p2 is named with both partitions' shares; an in-transit posting of no
transfer's step is named; a stuck transfer is named; an open one is in flight, not a finding."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, time
from pathlib import Path

import asyncpg
import pytest

from jifen.cli import main
from tests.partition_day import DAY, SplitDay, write_config

CENTRAL_BASE, P2_BASE = 10**12, (1 << 48) + 10**9
DAY_TIME = datetime.combine(DAY, time(12), UTC)


async def _execute(url: str, statements: list[tuple[str, tuple[object, ...]]]) -> None:
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await connection.execute("SET LOCAL session_replication_role = replica")
            for statement, args in statements:
                await connection.execute(statement, *args)
    finally:
        await connection.close()


async def _cards(url: str) -> tuple[int, int]:
    """A card this partition holds points of, and its alliance."""
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow(
            "SELECT a.card_id, c.alliance_id FROM accounts a JOIN cards c ON c.id = a.card_id"
            " WHERE a.kind = 'member_points' AND a.balance > 1000 ORDER BY a.card_id LIMIT 1")
        return row["card_id"], row["alliance_id"]
    finally:
        await connection.close()


def _step(command_id: int, step: str, transfer_id: int, card: int, other: int,
          transaction_id: int | None) -> tuple[str, tuple[object, ...]]:
    state = "pending" if transaction_id is None else "done"
    return ("INSERT INTO host_commands (id, kind, payload, card_id, other_card_id, state,"
            " result_code, result, transaction_id, done_at, transfer_id, transfer_step)"
            " OVERRIDING SYSTEM VALUE VALUES ($1, $2, '{}', $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            (command_id, f"transit_{step}", card, other, state,
             None if transaction_id is None else "00", None if transaction_id is None else "ok",
             transaction_id, None if transaction_id is None else DAY_TIME, transfer_id, step))


def _posting(base: int, serial: int, command_id: int | None, card: int, alliance: int,
             amount: int) -> list[tuple[str, tuple[object, ...]]]:
    """A command's transaction moving `amount` from the card's points into the alliance's
    in-transit account (negative: out of it), balances kept in step."""
    transaction_id, entry_id, transit_id = base + serial, base + serial, base
    return [
        ("INSERT INTO accounts (id, ledger, kind, alliance_id, balance)"
         " VALUES ($1, 'points', 'alliance_points_in_transit', $2, 0)"
         " ON CONFLICT (id) DO NOTHING", (transit_id, alliance)),
        ("INSERT INTO transactions (id, kind, business_date, posted_at, card_id, amount,"
         " currency, points, command_id) VALUES ($1, 'transit_debit', $2, now(), $3, $4, '999',"
         " $5, $6)", (transaction_id, DAY, card, abs(amount), -amount, command_id)),
        ("INSERT INTO journal_entries (id, transaction_id, ledger, business_date)"
         " VALUES ($1, $2, 'points', $3)", (entry_id, transaction_id, DAY)),
        ("INSERT INTO postings (entry_id, account_id, amount) SELECT $1, id, -$2::bigint"
         " FROM accounts WHERE kind = 'member_points' AND card_id = $3",
         (entry_id, amount, card)),
        ("INSERT INTO postings (entry_id, account_id, amount) VALUES ($1, $2, $3)",
         (entry_id, transit_id, amount)),
        ("UPDATE accounts SET balance = balance - $1 WHERE kind = 'member_points'"
         " AND card_id = $2", (amount, card)),
        ("UPDATE accounts SET balance = balance + $1 WHERE id = $2", (amount, transit_id)),
    ]


def _transfer(transfer_id: int, state: str, source: int, destination: int,
              alliance: int, result_code: str | None) -> tuple[str, tuple[object, ...]]:
    return ("INSERT INTO transfers (id, kind, alliance_id, from_card_id, to_card_id, source,"
            " destination, points, stored_value_fen, payload, state, result_code)"
            " OVERRIDING SYSTEM VALUE VALUES ($1, 'points_transfer', $2, $3, $4, $5, 'p2', 50,"
            " 0, '{}', $6, $7)",
            (transfer_id, alliance, source, destination, "main", state, result_code))


def _audit(capsys: pytest.CaptureFixture[str], config: Path) -> tuple[int, dict, str]:
    capsys.readouterr()
    code = main(["--config", str(config), "audit", "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def _transit(report: dict) -> dict:
    return next(check for check in report["across"] if check["name"] == "transit_unbalanced")


@pytest.mark.parametrize("credit", [50, 40])
def test_a_credited_transfer_cancels_over_the_partitions(
    split: SplitDay, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    run_async: Callable[..., object], credit: int,
) -> None:
    giver, alliance = run_async(_cards, split.central_url)
    taker, _ = run_async(_cards, split.p2_url)
    steps = [_step(901, "debit", 1, giver, taker, CENTRAL_BASE + 1),
             _step(902, "credit", 1, taker, giver, P2_BASE + 1)]
    partitions = run_async(_partition_of_central, split.central_url)
    transfer = _transfer(1, "credited", giver, taker, alliance, "00")
    transfer = (transfer[0], (*transfer[1][:4], partitions, *transfer[1][5:]))
    run_async(_execute, split.central_url, [
        *steps, transfer, *_posting(CENTRAL_BASE, 1, 901, giver, alliance, 50)])
    run_async(_execute, split.p2_url, [
        *steps, *_posting(P2_BASE, 1, 902, taker, alliance, -credit)])
    config = write_config(tmp_path / "two.toml", split.central_url, {"p2": split.p2_url})
    code, report, _ = _audit(capsys, config)
    check = _transit(report)
    if credit == 50:
        assert check["violation_count"] == 0, check
        return
    assert code == 1 and check["violation_count"] == 1
    [violation] = check["violations"]
    assert violation["ids"] == {"transfer_id": 1, "ledger": "points"}
    assert "credited but its in-transit postings sum to 10" in violation["detail"]
    assert f"{partitions} +50" in violation["detail"] and "p2 -40" in violation["detail"]


def test_strays_and_stuck_transfers_are_named_and_open_ones_are_not(
    split: SplitDay, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    run_async: Callable[..., object],
) -> None:
    giver, alliance = run_async(_cards, split.central_url)
    taker, _ = run_async(_cards, split.p2_url)
    central = run_async(_partition_of_central, split.central_url)
    transfers = []
    for transfer_id, state, code in ((2, "crediting", None), (3, "stuck", "61")):
        row = _transfer(transfer_id, state, giver, taker, alliance, code)
        transfers.append((row[0], (*row[1][:4], central, *row[1][5:])))
    run_async(_execute, split.central_url, [
        _step(903, "debit", 2, giver, taker, CENTRAL_BASE + 1),
        _step(904, "credit", 2, taker, giver, None), *transfers,
        *_posting(CENTRAL_BASE, 1, 903, giver, alliance, 50),
        # A posting of no transfer's step: an adjustment's transaction into in-transit.
        ("INSERT INTO host_commands (id, kind, payload, card_id, state, result_code, result,"
         " transaction_id, done_at) OVERRIDING SYSTEM VALUE VALUES (905, 'points_adjustment',"
         " '{}', $1, 'done', '00', '-7', $2, $3)", (giver, CENTRAL_BASE + 2, DAY_TIME)),
        *_posting(CENTRAL_BASE, 2, 905, giver, alliance, 7)])
    config = write_config(tmp_path / "two.toml", split.central_url, {"p2": split.p2_url})
    code, report, _ = _audit(capsys, config)
    details = [violation["detail"] for violation in _transit(report)["violations"]]
    assert code == 1
    assert details == [f"in-transit postings of no transfer: {central} +7",
                       "transfer 3 is stuck (its void refused): its points wait in transit"
                       " for an operator"], details


async def _partition_of_central(url: str) -> str:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval("SELECT name FROM partitions WHERE number = 0")
    finally:
        await connection.close()


def test_a_referred_member_owing_twice_is_named(
    split: SplitDay, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    run_async: Callable[..., object],
) -> None:
    """referral_credit_twice (central's credits, migration 042): one referred member's first
    purchase owes a referrer of another partition once."""
    taker, alliance = run_async(_cards, split.p2_url)
    central = run_async(_partition_of_central, split.central_url)
    member = run_async(_a_member, split.central_url)
    credit = ("INSERT INTO referral_credits (transaction_id, member_id, referrer_card_id,"
              " alliance_id, points, partition, owed_at) VALUES ($1, $2, $3, $4, 200, $5, $6)")
    run_async(_execute, split.central_url, [
        (credit, (CENTRAL_BASE + serial, member, taker, alliance, central, DAY_TIME))
        for serial in (1, 2)])
    config = write_config(tmp_path / "two.toml", split.central_url, {"p2": split.p2_url})
    code, report, _ = _audit(capsys, config)
    [central_report] = [p for p in report["partitions"] if p["name"] == central]
    [check] = [c for c in central_report["report"]["checks"]
               if c["name"] == "referral_credit_twice"]
    assert code == 1 and check["violation_count"] == 1
    assert "referral bonus owed 2 times" in check["violations"][0]["detail"]


async def _a_member(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(
            "INSERT INTO members (alliance_id, name, mobile_hmac, mobile_sealed, mobile_masked,"
            " joined_on) SELECT alliance_id, 'x', sha256('m'), '\\x02', '138****0000',"
            " current_date FROM cards LIMIT 1 RETURNING id")
    finally:
        await connection.close()
