"""Clear refusals of `jifen clearing` and `jifen settlement-rule`, and adjustments: exit codes
and messages on a small seeded database (no services running)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from clearing import close_day
from clearing.errors import DayOpenError
from tests.clearing.synthetic import ALLIANCE, Day, Journal

D = date(2030, 3, 1)
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)
MERCHANT = "SYNMERCHANT0001"


async def _seed_day(database_url: str) -> None:
    """Alliance SYN with a purchase of 100 points and a redemption of 40 at shop 1 on D."""
    connection = await asyncpg.connect(database_url)
    try:
        day = Day(await Journal.create(connection), D)
        day.apply("purchase", 0, 0, 100)
        day.apply("redemption", 0, 1, 40)
        await day.write(connection)
        await close_day(connection, ALLIANCE, D, FAR_FUTURE, "test")
    finally:
        await connection.close()


@pytest.fixture
def seeded(database_url, run_async):
    run_async(_seed_day, database_url)
    return database_url


def test_refusals_name_the_problem(seeded, jifen):
    cases = [
        (("clearing", "run", "--alliance", "NOPE", "--date", str(D)), "no alliance NOPE"),
        (("clearing", "run", "--alliance", ALLIANCE, "--date", "2030-02-30"),
         "bad date '2030-02-30'"),
        (("clearing", "run", "--alliance", ALLIANCE, "--date", str(D + timedelta(1))),
         "is not sealed"),
        (("clearing", "verify", "--alliance", ALLIANCE, "--date", str(D)),
         "has not been cleared"),
        (("clearing", "adjust", "--alliance", ALLIANCE, "--date", str(D), "--reason", "x"),
         "has not been cleared"),
        (("clearing", "close-day", "--alliance", ALLIANCE, "--date", str(D)),
         f"{D} of alliance SYN was sealed at"),
        (("clearing", "close-day", "--alliance", ALLIANCE, "--date", "2099-01-01"),
         "2099-01-01 of alliance SYN has not begun"),
    ]
    for argv, message in cases:
        run = jifen(*argv)
        assert (run.exit_code, message in run.err) == (1, True), (argv, run.err)


def test_the_open_date_cannot_be_sealed(seeded, run_async):
    async def seal_today() -> str:
        connection = await asyncpg.connect(seeded)
        try:
            now = datetime(2030, 3, 5, 14, 0, tzinfo=UTC)      # 22:00 in Shanghai
            with pytest.raises(DayOpenError) as refused:
                await close_day(connection, ALLIANCE, date(2030, 3, 5), now, "test")
            return str(refused.value)
        finally:
            await connection.close()

    assert run_async(seal_today) == ("2030-03-05 of alliance SYN is still the open business "
                                     "date (open until 2030-03-05T23:00+08:00, Asia/Shanghai); "
                                     "seal it after that")


def test_rules_then_run_then_adjust_with_a_retroactive_rule(seeded, jifen):
    rule = ("settlement-rule", "set", "--alliance", ALLIANCE, "--effective", "2030-01-01",
            "--issue-price-fen", "1.5", "--redemption-rate-fen", "0.9")
    assert jifen(*rule).exit_code == 0
    for argv, message in [
        (("--merchant", "SYNMERCHANT0009"), "no merchant SYNMERCHANT0009"),
        (("--commission-bp", "-1"), "commission must be 0-10000"),
    ]:
        run = jifen(*rule, *argv)
        assert (run.exit_code, message in run.err) == (2, True), run.err
    negative = jifen(*rule[:6], "--issue-price-fen", "-1", "--redemption-rate-fen", "0.9")
    assert "issue price must be between 0" in negative.err

    run = json.loads(jifen("clearing", "run", "--alliance", ALLIANCE, "--date", str(D),
                           "--json").out)
    # 100 points x 1.5 = 150 owed; 40 x 0.9 = 36 reimbursed: net -114.
    assert {net["party"]: net["net_fen"] for net in run["nets"]} == {MERCHANT: -114, "HQ": 114}
    nothing = jifen("clearing", "adjust", "--alliance", ALLIANCE, "--date", str(D),
                    "--reason", "re-check")
    assert (nothing.exit_code, nothing.out.startswith("nothing to adjust")) == (0, True)

    refused = jifen(*rule[:4], "--merchant", MERCHANT, "--effective", str(D),
                    "--issue-price-fen", "2", "--redemption-rate-fen", "0.9")
    assert refused.exit_code == 2 and "cleared through 2030-03-01" in refused.err
    assert jifen(*refused_argv(rule), "--retroactive").exit_code == 0
    differs = jifen("clearing", "verify", "--alliance", ALLIANCE, "--date", str(D))
    assert differs.exit_code == 1 and "DIFFERS" in differs.out
    adjusted = json.loads(jifen("clearing", "adjust", "--alliance", ALLIANCE, "--date", str(D),
                                "--reason", "price fixed", "--json").out)
    # The merchant's own rule: 100 x 2 = 200 owed instead of 150: 50 more, in deltas.
    assert (adjusted["kind"], adjusted["adjusts_run_id"]) == ("adjustment", run["run_id"])
    assert [(p["category"], p["points"], p["amount_fen"]) for p in adjusted["positions"]] == [
        ("points_issued", 0, -50)]
    assert adjusted["instructions"] == [{"payer": MERCHANT, "payee": "HQ", "amount_fen": 50}]
    assert jifen("clearing", "verify", "--alliance", ALLIANCE, "--date", str(D)).exit_code == 0
    status = json.loads(jifen("clearing", "status", "--json").out)
    assert [(row["business_date"], row["state"], row["adjustments"]) for row in status] == [
        (str(D), "adjusted", 1)]
    listed = json.loads(jifen("settlement-rule", "list", "--alliance", ALLIANCE, "--json").out)
    assert [(rule["merchant_code"], rule["issue_price_fen"]) for rule in listed] == [
        (None, "1.500000"), (MERCHANT, "2.000000")]


def refused_argv(rule: tuple[str, ...]) -> tuple[str, ...]:
    return (*rule[:4], "--merchant", MERCHANT, "--effective", str(D), "--issue-price-fen", "2",
            "--redemption-rate-fen", "0.9")
