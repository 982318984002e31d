"""MAC and keys end to end (host interface §7): the simulator with its TMK against the real
front, switch, host and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import asyncpg
import pytest

from acquirer_front.keystore import SESSION_KEY_PURPOSE, TMK_PURPOSE, KeyStore
from back_office.data_migrations import data_steps
from back_office.provisioning.terminals import set_requires_mac
from database import migrate
from devices import messages
from devices.errors import SessionKeyError
from devices.terminal_client import TerminalClient
from proto.fields import parse_tlv
from proto.frames import Totals
from proto.framing import encode_frame
from proto.iso_codec import decode_iso, encode_iso
from proto.keys.sealing import seal
from proto.mac import check_value, decrypt_under, retail_mac_hex
from tests.db.test_terminal_keys_bound import migrate_to_008
from tests.e2e.system import CARDS, MERCHANT, TERMINAL, RunningSystem, running_system, seed
from tests.keys_kit import front_key_pair

pytestmark = pytest.mark.anyio

MAC_TERMINAL = "TERMMAC1"
# Test keys only: a TMK and a KEK that exist nowhere else.
TMK = bytes.fromhex("C1D0F8FB4958670DBA40AB1F3752EF0D")
KEK_HEX = "6B1E3F0C2A9D4E7F8A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F6071"
KEK = bytes.fromhex(KEK_HEX)


async def _front_keys(system: RunningSystem) -> KeyStore:
    connection = await asyncpg.connect(system.database_url)
    try:
        return await front_key_pair(connection, KEK)
    finally:
        await connection.close()


async def add_mac_terminal(database_url: str, terminal_code: str = MAC_TERMINAL) -> None:
    """A terminal of MERCHANT that requires MAC, its TMK sealed to the front's key pair
    (under the test KEK)."""
    connection = await asyncpg.connect(database_url)
    try:
        sealed = (await front_key_pair(connection, KEK)).seal(TMK, terminal_code)
        await connection.execute(
            "INSERT INTO terminals (terminal_code, merchant_id, requires_mac, tmk_encrypted)"
            " SELECT $1, id, true, $2 FROM merchants WHERE merchant_code = $3",
            terminal_code, sealed, MERCHANT)
    finally:
        await connection.close()


@asynccontextmanager
async def mac_system(database_url: str, monkeypatch: pytest.MonkeyPatch
                     ) -> AsyncIterator[RunningSystem]:
    monkeypatch.setenv("JIFEN_KEK", KEK_HEX)  # the front's default kek_env
    await seed(database_url)
    await add_mac_terminal(database_url)
    async with running_system(database_url, seeded=False) as system:
        yield system


def mac_terminal(system: RunningSystem, tmk: bytes | None = TMK, **options) -> TerminalClient:
    return TerminalClient("127.0.0.1", system.front_port, MAC_TERMINAL, MERCHANT,
                          timeout_s=10.0, tmk=tmk, **options)


async def journal_size(system: RunningSystem) -> tuple[int, int, int]:
    row = (await system.fetch(
        "SELECT (SELECT count(*) FROM transactions), (SELECT count(*) FROM journal_entries),"
        " (SELECT count(*) FROM host_requests)"))[0]
    return row[0], row[1], row[2]


class TestSignOn:
    async def test_sign_on_gives_a_key_under_the_tmk_and_a_macd_purchase_is_approved(
        self, database_url, monkeypatch
    ):
        async with mac_system(database_url, monkeypatch) as system, \
                mac_terminal(system) as terminal:
            answer = await terminal.sign_on()
            assert answer["39"] == "00" and "64" not in answer
            tags = parse_tlv(answer["48"])
            assert len(tags["MK"]) == 32 and len(tags["MV"]) == 6
            key = decrypt_under(TMK, bytes.fromhex(tags["MK"]))
            assert check_value(key) == tags["MV"]
            assert terminal.must_mac
            # The key is durable, sealed to the front for its purpose, never in clear.
            sealed = await system.fetchval(
                "SELECT session_key_encrypted FROM terminal_sessions WHERE terminal_code = $1",
                MAC_TERMINAL)
            assert key not in sealed
            assert (await _front_keys(system)).open(sealed, MAC_TERMINAL,
                                                    SESSION_KEY_PURPOSE) == key

            exchange = await terminal.exchange(messages.purchase(CARDS[0], 1_000, 1))
            assert "64" in exchange.request
            assert exchange.answer["39"] == "00"
            assert exchange.mac_verified is True  # the client checked the answer's MAC

            inquiry = await terminal.exchange(messages.inquiry(CARDS[0]))
            assert (inquiry.answer["39"], inquiry.mac_verified) == ("00", True)

    async def test_secondary_bitmap_messages_use_field_128(self, database_url, monkeypatch):
        async with mac_system(database_url, monkeypatch) as system, \
                mac_terminal(system) as terminal:
            await terminal.sign_on()
            purchase = await terminal.exchange(messages.purchase(CARDS[1], 2_000, 1))
            reversal = await terminal.exchange(messages.reversal(purchase.request))
            assert "128" in reversal.request and "64" not in reversal.request
            assert (reversal.answer["39"], reversal.mac_verified) == ("00", True)
            # The 0410 has no field above 64, so its MAC is in 64 (the bitmap decides).
            assert "64" in reversal.answer and "128" not in reversal.answer
            # 0500 carries totals (74-89): its MAC is in 128; the purchase was reversed.
            closing = await terminal.exchange(messages.reconciliation(1, Totals()))
            assert "128" in closing.request
            assert (closing.answer["39"], closing.mac_verified) == ("00", True)

    async def test_a_terminal_not_requiring_mac_gets_no_key(self, database_url, monkeypatch):
        async with mac_system(database_url, monkeypatch) as system, \
                TerminalClient("127.0.0.1", system.front_port, TERMINAL, MERCHANT,
                               tmk=TMK) as terminal:
            answer = await terminal.sign_on()
            assert answer["39"] == "00" and "MK" not in parse_tlv(answer.get("48", ""))
            changed = await terminal.key_change()
            assert changed["39"] == "00" and "48" not in changed
            purchase = await terminal.exchange(messages.purchase(CARDS[2], 1_000, 1))
            assert (purchase.answer["39"], purchase.mac_verified) == ("00", None)
            assert "64" not in purchase.answer


class TestRefusals:
    async def test_wrong_mac_is_a0_and_posts_nothing(self, database_url, monkeypatch):
        async with mac_system(database_url, monkeypatch) as system, \
                mac_terminal(system) as terminal:
            await terminal.sign_on()
            before = await journal_size(system)
            wrong = messages.purchase(CARDS[0], 1_000, 1)
            wrong["64"] = "0123456789ABCDEF"
            answer = await terminal.request(wrong)
            assert answer["39"] == "A0" and "64" not in answer  # A0 is not MACed
            assert await journal_size(system) == before

    async def test_tampered_message_is_a0(self, database_url, monkeypatch):
        async with mac_system(database_url, monkeypatch) as system, \
                mac_terminal(system) as terminal:
            await terminal.sign_on()
            fields = terminal.prepare(messages.purchase(CARDS[0], 1_000, 1))
            body = terminal._encode(fields)
            tampered = body.replace(b"000000001000", b"000000009000", 1)  # field 4
            assert tampered != body
            before = await journal_size(system)
            await terminal.send_raw(_frame(terminal, tampered))
            frame = await terminal.receive_raw()
            assert decode_iso(frame.body)["39"] == "A0"
            assert await journal_size(system) == before

    async def test_missing_mac_is_a0(self, database_url, monkeypatch):
        async with mac_system(database_url, monkeypatch) as system:
            async with mac_terminal(system) as terminal:
                await terminal.sign_on()
            before = await journal_size(system)
            # The same terminal without its TMK cannot MAC: it sends no field 64.
            async with mac_terminal(system, tmk=None, stan_start=500) as bare:
                answer = await bare.request(messages.purchase(CARDS[0], 1_000, 1))
            assert answer["39"] == "A0"
            assert await journal_size(system) == before


class TestKeyChangeAndRestart:
    async def test_key_change_new_key_works_old_key_fails(self, database_url, monkeypatch):
        async with mac_system(database_url, monkeypatch) as system:
            async with mac_terminal(system) as terminal:
                first = parse_tlv((await terminal.sign_on())["48"])
                old_key = terminal._session_key
                changed = await terminal.key_change()
                second = parse_tlv(changed["48"])
                assert changed["39"] == "00" and second["MK"] != first["MK"]
                assert terminal._session_key != old_key
                assert (await terminal.purchase(CARDS[3], 1_000))["39"] == "00"
                # A terminal that missed the key change still MACs with the old key.
                terminal._session_key = old_key
                before = await journal_size(system)
                assert (await terminal.request(
                    messages.purchase(CARDS[3], 1_000, 1)))["39"] == "A0"
                assert await journal_size(system) == before
            signed_on = await system.fetchval(
                "SELECT signed_on FROM terminal_sessions WHERE terminal_code = $1", MAC_TERMINAL)
            assert signed_on is True  # a key change keeps the sign-on

    async def test_front_restart_keeps_the_session_key(self, database_url, monkeypatch):
        async with mac_system(database_url, monkeypatch) as system:
            async with mac_terminal(system) as terminal:
                await terminal.sign_on()
                assert (await terminal.purchase(CARDS[4], 1_000))["39"] == "00"
                key = terminal._session_key
            await system.front.stop()
            await system.front.start(system.group)
            async with mac_terminal(system, stan_start=100, batch_number=1) as terminal:
                terminal._session_key = key  # the terminal remembers its key, as a POS does
                exchange = await terminal.exchange(messages.purchase(CARDS[4], 2_000, 1))
                assert (exchange.answer["39"], exchange.mac_verified) == ("00", True)

    async def test_sign_off_drops_the_key(self, database_url, monkeypatch):
        async with mac_system(database_url, monkeypatch) as system, \
                mac_terminal(system) as terminal:
            await terminal.sign_on()
            assert (await terminal.sign_off())["39"] == "00"
            sealed = await system.fetchval(
                "SELECT session_key_encrypted FROM terminal_sessions WHERE terminal_code = $1",
                MAC_TERMINAL)
            assert sealed is None

    async def test_wrong_tmk_at_the_terminal_is_a0_at_sign_on(self, database_url, monkeypatch):
        # Since 1.2 the sign-on is MACed under the TMK: a wrong TMK fails there, not at MV.
        async with mac_system(database_url, monkeypatch) as system, \
                mac_terminal(system, tmk=bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
                             ) as terminal:
            answer = await terminal.sign_on()
            assert answer["39"] == "A0" and "48" not in answer
            assert not terminal.must_mac

    async def test_a_tmk_copied_from_another_terminal_is_a0_at_sign_on(
        self, database_url, monkeypatch
    ):
        # A sealed TMK is bound to its terminal: MAC_TERMINAL's row copied into another
        # terminal's does not open there, so a sign-on MACed under that TMK is refused.
        monkeypatch.setenv("JIFEN_KEK", KEK_HEX)
        await seed(database_url)
        await add_mac_terminal(database_url)
        connection = await asyncpg.connect(database_url)
        try:
            await connection.execute(
                "INSERT INTO terminals (terminal_code, merchant_id, requires_mac, tmk_encrypted)"
                " SELECT 'TERMMAC2', merchant_id, true, tmk_encrypted FROM terminals"
                " WHERE terminal_code = $1", MAC_TERMINAL)
        finally:
            await connection.close()
        async with running_system(database_url, seeded=False) as system:
            async with TerminalClient("127.0.0.1", system.front_port, "TERMMAC2", MERCHANT,
                                      timeout_s=10.0, tmk=TMK) as copied:
                answer = await copied.sign_on()
                assert answer["39"] == "A0" and "48" not in answer and not copied.must_mac
            async with mac_terminal(system) as terminal:  # its own row still opens
                assert (await terminal.sign_on())["39"] == "00" and terminal.must_mac

    async def test_an_mk_that_does_not_match_mv_is_refused(self, database_url, monkeypatch):
        async with mac_system(database_url, monkeypatch) as system, \
                mac_terminal(system) as terminal:
            terminal._tmk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
            with pytest.raises(SessionKeyError, match="MV"):
                # MACed under the right TMK, answered with MK that the wrong one cannot open.
                await terminal.request(_maced_under(TMK, terminal, messages.sign_on()))


def _maced_under(key: bytes, terminal: TerminalClient, fields: dict[str, str]
                 ) -> dict[str, str]:
    """`fields` as the terminal would send them, with their MAC (field 128) under `key`."""
    message = terminal.prepare(fields)
    message["128"] = "0" * 16
    body = encode_iso(message)
    message["128"] = retail_mac_hex(key, body[:-16])
    return message


class TestSessionMessagesAreMaced:
    """1.2 §7: sign-on under the TMK, key change and sign-off under the session key; A0 and
    nothing changed otherwise. Each of these fails on 1.1's front, which checked no 0800."""

    @pytest.mark.parametrize("network", [messages.key_change, messages.sign_off])
    @pytest.mark.parametrize("mac", [None, "0123456789ABCDEF"])
    async def test_unmaced_or_wrongly_maced_is_a0_and_the_old_key_still_works(
        self, database_url, monkeypatch, network, mac
    ):
        async with mac_system(database_url, monkeypatch) as system:
            async with mac_terminal(system) as terminal:
                await terminal.sign_on()
                sealed_before = await _sealed_session_key(system)
                if mac is None:  # an attacker without the keys: the same terminal ID, no MAC
                    async with mac_terminal(system, tmk=None, stan_start=700) as bare:
                        answer = await bare.request(network())
                else:
                    answer = await terminal.request(network() | {"128": mac})
                assert answer["39"] == "A0" and "48" not in answer
                assert await _sealed_session_key(system) == sealed_before
                # Still signed on, with the key it had: a purchase MACed with it is approved.
                exchange = await terminal.exchange(messages.purchase(CARDS[6], 1_000, 1))
                assert (exchange.answer["39"], exchange.mac_verified) == ("00", True)

    async def test_unmaced_sign_on_is_a0_and_changes_nothing(self, database_url, monkeypatch):
        async with mac_system(database_url, monkeypatch) as system:
            async with mac_terminal(system) as terminal:
                await terminal.sign_on()
                sealed_before = await _sealed_session_key(system)
                async with mac_terminal(system, tmk=None, stan_start=800) as bare:
                    answer = await bare.sign_on()
                    assert answer["39"] == "A0" and "48" not in answer
                    wrong = await bare.request(messages.sign_on() | {"128": "0" * 16})
                    assert wrong["39"] == "A0"
                assert await _sealed_session_key(system) == sealed_before
                assert (await terminal.purchase(CARDS[6], 1_000))["39"] == "00"

    async def test_maced_sign_on_key_change_and_sign_off_work(self, database_url, monkeypatch):
        async with mac_system(database_url, monkeypatch) as system, \
                mac_terminal(system) as terminal:
            await terminal.sign_on()
            sent = await terminal.exchange(messages.key_change())
            assert sent.answer["39"] == "00" and "MK" in parse_tlv(sent.answer["48"])
            assert "128" in sent.request and "128" not in sent.answer  # no 0810 is MACed
            echo = await terminal.exchange(messages.echo())
            assert echo.answer["39"] == "00" and "128" not in echo.request
            assert (await terminal.purchase(CARDS[6], 1_000))["39"] == "00"
            assert (await terminal.sign_off())["39"] == "00"
            assert await _sealed_session_key(system) is None

    @pytest.mark.parametrize("network", [messages.key_change, messages.sign_off])
    async def test_key_change_or_sign_off_when_not_signed_on_is_58(
        self, database_url, monkeypatch, network
    ):
        async with mac_system(database_url, monkeypatch) as system:
            async with mac_terminal(system) as terminal:
                assert (await terminal.request(network()))["39"] == "58"
            async with system.terminal() as plain:  # no MAC required: 58 all the same
                assert (await plain.request(network()))["39"] == "58"

    async def test_a_mac_on_an_0800_of_a_terminal_that_need_not_mac_is_ignored(
        self, database_url, monkeypatch
    ):
        async with mac_system(database_url, monkeypatch) as system, \
                system.terminal() as plain:
            assert (await plain.request(messages.sign_on() | {"128": "0" * 16}))["39"] == "00"
            assert (await plain.request(messages.key_change() | {"128": "0" * 16}))["39"] == "00"


