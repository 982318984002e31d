"""Risk control over partitions (docs/operations.md, "Partitions"; docs/back-office.md, "Risk
reviews"): each partition's host writes its reviews into its own database, so `jifen risk
queue` and `show` list every partition's, named `p2:17`, and `confirm` and `release` decide
a review in its partition; `jifen risk baseline` averages each partition's own journal into
its own database. Over the CLI with operators' own logins on central, the services' logins
(jifen_audit, jifen_back_office) in the partitions, and SQL on both databases, which
`tests/partition_day.py` copies on the suite's server (replication itself is tests/db's).
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import msgspec
import pytest

from database.roles import Role
from jifen.cli import main
from tests.partition_day import (
    ALLIANCE,
    DAY,
    UNREACHABLE_URL,
    SplitDay,
    connected,
    on_database,
    write_config,
)

# Four reviews, as the hosts raise them: (partition, level, subject, hours ago). Ids are per
# database: main's and p2's are both 1 and 2.
_REVIEWS = (("main", "warning", "merchant", 4), ("p2", "warning", "card", 3),
            ("main", "block", "card", 2), ("p2", "block", "card", 1))
_GROWTH_SQL = """
INSERT INTO risk_settings (alliance_id, version, growth_warning_multiple,
                           growth_block_multiple, growth_floor_points)
SELECT id, 1, 5, 10, 100 FROM alliances WHERE code = $1
"""
_REVIEW_SQL = """
INSERT INTO risk_reviews (alliance_id, card_id, merchant_id, kind, level, business_date,
                          raised_at)
SELECT a.id, $2, $3, CASE WHEN $2::bigint IS NULL THEN 'merchant_points_growth'
                          ELSE 'card_points_growth' END, $4, current_date,
       now() - make_interval(hours => $5)
FROM alliances a WHERE a.code = $1 RETURNING id
"""
# The baseline as `jifen risk baseline` must find it, from one database's own journal.
_EXPECTED_SQL = """
SELECT CASE WHEN grouping(t.card_id) = 0 THEN 'card' ELSE 'merchant' END AS subject,
       coalesce(t.card_id, t.merchant_id) AS subject_id, div(sum(t.points), 30) AS points
FROM transactions t
WHERE t.business_date BETWEEN $1::date - 29 AND $1 AND t.points > 0
  AND t.kind IN ('purchase', 'stored_value_purchase', 'offline_purchase')
