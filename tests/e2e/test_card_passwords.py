"""Card passwords end to end (host interface 1.2, §4 "Card password", §7): a MAC terminal with
its TMK gets a PIN key at sign-on and sends field 52; the back office sets and resets the
password; the real front, switch, host and PostgreSQL decide 00, 55 and 75."""

from __future__ import annotations

import anyio
import asyncpg
import pytest
from Crypto.Cipher import DES3

from back_office.provisioning.card_passwords import (
    reset_card_password,
    set_card_password,
    show_card_password,
)
from devices import messages
from devices.term import TermCommand, run_term
from devices.terminal_client import TerminalClient
from proto.fields import parse_tlv
from proto.mac import check_value, decrypt_under
from tests.e2e.system import CARDS, MERCHANT, RunningSystem, retry_until_host_is_back
from tests.e2e.test_mac import KEK, MAC_TERMINAL, TMK, mac_system, mac_terminal

pytestmark = pytest.mark.anyio

PAN = CARDS[0]
PASSWORD = "2468"
WRONG = "1111"
NEW_PASSWORD = "135790"
POINTS = 10
# Until the host has re-read a card the back office changed (NOTIFY, then one query).
CHANGE_SEEN_S = 10.0


async def _set(system: RunningSystem, pan: str, password: str, *, reset: bool = False) -> None:
    connection = await asyncpg.connect(system.database_url)
    try:
        change = reset_card_password if reset else set_card_password
        await change(connection, pan, password, kek=KEK)
    finally:
        await connection.close()


async def _tries(system: RunningSystem, pan: str = PAN) -> int:
    """The wrong tries the host made durable for the card's current password."""
    return await system.fetchval(
        "SELECT coalesce((SELECT t.tries FROM card_password_tries t"
        " WHERE t.card_id = c.id AND t.password_version = c.password_version), 0)"
        " FROM cards c WHERE c.pan_hmac = $1", await system.pan_hmac(pan))


async def _redeem(terminal: TerminalClient, password: str | None, pan: str = PAN) -> str:
    return (await terminal.redeem(pan, POINTS, password=password))["39"]


async def _ready(system: RunningSystem, terminal: TerminalClient, pan: str = PAN) -> None:
    """Signed on (PIN key given), the card with points to redeem, its password set and seen
    by the host (a redemption without one is 55 once the host knows the password)."""
    await terminal.sign_on()
    assert terminal.has_pin_key
    assert (await terminal.purchase(pan, 100_000))["39"] == "00"   # 1,000 points
    await _set(system, pan, PASSWORD)
    await _until_seen(terminal, pan, "55", None)


async def _until_seen(
    terminal: TerminalClient, pan: str, expected: str, password: str | None,
) -> None:
    """Redeem until the answer is `expected`: the host has heard of the change."""
    with anyio.fail_after(CHANGE_SEEN_S):
        while await _redeem(terminal, password, pan) != expected:
            await anyio.sleep(0.05)


class TestPinKey:
    async def test_sign_on_and_key_change_carry_pk_pv_under_the_tmk(
        self, database_url, monkeypatch,
    ):
        async with mac_system(database_url, monkeypatch) as system, \
                mac_terminal(system) as terminal:
            for answer in (await terminal.sign_on(), await terminal.key_change()):
                tags = parse_tlv(answer["48"])
                pin_key = decrypt_under(TMK, bytes.fromhex(tags["PK"]))
                assert check_value(pin_key) == tags["PV"]
                assert tags["PK"] != tags["MK"]
            sealed = await system.fetchval(
                "SELECT pin_key_encrypted FROM terminal_sessions WHERE terminal_code = $1",
                terminal.terminal_code)
            assert sealed is not None and pin_key not in sealed

    async def test_a_terminal_that_need_not_mac_gets_no_pin_key(
        self, database_url, monkeypatch,
    ):
        async with mac_system(database_url, monkeypatch) as system, \
                system.terminal() as terminal:
            answer = await terminal.sign_on()
            assert "PK" not in parse_tlv(answer.get("48", ""))


