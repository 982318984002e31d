"""The terminal registry: loading, reloading on NOTIFY, and sign-on changes racing a reload."""

from __future__ import annotations

import anyio
import asyncpg
import pytest

from acquirer_front.errors import DatabaseUnavailableError
from acquirer_front.registry import Registry, Terminal
from acquirer_front.registry_loader import RegistryLoader
from tests.acquirer_front.front_testkit import (
    MERCHANT,
    T_NEW,
    T_OF_INACTIVE,
    T_SIGNED,
    TEST_CONFIG,
    WAIT_S,
    seed,
)

pytestmark = pytest.mark.anyio


def terminal(code: str, *, signed_on: bool = False) -> Terminal:
    return Terminal(code, MERCHANT, True, "ALLIANCE1", False, True, signed_on)


class TestRegistry:
    def test_sign_on_after_the_reload_query_began_survives_the_reload(self) -> None:
        registry = Registry()
        registry.replace([terminal(T_NEW)], registry.mark())
        mark = registry.mark()                   # the reload's query starts...
        registry.set_signed_on(T_NEW, True)      # ...a sign-on commits meanwhile...
        registry.replace([terminal(T_NEW)], mark)  # ...and the snapshot does not show it.
        assert registry.get(T_NEW).signed_on is True

    def test_a_later_snapshot_wins_over_an_older_sign_on(self) -> None:
        registry = Registry()
        registry.replace([terminal(T_NEW)], registry.mark())
        registry.set_signed_on(T_NEW, True)
        registry.replace([terminal(T_NEW, signed_on=False)], registry.mark())
        assert registry.get(T_NEW).signed_on is False


class TestRegistryLoader:
    async def test_loads_then_reloads_on_notification(self, database_url: str) -> None:
        await seed(database_url)
        registry = Registry()
        connection = await asyncpg.connect(database_url)
        try:
            async with anyio.create_task_group() as group:
                await group.start(RegistryLoader(database_url, registry, TEST_CONFIG).run)
                assert registry.get(T_SIGNED) == Terminal(
                    T_SIGNED, MERCHANT, True, "ALLIANCE1", False, True, True)
                assert registry.get(T_NEW).signed_on is False
                assert registry.get(T_OF_INACTIVE).merchant_active is False
                version = registry.version

                await connection.execute(
                    "UPDATE merchants SET active = false WHERE merchant_code = $1", MERCHANT)
                await connection.execute("NOTIFY jifen_changes, 'cards'")   # not ours
                await connection.execute("NOTIFY jifen_changes, 'merchants'")
                with anyio.fail_after(WAIT_S):
                    await registry.wait_reloaded(version)
                assert registry.get(T_SIGNED).merchant_active is False
                group.cancel_scope.cancel()
        finally:
            await connection.close()

    async def test_reloads_after_its_connection_is_lost(self, database_url: str) -> None:
        await seed(database_url)
        registry = Registry()
        connection = await asyncpg.connect(database_url)
        try:
            async with anyio.create_task_group() as group:
                await group.start(RegistryLoader(database_url, registry, TEST_CONFIG).run)
                version = registry.version
                await connection.execute("DELETE FROM terminal_sessions")
                await connection.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()")
                with anyio.fail_after(WAIT_S):
                    await registry.wait_reloaded(version)
                assert registry.get(T_SIGNED).signed_on is False
                group.cancel_scope.cancel()
        finally:
            await connection.close()

    async def test_no_database_is_an_error_at_start(self) -> None:
        loader = RegistryLoader("postgresql://nobody@127.0.0.1:1/none", Registry(), TEST_CONFIG)
        with pytest.raises(DatabaseUnavailableError):
            await loader.run()
