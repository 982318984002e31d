"""Fixtures of the simulator tests: a fake acquirer front on a real TCP port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from tests.devices.fake_front import FakeFront


@pytest.fixture
async def fake_front() -> AsyncIterator[FakeFront]:
    front = FakeFront()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    front.port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(listener.serve, front.handle)
        yield front
        task_group.cancel_scope.cancel()
    await listener.aclose()
