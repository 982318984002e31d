"""`jifen notify`'s service (notifications/service.py) on the real clock: it connects as its
role, is ready once connected, delivers an event inserted while it runs (read again every poll
interval), and returns when its drain is asked."""

from __future__ import annotations

import anyio
import asyncpg
import pytest

from database.roles import Role
from notifications import NotifyConfig, run_notify
from proto.drain import Drain
from proto.health import Readiness
from tests.notifications.test_sender import FakeClock, Gateway, _free_port, serving

pytestmark = pytest.mark.anyio


async def test_runs_delivers_and_drains(database_url, role_url) -> None:
    port = _free_port()
    gateway = Gateway(FakeClock(), refuse_until_s=0.0)   # accepts at once
    config = NotifyConfig(webhook_url=f"http://127.0.0.1:{port}/", poll_interval_s=0.05)
    health, drain = Readiness(), Drain(5.0)
    owner = await asyncpg.connect(database_url)
    try:
        with serving(gateway, port), anyio.fail_after(20):
            async with anyio.create_task_group() as group:
                group.start_soon(lambda: run_notify(config, role_url(Role.NOTIFY),
                                                    health=health, drain=drain))
                while not all(check.ok for check in health.checks()) or not health.checks():
                    await anyio.sleep(0.05)
                event_id = await owner.fetchval(
                    "INSERT INTO notification_outbox (kind, card_id, points, created_at)"
                    " VALUES ('points_earned', 1, 10, now()) RETURNING id")
                while not await owner.fetchval(
                        "SELECT outcome FROM notification_deliveries WHERE event_id = $1",
                        event_id):
                    await anyio.sleep(0.05)
                drain.ask()   # the service returns: the task group ends
        assert [body_id for _, body_id in gateway.accepted] == [event_id]
        assert [check.name for check in health.checks()] == ["database"]
    finally:
        await owner.close()
