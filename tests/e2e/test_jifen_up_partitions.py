"""`jifen up --partitions 2` as an operator runs it: two embedded servers, the demo's cards
split over two hosts, and a terminal served on both ranges, its batch reconciled over both;
the audit over both is clean; SIGTERM stops everything, both servers included
(docs/operations.md "Partitions on one machine")."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import anyio
import asyncpg
import pytest

from database.config import DatabaseConfig
from database.connect import resolve_database_url
from database.ports import free_port
from devices.terminal_client import TerminalClient
from proto.frames import Totals
from tests.e2e.test_jifen_up import UP_TIMEOUT_S, _jifen, _status_once_ready, _wait_for_line

# p2's host listens on main's host ports + 10.
PORT_OFFSET = 10
TERMINAL_TIMEOUT_S = 15.0
# The sender reads an outbox every 0.5 s: an event is printed within a second or two.
NOTIFIED_TIMEOUT_S = 30.0


def _free_with_offset() -> int:
    """A free port whose +PORT_OFFSET is free too."""
    while True:
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + PORT_OFFSET))
            except OSError:
                continue
        return port


def _first_pan(path: Path) -> str:
    with open(path, newline="") as cards_file:
        return next(csv.DictReader(cards_file))["pan"]


def _tmk(path: Path, terminal: str) -> bytes:
    with open(path, newline="") as tmks:
        return bytes.fromhex(next(row["tmk"] for row in csv.DictReader(tmks)
                                  if row["terminal_code"] == terminal))


async def _batch_over_both(port: int, tmk: bytes, pans: list[str]) -> dict[str, str]:
    """DEMO0003 signs on, buys with a card of each range, and reconciles with the sum."""
    async with TerminalClient("127.0.0.1", port, "DEMO0003", "DEMO00000000002", tmk=tmk,
                              timeout_s=TERMINAL_TIMEOUT_S) as terminal:
        assert (await terminal.sign_on())["39"] == "00"
        for amount, pan in zip((1_000, 2_500), pans, strict=True):
            assert (await terminal.purchase(pan, amount))["39"] == "00"
        return await terminal.reconcile(Totals(purchases_count=2, purchases_fen=3_500))


async def _closed_part(url: str) -> list[int]:
    """DEMO0003's closed batch in this database: its purchases' count and amount."""
    connection = await asyncpg.connect(url)
    try:
        counted = await connection.fetchval(
            "SELECT counted FROM terminal_batches WHERE terminal_code = 'DEMO0003'"
            " AND closed_at IS NOT NULL")
    finally:
        await connection.close()
    return list(counted[:2])


def up_config(tmp_path: Path, host_metrics: int, more: str = "") -> tuple[Path, int]:
    """A configuration of `jifen up --partitions 2` under `tmp_path` on free ports (p2's host
    on main's + PORT_OFFSET), with `more` sections; the file and the front's port."""
    front_port, host_port = free_port(), _free_with_offset()
    config = tmp_path / "jifen.toml"
    config.write_text(
        f'[database]\ndata_dir = "{tmp_path / "pg"}"\nbackup_dir = "{tmp_path / "backups"}"\n'
        "archive_wal = false\n"
        f"[front]\nlisten_port = {front_port}\nmetrics_port = {free_port()}\n"
        f'switch_address = "127.0.0.1:{(switch_port := free_port())}"\n'
        f"[switch]\nlisten_port = {switch_port}\nmetrics_port = {free_port()}\n"
        f'hosts = {{ main = "127.0.0.1:{host_port}" }}\n'
        f"[host]\nlisten_port = {host_port}\nmetrics_port = {host_metrics}\n"
        f"[notify]\nmetrics_port = {free_port()}\n" + more)
    return config, front_port


@pytest.mark.timeout(240)
def test_up_with_two_partitions_serves_both_ranges_and_reconciles_over_both(tmp_path: Path):
    host_metrics = _free_with_offset()
    config, front_port = up_config(tmp_path, host_metrics,
                                   f"[transit]\nmetrics_port = {free_port()}\n")
    env = {key: value for key, value in os.environ.items() if key != "JIFEN_DATABASE_URL"}
    log_path = tmp_path / "up.log"
    up = subprocess.Popen(_jifen("--config", str(config), "up", "--partitions", "2"),
                          cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                          stderr=log_path.open("w"), text=True)
    try:
        printed = "".join(_wait_for_line(up, "Jifen is up.", UP_TIMEOUT_S * 2))
        assert "demo card range 622189-622189 -> p2: 1000 cards" in printed
        assert "partition p2 ready: number 1" in printed
        var = tmp_path / "var"
        pans = [_first_pan(var / "demo-cards.csv"), _first_pan(var / "demo-cards-p2.csv")]
        assert [pan[:6] for pan in pans] == ["622188", "622189"]

        def term(*args: str) -> dict:
            result = subprocess.run(
                _jifen("term", "--port", str(front_port), "--terminal", "DEMO0001",
                       "--merchant", "DEMO00000000001", "--json", *args),
                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stdout + result.stderr
            return json.loads(result.stdout)["fields"]

        assert term("signon")["39"] == "00"
        for pan in pans:   # a card of each range: main's host, then p2's
            assert term("purchase", "--pan", pan, "--amount", "1200")["39"] == "00"
        # The one sender prints (no webhook configured) p2's members' events too, p2's
        # identity on them: p2's host wrote them to its own database's outbox.
        line = _wait_for_line(up, '"partition":"p2"', NOTIFIED_TIMEOUT_S)[-1]
        event = json.loads(line)
        assert event["id"].startswith("p2:") and event["kind"] == "points_earned", event
        # Both hosts answer `jifen status` (the run's configuration names p2's), links up.
        run_config = var / "up" / "jifen.toml"
        processes = _status_once_ready(run_config, env, tmp_path)
        assert [(process["service"], process["partition"]) for process in processes] == [
            ("front", None), ("switch", None), ("host", "main"), ("host", "p2")]
        assert processes[3]["address"] == f"127.0.0.1:{host_metrics + PORT_OFFSET}"
        links = {link["name"]: link["up"] for link in processes[1]["status"]["links"]}
        assert links.items() >= {"host main": True, "host p2": True}.items(), links
        tmk = _tmk(var / "demo-tmks.csv", "DEMO0003")
        reconciled = anyio.run(_batch_over_both, front_port, tmk, pans)
        assert reconciled["39"] == "00", reconciled
        # Each partition's database closed its own part of the batch with what it counted.
        for data_dir in ("pg", "pg-p2"):
            url = resolve_database_url(DatabaseConfig(data_dir=str(tmp_path / data_dir),
                                                      archive_wal=False))
            assert anyio.run(_closed_part, url) == [1, 1_000 if data_dir == "pg" else 2_500]
        # The audit over both: clean, and the 0500's key, in both partitions' requests by
        # design (a part each), is no retransmission_key_split.
        audited = subprocess.run(_jifen("--config", str(run_config), "audit"), cwd=tmp_path,
                                 env=env, capture_output=True, text=True, timeout=120)
        assert audited.returncode == 0, audited.stdout + audited.stderr
        assert "across partitions: clean: 5 checks\n" in audited.stdout, audited.stdout
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            remaining = up.communicate(timeout=90)[0]
        except subprocess.TimeoutExpired:
            up.kill()
            raise
    log_tail = "".join(log_path.read_text().splitlines(keepends=True)[-30:])
    assert up.returncode == 0, f"{remaining}\n--- log ---\n{log_tail}"
    assert "Stopped the embedded databases." in remaining
    for data_dir in ("pg", "pg-p2"):
        assert not (tmp_path / data_dir / "postmaster.pid").exists()