GROUP BY GROUPING SETS ((t.card_id), (t.merchant_id))
HAVING div(sum(t.points), 30) > 0
"""


class _Operator(msgspec.Struct, frozen=True):
    name: str
    password: str


class _Cli:
    """`jifen` with a configuration, as the installer or as an operator."""

    def __init__(self, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self._capsys, self._monkeypatch = capsys, monkeypatch

    def __call__(self, config: Path, *argv: str,
                 operator: _Operator | None = None) -> tuple[int, str, str]:
        self._capsys.readouterr()
        login: list[str] = []
        if operator is not None:
            self._monkeypatch.setenv("JIFEN_OPERATOR_PASSWORD", operator.password)
            login = ["--operator", operator.name]
        try:
            code = main(["--config", str(config), *login, *argv])
        finally:
            self._monkeypatch.delenv("JIFEN_OPERATOR_PASSWORD", raising=False)
        out = self._capsys.readouterr()
        return code, out.out, out.err

    def ok(self, config: Path, *argv: str, operator: _Operator | None = None) -> str:
        code, out, err = self(config, *argv, operator=operator)
        assert code == 0, err
        return out


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> _Cli:
    for name in ("JIFEN_OPERATOR", "JIFEN_OPERATOR_PASSWORD", "JIFEN_OPERATOR_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    return _Cli(capsys, monkeypatch)


@pytest.fixture
def configs(split: SplitDay, tmp_path: Path, role_url: Callable[[Role], str]) -> dict[str, Path]:
    """The split's configurations: `two` (the installer's mode logs in as jifen_back_office
    on both databases, and reads partitions as jifen_audit: their grants only), `down` (p2
    does not answer)."""
    audit, back_office = role_url(Role.AUDIT), role_url(Role.BACK_OFFICE)

    def logins(url: str) -> dict[str, str]:
        return {"audit_url": on_database(audit, url),
                "back_office_url": on_database(back_office, url)}

    return {
        "two": write_config(tmp_path / "two.toml", split.central_url, {"p2": split.p2_url},
                            {"database": logins(split.central_url),
                             "p2": logins(split.p2_url)}),
        "down": write_config(tmp_path / "down.toml", split.central_url,
                             {"p2": UNREACHABLE_URL}),
    }


@pytest.fixture
def operators(
    split: SplitDay, configs: dict[str, Path], cli: _Cli, monkeypatch: pytest.MonkeyPatch,
    execute_sql: Callable[..., None],
) -> Iterator[dict[str, _Operator]]:
    """An operator of each role, made on central by the installer (as the administrator)."""
    admin = write_config(configs["two"].parent / "admin.toml", split.central_url, {})
    made = {}
    for role in ("auditor", "card_service", "hq_admin"):
        operator = _Operator(f"t{uuid.uuid4().hex[:10]}_{role}"[:40], secrets.token_urlsafe(18))
        monkeypatch.setenv("TEST_NEW_PASSWORD", operator.password)
        cli.ok(admin, "operator", "create", "--name", operator.name, "--role", role,
               "--password-env", "TEST_NEW_PASSWORD")
        made[role] = operator
    yield made
    for operator in made.values():
        execute_sql(split.central_url, f"DROP ROLE IF EXISTS {operator.name}")


async def _raise_reviews(split: SplitDay) -> dict[str, int]:
    """Growth levels in both databases (reference data), and the hosts' reviews in each, on
    cards of its own; the blocked cards blocked on central (the host's change, folded) and in
    the partition's copy. Card ids by (partition, level)."""
    urls = {"main": split.central_url, "p2": split.p2_url}
    cards: dict[str, int] = {}
    for partition, url in urls.items():
        async with connected(url) as connection:
            await connection.execute(_GROWTH_SQL, ALLIANCE)
            ids = [row["id"] for row in await connection.fetch(
                "SELECT id FROM cards WHERE id % 2 = $1 ORDER BY id LIMIT 2",
                0 if partition == "main" else 1)]
            merchant = await connection.fetchval("SELECT min(id) FROM merchants")
            for (where, level, subject, hours), card in zip(
                    [one for one in _REVIEWS if one[0] == partition], ids, strict=True):
                card_id = card if subject == "card" else None
                await connection.fetchval(_REVIEW_SQL, ALLIANCE, card_id,
                                          None if card_id else merchant, level, hours)
                if card_id is not None:
                    cards[f"{where} {level}"] = card_id
    for url in urls.values():
        async with connected(url) as connection:
            await connection.execute("UPDATE cards SET status = 'blocked' WHERE id = ANY($1)",
                                     [cards["main block"], cards["p2 block"]])
    return cards


async def _rows(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    async with connected(url) as connection:
        return await connection.fetch(sql, *args)


def test_reviews_of_two_partitions_listed_confirmed_and_released(
    split: SplitDay, configs: dict[str, Path], operators: dict[str, _Operator], cli: _Cli,
    run_async: Callable[..., object],
) -> None:
    cards = run_async(_raise_reviews, split)
    assert isinstance(cards, dict)
    two, auditor = configs["two"], operators["auditor"]
    service, checker = operators["card_service"], operators["hq_admin"]

    # Every partition's reviews, oldest first, each with its partition.
    queue = json.loads(cli.ok(two, "risk", "queue", "--json", operator=auditor))
    assert [(one["partition"], one["id"], one["level"]) for one in queue] == [
        ("main", 1, "warning"), ("p2", 1, "warning"), ("main", 2, "block"), ("p2", 2, "block")]
    table = cli.ok(two, "risk", "queue", operator=auditor).splitlines()
    assert table[0].split()[:2] == ["id", "partition"]
    assert [line.split()[:2] for line in table[1:]] == [
        ["main:1", "main"], ["p2:1", "p2"], ["main:2", "main"], ["p2:2", "p2"]]
    shown = cli.ok(two, "risk", "show", "p2:1", operator=auditor)
    assert shown.startswith("risk review p2:1 (SPL): warning of card_points_growth")
    assert "no partition p9" in cli(two, "risk", "show", "p9:1", operator=auditor)[2]

    # Confirmed in p2: p2's review 1, not central's, by the operator; the audit row central's.
    confirmed = json.loads(cli.ok(two, "risk", "confirm", "p2:1", "--json", operator=service))
    assert (confirmed["partition"], confirmed["id"], confirmed["status"]) == ("p2", 1,
                                                                              "confirmed")
    code, _, err = cli(two, "risk", "confirm", "p2:1", operator=service)
    assert code == 2 and "risk review p2:1 is confirmed already" in err
    assert [tuple(row) for row in run_async(
        _rows, split.p2_url, "SELECT id, status, decided_by FROM risk_reviews ORDER BY id")] == [
        (1, "confirmed", service.name), (2, "open", None)]
    assert [row["status"] for row in run_async(
        _rows, split.central_url, "SELECT status FROM risk_reviews ORDER BY id")] == [
        "open", "open"]
    # An auditor decides nothing, in any partition.
    code, _, err = cli(two, "risk", "confirm", "p2:2", operator=auditor)
    assert code == 2 and "may not confirm risk reviews" in err

    # p2's host blocked a card: its release is a request, and its approval unblocks the card
    # on central (replicated to p2, whose host takes it) and releases p2's review.
    request = json.loads(cli.ok(two, "risk", "release", "p2:2", "--json", operator=service))
    assert (request["action"], request["state"]) == ("risk_release", "pending")
    assert run_async(_rows, split.p2_url, "SELECT status FROM risk_reviews WHERE id = 2"
                     )[0]["status"] == "open"
    decided = json.loads(cli.ok(two, "approval", "approve", "--id", str(request["id"]),
                                "--json", operator=checker))
    assert decided["result"].startswith("risk review p2:2 released: card ")
    assert [tuple(row) for row in run_async(
        _rows, split.p2_url, "SELECT status, decided_by FROM risk_reviews WHERE id = 2")] == [
        ("released", checker.name)]
    statuses = run_async(_rows, split.central_url, "SELECT id, status FROM cards"
                         " WHERE id = ANY($1)", [cards["p2 block"], cards["main block"]])
    assert {row["id"]: row["status"] for row in statuses} == {
        cards["p2 block"]: "active", cards["main block"]: "blocked"}
    # Central's own, named with its partition or not.
    cli.ok(two, "risk", "confirm", "main:2", operator=service)
    assert [row["status"] for row in run_async(
        _rows, split.central_url, "SELECT status FROM risk_reviews ORDER BY id")] == [
        "open", "confirmed"]
    remaining = json.loads(cli.ok(two, "risk", "queue", "--json", operator=service))
    assert [(one["partition"], one["id"]) for one in remaining] == [("main", 1)]
    audited = run_async(_rows, split.central_url, "SELECT action, object_key FROM audit_log"
                        " WHERE action LIKE 'risk.%' ORDER BY id")
    assert [tuple(row) for row in audited] == [
        ("risk.confirm", "p2:1"), ("risk.release", "p2:2"), ("risk.confirm", "2")]

    # A partition that does not answer: no partial listing, and nothing decided.
    down = configs["down"]
    for argv, message in ((("risk", "queue"), "partition p2 could not be read"),
                          (("risk", "show", "p2:2"), "partition p2 could not be read"),
                          (("risk", "confirm", "p2:2"), "partition p2 could not be reached")):
        code, out, err = cli(down, *argv, operator=service)
        assert (code, out) == (2, ""), err
        assert message in err


def test_the_baseline_of_each_partition_is_its_own_journal(
    split: SplitDay, configs: dict[str, Path], cli: _Cli, run_async: Callable[..., object],
) -> None:
    for url in (split.central_url, split.p2_url):
        run_async(_rows, url, _GROWTH_SQL, ALLIANCE)
    # The installer's mode: the nightly unit's, as jifen_back_office in both databases.
    runs = json.loads(cli.ok(configs["two"], "risk", "baseline", "--date", DAY.isoformat(),
                             "--json"))
    found = {}
    for partition, url in (("main", split.central_url), ("p2", split.p2_url)):
        rows = run_async(_rows, url, "SELECT subject, subject_id, points_per_day"
                         " FROM risk_baselines")
        found[partition] = {(row["subject"], row["subject_id"]): row["points_per_day"]
                            for row in rows}
        expected = {(row["subject"], row["subject_id"]): row["points"]
                    for row in run_async(_rows, url, _EXPECTED_SQL, DAY)}
        assert found[partition] == expected
        cards = [key[1] for key in expected if key[0] == "card"]
        assert cards and {card % 2 for card in cards} == {0 if partition == "main" else 1}
        assert [run for run in runs if run["partition"] == partition] == [{
            "alliance_code": ALLIANCE, "through": DAY.isoformat(), "partition": partition,
            "cards": len(cards), "merchants": len(expected) - len(cards)}]
    # A merchant earns in both: each partition has its own average of it.
    shared = {key for key in found["main"] if key[0] == "merchant"} & set(found["p2"])
    assert shared
    assert any(found["main"][key] != found["p2"][key] for key in shared)
    # A partition that does not answer fails the run, naming it.
    code, _, err = cli(configs["down"], "risk", "baseline", "--date", DAY.isoformat())
    assert code == 2 and "partition p2 could not be reached" in err


def test_risk_baselines_are_no_longer_replicated(
    database_url: str, run_async: Callable[..., object],
) -> None:
    """Migration 040: each database's baselines are its own partition's."""
    published = run_async(_rows, database_url, "SELECT tablename FROM pg_publication_tables"
                          " WHERE pubname = 'jifen_reference'")
    assert "risk_baselines" not in {row["tablename"] for row in published}
    assert "risk_settings" in {row["tablename"] for row in published}