async def _sealed_session_key(system: RunningSystem) -> bytes | None:
    return await system.fetchval(
        "SELECT session_key_encrypted FROM terminal_sessions WHERE terminal_code = $1",
        MAC_TERMINAL)


def _frame(terminal: TerminalClient, body: bytes) -> bytes:
    return encode_frame(terminal.tpdu, body)


class TestKeysSealedBeforeMigration009:
    async def test_a_database_migrated_from_008_keeps_its_terminal_signing_on(
        self, empty_database_url, monkeypatch, tmp_path
    ):
        """A TMK and a session key sealed the old way (purpose only, version 1) are sealed
        again bound to the terminal, and to the front's key pair, by `jifen db migrate`'s data
        steps: the session key still
        MACs after the migration, and the terminal still signs on under its TMK."""
        monkeypatch.setenv("JIFEN_KEK", KEK_HEX)
        kek = bytes.fromhex(KEK_HEX)
        session_key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
        await migrate_to_008(empty_database_url, tmp_path)
        await seed(empty_database_url)
        connection = await asyncpg.connect(empty_database_url)
        try:
            await connection.execute(
                "INSERT INTO terminals (terminal_code, merchant_id, requires_mac, tmk_encrypted)"
                " SELECT $1, id, true, $2 FROM merchants WHERE merchant_code = $3",
                MAC_TERMINAL, seal(kek, TMK, TMK_PURPOSE), MERCHANT)
            await connection.execute(
                "INSERT INTO terminal_sessions (terminal_code, signed_on, session_key_encrypted)"
                " VALUES ($1, true, $2)", MAC_TERMINAL,
                seal(kek, session_key, SESSION_KEY_PURPOSE))
        finally:
            await connection.close()
        assert await migrate(empty_database_url, data_steps=data_steps(kek)) == \
            ["009_terminal_keys_bound", "010_terminal_keys_sealed_to_front",
             "013_query_indexes"]
        async with running_system(empty_database_url, seeded=False) as system:
            async with mac_terminal(system) as terminal:
                terminal._session_key = session_key  # the key it held before the migration
                exchange = await terminal.exchange(messages.purchase(CARDS[0], 1_000, 1))
                assert (exchange.answer["39"], exchange.mac_verified) == ("00", True)
                answer = await terminal.sign_on()
                assert answer["39"] == "00" and "MK" in parse_tlv(answer["48"])
                exchange = await terminal.exchange(messages.purchase(CARDS[0], 2_000, 1))
                assert (exchange.answer["39"], exchange.mac_verified) == ("00", True)