class TestPasswordChecks:
    async def test_right_wrong_missing_lock_and_reset(self, database_url, monkeypatch):
        async with mac_system(database_url, monkeypatch) as system, \
                mac_terminal(system) as terminal:
            await _ready(system, terminal)
            assert await _redeem(terminal, PASSWORD) == "00"
            assert await _redeem(terminal, None) == "55"          # missing: not a try
            assert await _tries(system) == 0
            assert await _redeem(terminal, WRONG) == "55"
            assert await _tries(system) == 1
            assert await _redeem(terminal, PASSWORD) == "00"      # a right one clears
            assert await _tries(system) == 0
            assert await _redeem(terminal, WRONG) == "55"
            assert await _redeem(terminal, WRONG) == "55"
            assert await _redeem(terminal, WRONG) == "75"         # the third in a row
            for password in (PASSWORD, WRONG, None):              # and it stays locked
                assert await _redeem(terminal, password) == "75"
            assert await _tries(system) == 3
            connection = await asyncpg.connect(system.database_url)
            try:
                shown = await show_card_password(connection, PAN, kek=KEK)
            finally:
                await connection.close()
            assert shown.locked and shown.has_password
            await _set(system, PAN, NEW_PASSWORD, reset=True)
            await _until_seen(terminal, PAN, "00", NEW_PASSWORD)
            assert await _redeem(terminal, PASSWORD) == "55"      # the old one is wrong now
            assert await _tries(system) == 1

    async def test_every_password_code_needs_it_and_others_ignore_it(
        self, database_url, monkeypatch,
    ):
        async with mac_system(database_url, monkeypatch) as system, \
                mac_terminal(system) as terminal:
            await _ready(system, terminal)
            assert (await terminal.exchange_points(PAN, 100))["39"] == "55"
            assert (await terminal.exchange_points(PAN, 100, password=PASSWORD))["39"] == "00"
            assert (await terminal.purchase_stored_value(PAN, 100))["39"] == "55"
            assert (await terminal.purchase_stored_value(
                PAN, 100, password=PASSWORD))["39"] == "00"
            assert (await terminal.inquiry(PAN))["39"] == "00"
            purchase = messages.purchase(PAN, 1_000, terminal.batch_number or 1)
            purchase["52"] = terminal.pin_block(PAN, WRONG)       # ignored by a 000000
            assert (await terminal.request(purchase))["39"] == "00"
            # A card without a password ignores field 52 and needs none.
            assert (await terminal.purchase(CARDS[1], 100_000))["39"] == "00"
            assert await _redeem(terminal, None, CARDS[1]) == "00"
            assert await _redeem(terminal, WRONG, CARDS[1]) == "00"
            assert await _tries(system) == 0

    async def test_a_reversal_needs_no_password(self, database_url, monkeypatch):
        async with mac_system(database_url, monkeypatch) as system, \
                mac_terminal(system) as terminal:
            await _ready(system, terminal)
            redemption = await terminal.exchange(messages.redemption(
                PAN, POINTS, terminal.batch_number or 1) | {"52": terminal.pin_block(
                    PAN, PASSWORD)})
            assert redemption.answer["39"] == "00"
            assert (await terminal.reverse(redemption.request))["39"] == "00"

    async def test_a_wrong_password_comes_before_a_bad_amount(self, database_url, monkeypatch):
        async with mac_system(database_url, monkeypatch) as system, \
                mac_terminal(system) as terminal:
            await _ready(system, terminal)
            assert (await terminal.redeem(PAN, 10**9, password=WRONG))["39"] == "55"
            assert (await terminal.redeem(PAN, 10**9, password=PASSWORD))["39"] == "51"

    async def test_a_malformed_block_is_a_wrong_try(self, database_url, monkeypatch):
        async with mac_system(database_url, monkeypatch) as system, \
                mac_terminal(system) as terminal:
            await _ready(system, terminal)
            pin_key = terminal._pin_key
            assert pin_key is not None
            format_1 = bytes.fromhex("1412345678901234")   # control nibble 1: not format 0
            block = DES3.new(pin_key, DES3.MODE_ECB).encrypt(format_1).hex().upper()
            fields = messages.redemption(PAN, POINTS, terminal.batch_number or 1)
            assert (await terminal.request(fields | {"52": block}))["39"] == "55"
            assert await _tries(system) == 1

    async def test_a_retransmission_is_not_a_new_try(self, database_url, monkeypatch):
        async with mac_system(database_url, monkeypatch) as system, \
                mac_terminal(system) as terminal:
            await _ready(system, terminal)
            wrong = await terminal.exchange(messages.redemption(
                PAN, POINTS, terminal.batch_number or 1) | {"52": terminal.pin_block(
                    PAN, WRONG)})
            assert wrong.answer["39"] == "55"
            for _ in range(3):
                assert (await terminal.request(dict(wrong.request)))["39"] == "55"
            assert await _tries(system) == 1
            assert await _redeem(terminal, PASSWORD) == "00"

    async def test_tries_survive_a_host_restart(self, database_url, monkeypatch):
        async with mac_system(database_url, monkeypatch) as system, \
                mac_terminal(system) as terminal:
            await _ready(system, terminal)
            assert await _redeem(terminal, WRONG) == "55"
            assert await _redeem(terminal, WRONG) == "55"
            await system.host.stop()
            await system.host.start(system.group)
            await retry_until_host_is_back(terminal, messages.inquiry(PAN))
            assert await _redeem(terminal, WRONG) == "75"

    async def test_a_terminal_that_need_not_mac_gets_55_and_no_try(
        self, database_url, monkeypatch,
    ):
        async with mac_system(database_url, monkeypatch) as system, \
                mac_terminal(system) as terminal:
            await _ready(system, terminal)
            block = terminal.pin_block(PAN, PASSWORD)   # a right block, at the wrong terminal
            async with system.terminal() as plain:
                await plain.sign_on()
                fields = messages.redemption(PAN, POINTS, plain.batch_number or 1)
                assert (await plain.request(fields | {"52": block}))["39"] == "55"
                assert (await plain.request(dict(fields)))["39"] == "55"
            assert await _tries(system) == 0


class TestTermCommand:
    async def test_jifen_term_sends_the_password_it_was_given(self, database_url, monkeypatch):
        async with mac_system(database_url, monkeypatch) as system, \
                mac_terminal(system) as terminal:
            await _ready(system, terminal)

            def command(password: str, stan: int) -> TermCommand:
                return TermCommand(
                    host="127.0.0.1", port=system.front_port, terminal_code=MAC_TERMINAL,
                    merchant_code=MERCHANT, action="redeem", pan=PAN, amount_fen=POINTS,
                    tmk=TMK, timeout_s=10.0, stan_start=stan, password=password)

            right = await run_term(command(PASSWORD, 500))
            assert right.exit_code == 0 and PASSWORD not in right.text
            wrong = await run_term(command(WRONG, 600))
            assert wrong.exit_code == 1 and "55" in wrong.text
            assert PASSWORD not in repr(command(PASSWORD, 1))
