"""One sender over two partitions (notifications/service.py, `jifen notify`'s URLs from the
configuration), against a real HTTP receiver: central (`main`) and `p2`, two databases copied
on the suite's server as `jifen partition add` leaves them (p2 holds central's reference data,
its cards and members, but not the opt-outs, which stay on central), each outbox written as
its host writes it. Every event of both is delivered, each with an identity unique over the
system although the two outboxes' ids overlap (main's plain, p2's `p2:<id>`); the events a
member opted out of (on central) are skipped in both; and a partition out of reach holds up
its own events only, which go once it answers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import anyio
import pytest
from prometheus_client import REGISTRY

from database import with_database
from database.roles import Role
from jifen.commands.notify import sender_urls
from notifications import NotifyConfig, partitions_watch, run_notify
from notifications.errors import PartitionsChanged
from notifications.events import event_key
from proto.drain import Drain
from proto.health import Readiness
from runtime.config import load_config
from tests.e2e.system import seed
from tests.notifications.test_sender import FakeClock, Gateway, _free_port, serving
from tests.partition_day import P2_SQL, connected, on_database, write_config

pytestmark = pytest.mark.anyio

# Per partition: (kind, the card's index, points); the cards of index 0 and 1 have members,
# who opted out of points_spent (0) and points_earned (1) on central.
EVENTS = {
    "main": [("points_earned", 0, 100), ("points_spent", 0, -40), ("points_earned", 2, 10),
             ("points_earned", 1, 5), ("points_spent", 2, -3)],
    "p2": [("points_earned", 3, 20), ("points_spent", 0, -7), ("points_earned", 1, 9),
           ("points_spent", 1, -1), ("points_earned", 3, 2), ("points_earned", 0, 1)],
}
OPTED_OUT = {0: "points_spent", 1: "points_earned"}
_OUTBOX_SQL = """
INSERT INTO notification_outbox (kind, card_id, points, points_balance, business_date,
                                 created_at)
VALUES ($1, $2, $3, 0, current_date, now() - interval '2 minutes') RETURNING id
"""
_MEMBER_SQL = """
INSERT INTO members (alliance_id, name, mobile_hmac, mobile_sealed, mobile_masked, joined_on)
SELECT alliance_id, 'Li Na', decode(repeat($2, 32), 'hex'), '\\x00', '138****0000', now()
FROM cards WHERE id = $1 RETURNING id
"""
# Waiting for a partition's deliveries: a second or two on a loaded machine.
DELIVERED_WAIT_S = 30.0


@dataclass
class TwoPartitions:
    central_url: str
    p2_url: str
    cards: list[int]
    # name -> outbox id -> skipped (its member opted out of its kind)
    events: dict[str, dict[int, bool]]


async def _central(url: str) -> list[int]:
    """Seeded, two members with their opt-outs, p2 in the partitions table; the cards."""
    await seed(url)
    async with connected(url) as connection:
        cards = [row["id"] for row in await connection.fetch(
            "SELECT id FROM cards ORDER BY id LIMIT 4")]
        for index, kind in OPTED_OUT.items():
            member_id = await connection.fetchval(_MEMBER_SQL, cards[index], f"{index:02x}")
            await connection.execute("UPDATE cards SET member_id = $1 WHERE id = $2",
                                     member_id, cards[index])
            await connection.execute("INSERT INTO member_notification_opt_outs"
                                     " (member_id, kind) VALUES ($1, $2)", member_id, kind)
        await connection.execute(P2_SQL)
    return cards


async def _write_events(url: str, name: str, cards: list[int]) -> dict[int, bool]:
    async with connected(url) as connection:
        return {await connection.fetchval(_OUTBOX_SQL, kind, cards[index], points):
                OPTED_OUT.get(index) == kind for kind, index, points in EVENTS[name]}


@pytest.fixture
def two_partitions(postgres_server_url: str, database_url: str,
                   run_async: Callable[..., object]) -> Iterator[TwoPartitions]:
    """Central is the test's database; p2 its copy (the reference data replicated) without
    the opt-outs, which are central's alone; then each outbox's events."""
    cards = run_async(_central, database_url)
    assert isinstance(cards, list)
    name = f"jifen_test_{uuid.uuid4().hex}"

    async def copy() -> None:
        async with connected(postgres_server_url) as server:
            await server.execute(f"CREATE DATABASE {name} TEMPLATE {database_url.rsplit('/')[-1]}")
        async with connected(with_database(postgres_server_url, name)) as p2:
            await p2.execute("DELETE FROM member_notification_opt_outs")

    run_async(copy)
    p2_url = with_database(postgres_server_url, name)
    events = {"main": run_async(_write_events, database_url, "main", cards),
              "p2": run_async(_write_events, p2_url, "p2", cards)}
    yield TwoPartitions(database_url, p2_url, cards, events)  # type: ignore[arg-type]

    async def drop() -> None:
        async with connected(postgres_server_url) as server:
            await server.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    run_async(drop)


async def _deliveries(url: str) -> dict[int, str]:
    async with connected(url) as connection:
        return {row["event_id"]: row["outcome"] for row in await connection.fetch(
            "SELECT event_id, outcome FROM notification_deliveries")}


async def _until_done(url: str, events: dict[int, bool]) -> dict[int, str]:
    with anyio.fail_after(DELIVERED_WAIT_S):
        while len(done := await _deliveries(url)) < len(events):
            await anyio.sleep(0.05)
    return done


def _expected_keys(name: str, events: dict[int, bool]) -> set[str]:
    prefix = None if name == "main" else name
    return {str(event_key(prefix, outbox_id)) for outbox_id, skipped in events.items()
            if not skipped}


@asynccontextmanager
async def sending(config: NotifyConfig, central_url: str,
                  others: dict[str, str]) -> AsyncIterator[None]:
    """`jifen notify`'s service for the block, drained at its end."""
    health, drain = Readiness(), Drain(5.0)
    async with anyio.create_task_group() as group:
        group.start_soon(partial(run_notify, config, central_url, others, "main",
                                 health=health, drain=drain))
        yield
        drain.ask()


