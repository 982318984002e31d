"""Operators' changes reach running services without a restart."""

from __future__ import annotations

import anyio
import asyncpg
import pytest

from back_office.provisioning.card_status import set_card_status
from proto.fields import parse_balances
from tests.e2e.system import CARDS, running_system

pytestmark = pytest.mark.anyio


async def _answer_code_becomes(terminal, pan: str, code: str, timeout_s: float = 10.0) -> None:
    """Ask until the host has heard of the change (it reloads on NOTIFY, asynchronously)."""
    with anyio.fail_after(timeout_s):
        while (await terminal.inquiry(pan))["39"] != code:
            await anyio.sleep(0.02)


class TestCardStatus:
    async def test_reported_lost_then_found(self, database_url):
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            assert (await terminal.purchase(CARDS[7], 1_000))["39"] == "00"
            connection = await asyncpg.connect(database_url)
            try:
                change = await set_card_status(connection, CARDS[7], "lost")
                assert (change.status_before, change.status) == ("active", "lost")
                await _answer_code_becomes(terminal, CARDS[7], "41")
                assert (await terminal.purchase(CARDS[7], 1_000))["39"] == "41"
                await set_card_status(connection, CARDS[7], "active")
                await _answer_code_becomes(terminal, CARDS[7], "00")
            finally:
                await connection.close()
            balances = parse_balances((await terminal.inquiry(CARDS[7]))["54"])
            assert balances["0001999"] == 10