class TestFlagAtRunTime:
    async def test_flagging_a_signed_on_terminal_needs_a_new_sign_on(
        self, database_url, monkeypatch
    ):
        async with mac_system(database_url, monkeypatch) as system:
            async with system.terminal() as plain:  # TERMINAL, no MAC required
                await plain.sign_on()
                await _set_requires_mac(system, TERMINAL, True, sealed_tmk=True)
                # Once the registry has reloaded, its unMACed requests are refused.
                await _until_answer(plain, messages.purchase(CARDS[5], 1_000, 1), "A0")
            async with TerminalClient("127.0.0.1", system.front_port, TERMINAL, MERCHANT,
                                      tmk=TMK, stan_start=200) as terminal:
                answer = await terminal.sign_on()
                assert "MK" in parse_tlv(answer["48"])
                exchange = await terminal.exchange(messages.purchase(CARDS[5], 1_000, 1))
                assert (exchange.answer["39"], exchange.mac_verified) == ("00", True)
                await _set_requires_mac(system, TERMINAL, False)
                # Unflagged: no check, and answers without a MAC.
                unmacd = messages.purchase(CARDS[5], 1_000, 1) | {"64": "0" * 16}
                answer = await _until_answer(terminal, unmacd, "00")
                assert "64" not in answer