def _config(port: int) -> NotifyConfig:
    return NotifyConfig(webhook_url=f"http://127.0.0.1:{port}/sms", poll_interval_s=0.05,
                        backoff_s_min=0.05, backoff_s_max=0.2)


def _metric(name: str, partition: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"partition": partition})


def test_an_event_identity_is_unique_over_partitions() -> None:
    assert event_key(None, 123) == 123        # central's: as before partitions
    assert event_key("p2", 123) == "p2:123"


async def test_one_sender_delivers_every_partition(two_partitions, role_url, tmp_path) -> None:
    parts = two_partitions
    notify_url = role_url(Role.NOTIFY)
    p2_notify_url = on_database(notify_url, parts.p2_url)
    path = write_config(tmp_path / "jifen.toml", parts.central_url, {"p2": parts.p2_url},
                        {"database": {"notify_url": notify_url},
                         "p2": {"notify_url": p2_notify_url}})
    urls = await anyio.to_thread.run_sync(sender_urls, load_config(path))
    assert (urls.central_url, urls.central_name, urls.others) == \
        (notify_url, "main", {"p2": p2_notify_url})
    assert set(parts.events["main"]) & set(parts.events["p2"]), "the two outboxes' ids overlap"

    port = _free_port()
    gateway = Gateway(FakeClock(), refuse_until_s=0.0)
    with serving(gateway, port):
        async with sending(_config(port), urls.central_url, urls.others):
            done = {"main": await _until_done(parts.central_url, parts.events["main"]),
                    "p2": await _until_done(parts.p2_url, parts.events["p2"])}

    keys = [key for key, _ in gateway.accepted]
    assert all(key == str(body_id) for key, body_id in gateway.accepted)
    assert set(keys) == _expected_keys("main", parts.events["main"]) | \
        _expected_keys("p2", parts.events["p2"])
    assert len(keys) == len(set(keys))                       # a clean run: each once
    for name, events in parts.events.items():                # in id order per partition
        mine = [key for key in keys if key.startswith("p2:") == (name == "p2")]
        assert mine == [str(event_key(None if name == "main" else name, outbox_id))
                        for outbox_id, skipped in sorted(events.items()) if not skipped]
        assert done[name] == {outbox_id: "skipped" if skipped else "delivered"
                              for outbox_id, skipped in events.items()}
        assert any(events.values()), "each partition has an opted-out event"


