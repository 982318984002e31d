"""No full PAN, PIN block or key in any log line (issue 8).

Host, switch and front run as the operator runs them (`jifen host|switch|front`, one process
each) at log level debug, with every line they write on stderr and stdout kept in files. A
whole session goes through them: sign-on with MAC, inquiry, purchases, a redemption, a
reversal, a key change, reconciliation, a bad MAC, a request carrying a PIN block, card
passwords right and wrong (issue 17), and malformed frames. Then every line is scanned for the
secrets the session used: PANs, keys (TMK, KEK, MAC and PIN session keys), PIN blocks, the
card password and its verification value.
"""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import asyncpg
import pytest

from back_office.provisioning.card_passwords import set_card_password
from devices import messages
from devices.terminal_client import TerminalClient
from proto.frames import Totals
from proto.framing import encode_frame
from proto.iso_codec import encode_iso
from tests.e2e.processes import environment, free_port, running_services, write_config
from tests.e2e.system import CARDS, LOST_CARD, MERCHANT, TERMINAL, seed
from tests.e2e.test_mac import KEK, KEK_HEX, MAC_TERMINAL, TMK, add_mac_terminal

pytestmark = pytest.mark.anyio

# The front reads its KEK from the variable named in config: not the default one, to prove
# kek_env is honoured.
KEK_VARIABLE = "JIFEN_LOG_TEST_KEK"
PIN_BLOCK = "041234FEDCBA9876"   # an ISO 9564 format-0 looking block: field 52, 16 hex
SESSION_S = 60.0                 # the whole session; it takes a few seconds
CARD_PASSWORD = "805731"         # CARDS[0]'s, set at the back office before the session
WRONG_PASSWORD = "193642"


async def _session(front_port: int) -> tuple[list[bytes], list[str]]:
    """Everything a day at a shop does, and a few mistakes; the session keys it was given (MAC
    and PIN) and the PIN blocks it sent."""
    session_keys: list[bytes] = []
    pin_blocks: list[str] = []
    async with TerminalClient("127.0.0.1", front_port, MAC_TERMINAL, MERCHANT, tmk=TMK,
                              timeout_s=10.0) as terminal:
        assert (await terminal.sign_on())["39"] == "00"
        session_keys += [terminal._session_key, terminal._pin_key]
        assert (await terminal.inquiry(CARDS[0]))["39"] == "00"
        assert (await terminal.purchase(CARDS[0], 10_000))["39"] == "00"
        reversed_purchase = await terminal.exchange(messages.purchase(CARDS[1], 5_000, 1))
        assert (await terminal.redeem(CARDS[0], 50))["39"] == "55"   # no password
        assert (await terminal.redeem(CARDS[0], 50, password=WRONG_PASSWORD))["39"] == "55"
        assert (await terminal.redeem(CARDS[0], 50, password=CARD_PASSWORD))["39"] == "00"
        pin_blocks += [terminal.pin_block(CARDS[0], password)
                       for password in (CARD_PASSWORD, WRONG_PASSWORD)]
        assert (await terminal.reverse(reversed_purchase.request))["39"] == "00"
        assert (await terminal.inquiry(LOST_CARD))["39"] == "41"
        bad_mac = messages.purchase(CARDS[2], 1_000, 1)
        bad_mac["64"] = "0123456789ABCDEF"
        assert (await terminal.request(bad_mac))["39"] == "A0"
        assert (await terminal.key_change())["39"] == "00"
        session_keys += [terminal._session_key, terminal._pin_key]
        assert (await terminal.purchase(CARDS[2], 3_000))["39"] == "00"
        assert (await terminal.reconcile(Totals()))["39"] in ("00", "95")
    async with TerminalClient("127.0.0.1", front_port, TERMINAL, MERCHANT,
                              timeout_s=10.0) as plain:
        await plain.sign_on()
        with_pin = messages.purchase(CARDS[3], 2_000, 1)
        with_pin["52"] = PIN_BLOCK
        assert (await plain.request(with_pin))["39"] == "00"
        unknown_code = messages.purchase(CARDS[4], 2_000, 1)
        unknown_code["3"] = "123456"
        assert (await plain.request(unknown_code))["39"] == "12"
        # A malformed request: field 4 not digits (30), with a PAN and a PIN block in it.
        malformed = messages.purchase(CARDS[5], 2_000, 1)
        malformed |= {"4": "00000000ABCD", "52": PIN_BLOCK}
        assert (await plain.request(malformed))["39"] == "30"
        # A password at a terminal that need not MAC: 55, its block never forwarded.
        at_plain = messages.redemption(CARDS[0], 50, 1) | {"52": pin_blocks[0]}
        assert (await plain.request(at_plain))["39"] == "55"
    # Frames that cannot be decoded close the connection; their bytes hold a PAN.
    async with TerminalClient("127.0.0.1", front_port, TERMINAL, MERCHANT,
                              timeout_s=10.0) as raw:
        body = encode_iso(messages.purchase(CARDS[6], 2_000, 1) | {"41": TERMINAL})
        await raw.send_raw(encode_frame(raw.tpdu, body[:4] + b"ZZZZ" + body[8:]))
        with pytest.raises(Exception):  # noqa: B017 - the front closes: any client error
            await raw.receive_raw(timeout_s=10.0)
    return session_keys, pin_blocks