async def _set_requires_mac(system: RunningSystem, terminal_code: str, requires_mac: bool,
                            sealed_tmk: bool = False) -> None:
    connection = await asyncpg.connect(system.database_url)
    try:
        if sealed_tmk:
            await connection.execute(
                "UPDATE terminals SET tmk_encrypted = $2 WHERE terminal_code = $1",
                terminal_code, (await front_key_pair(connection, KEK)).seal(TMK, terminal_code))
        await set_requires_mac(connection, terminal_code, requires_mac)
    finally:
        await connection.close()


async def _until_answer(terminal: TerminalClient, fields: dict[str, str], code: str,
                        timeout_s: float = 10.0) -> dict[str, str]:
    """Send (a new STAN each time) until the answer is `code`: the front's registry reloads
    on NOTIFY, a few milliseconds after the change."""
    with anyio.fail_after(timeout_s):
        while True:
            answer = await terminal.request(dict(fields))
            if answer["39"] == code:
                return answer
            await anyio.sleep(0.02)


class TestMacForLoads:
    """1.2 §8: where the alliance requires MAC for loads (210000) and exchanges (400060), a
    terminal that need not MAC gets 58 and nothing is posted. Fails on 1.1's front."""

    async def test_load_and_exchange_without_mac_are_58_and_post_nothing(
        self, database_url, monkeypatch
    ):
        monkeypatch.setenv("JIFEN_KEK", KEK_HEX)
        await seed(database_url)
        await add_mac_terminal(database_url)
        connection = await asyncpg.connect(database_url)
        try:
            await connection.execute("UPDATE alliances SET requires_mac_for_loads = true"
                                     " WHERE code = 'TEST'")
        finally:
            await connection.close()
        async with running_system(database_url, seeded=False) as system:
            async with system.terminal() as plain:  # TERMINAL: no MAC required
                await plain.sign_on()
                before = await journal_size(system)
                assert (await plain.load_stored_value(CARDS[7], 5_000_000))["39"] == "58"
                assert (await plain.exchange_points(CARDS[7], 100))["39"] == "58"
                assert await journal_size(system) == before
                # Other transactions of the same terminal are not affected.
                assert (await plain.purchase(CARDS[7], 1_000))["39"] == "00"
            async with mac_terminal(system) as terminal:
                await terminal.sign_on()
                loaded = await terminal.exchange(messages.stored_value_load(CARDS[7], 5_000, 1))
                assert (loaded.answer["39"], loaded.mac_verified) == ("00", True)