async def test_a_partition_out_of_reach_holds_up_its_own_events_only(
        two_partitions, role_url, postgres_server_url) -> None:
    parts = two_partitions
    notify_url = role_url(Role.NOTIFY)
    # p2's URL names a database that is not there yet: p2's server refuses the connection.
    away = f"jifen_test_{uuid.uuid4().hex}"
    p2_database = parts.p2_url.rsplit("/", 1)[1]
    port = _free_port()
    gateway = Gateway(FakeClock(), refuse_until_s=0.0)
    try:
        with serving(gateway, port):
            async with sending(_config(port), notify_url,
                               {"p2": with_database(notify_url, away)}):
                await _until_done(parts.central_url, parts.events["main"])
                with anyio.fail_after(DELIVERED_WAIT_S):
                    while _metric("jifen_notify_partition_up", "p2") != 0:
                        await anyio.sleep(0.05)
                assert _metric("jifen_notify_oldest_pending_age_seconds", "p2") > 0
                assert await _deliveries(parts.p2_url) == {}
                assert {key for key, _ in gateway.accepted} == \
                    _expected_keys("main", parts.events["main"])
                async with connected(postgres_server_url) as server:   # p2 answers again
                    await server.execute(f"ALTER DATABASE {p2_database} RENAME TO {away}")
                await _until_done(with_database(parts.p2_url, away), parts.events["p2"])
                with anyio.fail_after(DELIVERED_WAIT_S):   # the read that recorded them ends
                    while _metric("jifen_notify_partition_up", "p2") != 1:
                        await anyio.sleep(0.05)
        assert {key for key, _ in gateway.accepted} == \
            _expected_keys("main", parts.events["main"]) | \
            _expected_keys("p2", parts.events["p2"])
    finally:
        async with connected(postgres_server_url) as server:
            exists = await server.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", away)
            if exists:
                await server.execute(f"ALTER DATABASE {away} RENAME TO {p2_database}")


async def test_a_partition_added_while_it_runs_ends_the_sender_for_a_restart(
        two_partitions, role_url, monkeypatch) -> None:
    """Started with central alone while the table lists p2 too (added since): it stops with
    PartitionsChanged, which its supervisor answers with a start that reads p2's URL."""
    monkeypatch.setattr(partitions_watch, "PARTITIONS_CHECK_S", 0.05)
    health, drain = Readiness(), Drain(5.0)
    with pytest.raises(PartitionsChanged, match="p2"), anyio.fail_after(DELIVERED_WAIT_S):
        await run_notify(_config(_free_port()), role_url(Role.NOTIFY), {}, "main",
                         health=health, drain=drain)


def _notify_command(config_path: Path) -> list[str]:
    return [sys.executable, "-m", "jifen.cli", "--config", str(config_path), "notify"]


async def test_jifen_notify_serves_both_from_the_configuration(
        two_partitions, role_url, tmp_path) -> None:
    """The command as systemd runs it: both partitions' events delivered, SIGTERM drains, 0."""
    parts = two_partitions
    notify_url = role_url(Role.NOTIFY)
    port = _free_port()
    path = write_config(tmp_path / "jifen.toml", parts.central_url, {"p2": parts.p2_url},
                        {"database": {"notify_url": notify_url},
                         "p2": {"notify_url": on_database(notify_url, parts.p2_url)}})
    with path.open("a") as config_file:
        config_file.write(f'[notify]\nwebhook_url = "http://127.0.0.1:{port}/sms"\n'
                          "metrics_port = 0\npoll_interval_s = 0.05\n")
    gateway = Gateway(FakeClock(), refuse_until_s=0.0)
    env = {key: value for key, value in os.environ.items() if key != "JIFEN_DATABASE_URL"}
    with serving(gateway, port):
        sender = subprocess.Popen(_notify_command(path), env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        try:
            for name, url in (("main", parts.central_url), ("p2", parts.p2_url)):
                await _until_done(url, parts.events[name])
        finally:
            sender.send_signal(signal.SIGTERM)
            output = (await anyio.to_thread.run_sync(
                lambda: sender.communicate(timeout=DELIVERED_WAIT_S)))[0]
    assert sender.returncode == 0, output
    assert {key for key, _ in gateway.accepted} == \
        _expected_keys("main", parts.events["main"]) | \
        _expected_keys("p2", parts.events["p2"])


def test_jifen_notify_refuses_a_partition_it_cannot_find(two_partitions, tmp_path) -> None:
    """p2 in central's table, no [partitions.p2]: refused at start, naming it, not skipped."""
    path = write_config(tmp_path / "jifen.toml", two_partitions.central_url, {})
    env = {key: value for key, value in os.environ.items() if key != "JIFEN_DATABASE_URL"}
    result = subprocess.run(_notify_command(path), env=env, capture_output=True, text=True,
                            timeout=DELIVERED_WAIT_S)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "[partitions.p2]" in result.stderr
