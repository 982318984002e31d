"""`jifen dialup`, `jifen modem-emulator` and `jifen term --serial`: configuration, and the three
as separate processes (as a user runs them) against a front in this process."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest
from anyio.streams.text import TextReceiveStream

from devices.term import TermCommand, run_term
from dialup.config import DialupConfig
from runtime.config import load_config
from runtime.errors import ConfigError
from tests.dialup.bridge_harness import dialup_system
from tests.e2e.system import CARDS, MERCHANT, TERMINAL, running_system

JIFEN = [sys.executable, "-m", "jifen.cli"]
PROCESS_WAIT_S = 30.0

CONFIG = """
[front]
listen_port = 8583

[log]
level = "debug"

[dialup]
front_address = "127.0.0.1:{front_port}"
metrics_port = 0
port_backoff_s_min = 0.05

[dialup.modem]
escape_guard_s = 0.05

[dialup.link]
ack_timeout_s = 0.5
inter_byte_timeout_s = 0.2

[[dialup.ports]]
device = "{device}"
name = "pots1"
nii = 1
"""


class TestConfig:
    def test_the_dialup_and_log_sections(self, tmp_path: Path):
        path = tmp_path / "jifen.toml"
        path.write_text(CONFIG.format(front_port=9000, device="/dev/ttyUSB0"))
        loaded = load_config(str(path))
        config, log = loaded.dialup, loaded.log
        assert log.level == "debug"
        assert config.front_address == "127.0.0.1:9000"
        assert (config.modem.escape_guard_s, config.modem.connect_timeout_s) == (0.05, 60.0)
        assert (config.link.ack_timeout_s, config.link.resends_max) == (0.5, 3)
        [port] = config.ports
        assert (port.device, port.label, port.nii, port.parity, port.speed_bps) == \
            ("/dev/ttyUSB0", "pots1", 1, "N", 9600)
        assert port.init_commands == ("ATZ", "ATE0", "ATS0=0")

    def test_defaults_without_a_file(self, monkeypatch):
        monkeypatch.delenv("JIFEN_CONFIG", raising=False)
        assert load_config(None).dialup == DialupConfig()

    @pytest.mark.parametrize("bad", [
        '[[dialup.ports]]\ndevice = "/dev/ttyS0"\nparity = "X"\n',
        '[[dialup.ports]]\ndevice = "/dev/ttyS0"\n[[dialup.ports]]\ndevice = "/dev/ttyS0"\n',
        '[dialup]\nunknown_s = 1\n',
    ])
    def test_bad_sections(self, tmp_path: Path, bad: str):
        path = tmp_path / "jifen.toml"
        path.write_text(bad)
        with pytest.raises(ConfigError):
            load_config(str(path))


@pytest.mark.anyio
class TestCommands:
    async def test_term_serial_runs_the_same_transactions(self, database_url):
        async with dialup_system(database_url) as dialup:
            command = TermCommand(
                host="", port=0, terminal_code=TERMINAL, merchant_code=MERCHANT,
                action="purchase", pan=CARDS[0], amount_fen=12_345, timeout_s=10.0,
                serial_device=dialup.emulators[0].terminal_path, json_output=True,
            )
            outcome = await run_term(command)
            assert outcome.exit_code == 0
            assert json.loads(outcome.text)["fields"]["39"] == "00"
            assert await dialup.points(CARDS[0]) == 123

    async def test_emulator_bridge_and_terminal_as_processes(self, database_url, tmp_path):
        async with running_system(database_url) as system, anyio.create_task_group() as group:
            emulator = await anyio.open_process(
                [*JIFEN, "modem-emulator", "--json", "--guard", "0.02", "--ring-interval", "0.1"])
            group.start_soon(_stop_at_exit, emulator)
            lines = json.loads(await _read_until(emulator.stdout, "lines"))["lines"]
            path = tmp_path / "jifen.toml"
            path.write_text(CONFIG.format(front_port=system.front_port,
                                          device=lines[0]["bridge"]))
            bridge = await anyio.open_process([*JIFEN, "--config", str(path), "dialup"])
            group.start_soon(_stop_at_exit, bridge)
            await _read_until(bridge.stderr, "port ready")
            group.start_soon(_drain, bridge.stderr)

            term = await anyio.run_process(
                [*JIFEN, "term", "--serial", lines[0]["terminal"], "--terminal", TERMINAL,
                 "--merchant", MERCHANT, "--json", "purchase", "--pan", CARDS[1],
                 "--amount", "12345"], check=False)
            assert term.returncode == 0, term.stderr.decode()
            assert json.loads(term.stdout)["fields"]["39"] == "00"
            balance = await system.fetchval(
                "SELECT a.balance FROM accounts a JOIN cards c ON c.id = a.card_id"
                " WHERE c.pan_hmac = $1 AND a.kind = 'member_points'",
                await system.pan_hmac(CARDS[1]))
            assert balance == 123
            group.cancel_scope.cancel()


async def _read_until(stream, marker: str) -> str:
    """The first line of a process's output that holds `marker`."""
    buffer = ""
    with anyio.fail_after(PROCESS_WAIT_S):
        async for text in TextReceiveStream(stream):
            buffer += text
            while "\n" in buffer:
                line, buffer = buffer.split("\n", 1)
                if marker in line:
                    return line
    raise AssertionError(f"the process ended before printing {marker!r}")


async def _drain(stream) -> None:
    async for _ in stream:
        pass


async def _stop_at_exit(process) -> None:
    try:
        await anyio.sleep_forever()
    finally:
        process.terminate()
        with anyio.CancelScope(shield=True), anyio.fail_after(PROCESS_WAIT_S):
            await process.wait()