def _secrets(
    session_keys: list[bytes], pin_blocks: list[str], verification: bytes,
) -> dict[str, str]:
    found = {f"PAN {pan}": pan for pan in [*CARDS, LOST_CARD]}
    found |= {"TMK": TMK.hex(), "KEK": KEK_HEX, "PIN block": PIN_BLOCK}
    found |= {f"session key {index}": key.hex() for index, key in enumerate(session_keys)}
    found |= {f"card PIN block {index}": block for index, block in enumerate(pin_blocks)}
    found |= {"verification value": verification.hex()}
    return found


def _password_leaks(lines: list[tuple[str, str]]) -> list[str]:
    """The passwords as whole numbers (six digits could occur inside a longer one)."""
    pattern = re.compile(rf"(?<!\d)({CARD_PASSWORD}|{WRONG_PASSWORD})(?!\d)")
    return [f"card password in {name}: {line}" for name, line in lines if pattern.search(line)]


async def _set_password(database_url: str) -> bytes:
    """CARDS[0]'s password, as the back office sets it; its verification value."""
    connection = await asyncpg.connect(database_url)
    try:
        await set_card_password(connection, CARDS[0], CARD_PASSWORD, kek=KEK)
        return await connection.fetchval(
            "SELECT password_verification FROM cards WHERE password_verification IS NOT NULL")
    finally:
        await connection.close()


async def test_no_pan_pin_block_or_key_in_any_log_line(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
):
    # One KEK for every data key: the cards seeded here, the front's and the host's.
    monkeypatch.setenv("JIFEN_KEK", KEK_HEX)
    await seed(database_url)
    await add_mac_terminal(database_url)
    verification = await _set_password(database_url)
    ports = {name: free_port() for name in ("host", "switch", "front")}
    config = tmp_path / "jifen.toml"
    write_config(config, database_url, ports, kek_variable=KEK_VARIABLE)
    env = environment(database_url, KEK_VARIABLE, KEK_HEX)
    async with running_services(config, ports, env, tmp_path) as by_name:
        with anyio.fail_after(SESSION_S):
            session_keys, pin_blocks = await _session(ports["front"])
    logs = list(by_name.values())
    lines = [(log.name, line) for log in logs for line in log.read_text().splitlines()]
    # The capture works: every process logged, at debug level.
    for log in logs:
        assert '"level": "debug"' in log.read_text(), f"{log.name} has no debug lines"
    assert any("622188******" in line for _, line in lines), "no masked PAN logged at all"
    leaks = [
        f"{what} in {name}: {line}"
        for what, secret in _secrets(session_keys, pin_blocks, verification).items()
        for name, line in lines
        if secret.lower() in line.lower()
    ] + _password_leaks(lines)
    assert not leaks, "\n".join(leaks)
