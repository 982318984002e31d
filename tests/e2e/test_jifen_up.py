"""`jifen up` as an operator runs it: a child process, the embedded database, the demo, the
three services, a terminal simulator talking to it, and SIGTERM stopping it all."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from database.ports import free_port

UP_TIMEOUT_S = 90.0
# Readiness after "Jifen is up": the front's link to the switch, at most a backoff away.
STATUS_READY_TIMEOUT_S = 30.0


def _jifen(*args: str) -> list[str]:
    return [sys.executable, "-m", "jifen.cli", *args]


def _wait_for_line(process: subprocess.Popen, text: str, timeout_s: float) -> list[str]:
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"{text!r} not printed; got {''.join(seen)!r}")


def _status_once_ready(config: Path, env: dict[str, str], cwd: Path) -> list[dict]:
    """`jifen status --json` until it exits 0 (links come up just after the ports open)."""
    deadline = time.monotonic() + STATUS_READY_TIMEOUT_S
    while True:
        result = subprocess.run(_jifen("--config", str(config), "status", "--json"), cwd=cwd,
                                env=env, capture_output=True, text=True, timeout=60)
        if result.returncode == 0 or time.monotonic() > deadline:
            assert result.returncode == 0, result.stdout + result.stderr
            return json.loads(result.stdout)
        time.sleep(0.2)


@pytest.mark.timeout(180)
def test_up_serves_terminals_and_stops_on_sigterm(tmp_path: Path):
    front_port = free_port()
    config = tmp_path / "jifen.toml"
    config.write_text(
        f'[database]\ndata_dir = "{tmp_path / "pg"}"\n'
        f"[front]\nlisten_port = {front_port}\nmetrics_port = {free_port()}\n"
        f'switch_address = "127.0.0.1:{(switch_port := free_port())}"\n'
        f"[switch]\nlisten_port = {switch_port}\n"
        f"metrics_port = {free_port()}\n"
        f'hosts = {{ main = "127.0.0.1:{(host_port := free_port())}" }}\n'
        f"[host]\nlisten_port = {host_port}\nmetrics_port = {free_port()}\n"
        f"[notify]\nmetrics_port = {free_port()}\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "JIFEN_DATABASE_URL"}
    log_path = tmp_path / "up.log"
    up = subprocess.Popen(_jifen("--config", str(config), "up"), cwd=tmp_path, env=env,
                          stdout=subprocess.PIPE, stderr=log_path.open("w"), text=True)
    try:
        printed = _wait_for_line(up, "Jifen is up.", UP_TIMEOUT_S)
        assert any("Loaded the demo alliance" in line for line in printed)
        with open(tmp_path / "var" / "demo-cards.csv", newline="") as cards_file:
            pan = next(csv.DictReader(cards_file))["pan"]

        def term(*args: str, cwd: Path = tmp_path, exit_code: int = 0) -> dict:
            result = subprocess.run(
                _jifen("term", "--port", str(front_port), "--terminal", "DEMO0001",
                       "--merchant", "DEMO00000000001", "--json", *args),
                cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
            assert result.returncode == exit_code, result.stderr
            return json.loads(result.stdout)

        # The demo terminals MAC, with TMKs of this installation that `jifen term` finds in
        # var/demo-tmks.csv.
        signed_on = term("signon")["fields"]
        assert signed_on["39"] == "00" and "MK" in signed_on["48"]
        purchased = term("purchase", "--pan", pan, "--amount", "2500")["fields"]
        assert purchased["39"] == "00" and "64" in purchased
        # Someone who knows only the terminal and merchant IDs cannot even sign on.
        (stranger := tmp_path / "elsewhere").mkdir()
        assert term("signon", cwd=stranger, exit_code=1)["fields"]["39"] == "A0"
        # One operator of each role, their passwords in a private file; the merchant admin
        # sees its merchant only, over the embedded server.
        operators_csv = tmp_path / "var" / "demo-operators.csv"
        assert operators_csv.stat().st_mode & 0o777 == 0o600
        assert any("jifen --operator demo_card_service --operator-password-file" in line
                   for line in printed)
        listed = subprocess.run(
            _jifen("--config", str(config), "--operator", "demo_merchant_admin",
                   "--operator-password-file", str(operators_csv), "merchant", "list",
                   "--json"), cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=60)
        assert listed.returncode == 0, listed.stderr
        assert [row["merchant_code"] for row in json.loads(listed.stdout)] == [
            "DEMO00000000001"]
        # Every process answers on its metrics port: alive, ready, its links up.
        processes = _status_once_ready(config, env, tmp_path)
        assert [process["service"] for process in processes] == ["front", "switch", "host"]
        assert all(link["up"] for process in processes
                   for link in process["status"]["links"]), processes
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            remaining = up.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            up.kill()
            raise
    log_tail = "".join(log_path.read_text().splitlines(keepends=True)[-30:])
    assert up.returncode == 0, f"{remaining}\n--- log ---\n{log_tail}"
    assert "Stopped the embedded database." in remaining
    assert not (tmp_path / "pg" / "postmaster.pid").exists()
