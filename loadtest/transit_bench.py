"""How fast transfers between partitions go through (docs/transfers.md): --transfers card
replacements from main's range to p2's, written at once, on `jifen up --partitions 2`.

    python -m loadtest.transit_bench [--transfers 500] [--dir var/transit-bench] [--json]

A replacement is a transfer like a points transfer (debit, credit; the driver, both hosts and
replication between two embedded servers), and needs no approval, so the benchmark writes its
rows directly (as `jifen card replace` would, one transaction for all). Timed from that commit
until every transfer is final: the drain rate, and each transfer's time from its request to its
end (`updated_at - requested_at`). The demo's cards have no balances: the steps post nothing,
but write and decide every command as with balances. The machine's load average is read
before and after (the box may be shared).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import asyncpg
import msgspec

from database.config import DatabaseConfig
from database.connect import resolve_database_url
from database.ports import free_ports
from loadtest.errors import SetupError

TRANSFERS_DEFAULT = 500
DIR_DEFAULT = "var/transit-bench"
# `jifen up --partitions 2` starts two servers, migrates, loads the demo and adds p2: a minute
# on a loaded box; the transfers' drain is what is measured, bounded by this.
UP_TIMEOUT_S = 240.0
DRAIN_TIMEOUT_S = 600.0
POLL_INTERVAL_S = 0.2
# p2's host listens on main's host ports + this (runtime/local_partitions.py).
PORT_OFFSET = 10

_WRITE_SQL = """
INSERT INTO transfers (kind, alliance_id, from_card_id, to_card_id, source, destination, points,
                       stored_value_fen, payload)
SELECT 'card_replacement', o.alliance_id, o.id, n.id, 'main', 'p2', 0, 0,
       jsonb_build_object('card_id', o.id, 'reason', 'transit bench', 'other_card_id', n.id,
                          'points', 0, 'stored_value_fen', 0)
FROM (SELECT id, alliance_id, row_number() OVER (ORDER BY id) AS i FROM cards
      WHERE pan_masked LIKE '622188%' AND status = 'active') AS o
JOIN (SELECT id, row_number() OVER (ORDER BY id) AS i FROM cards
      WHERE pan_masked LIKE '622189%' AND status = 'active') AS n ON n.i = o.i
ORDER BY o.i LIMIT $1
"""
_PROGRESS_SQL = """
SELECT count(*) FILTER (WHERE state IN ('credited', 'voided', 'refused', 'stuck')) AS final,
       count(*) FILTER (WHERE state = 'credited') AS credited, count(*) AS total
FROM transfers
"""
_LATENCY_SQL = """
SELECT percentile_cont(ARRAY[0.5, 0.99, 1.0]) WITHIN GROUP
       (ORDER BY extract(epoch FROM updated_at - requested_at))
FROM transfers
"""


class Result(msgspec.Struct, frozen=True):
    transfers: int
    credited: int
    drain_s: float
    per_s: float
    latency_p50_s: float
    latency_p99_s: float
    latency_max_s: float
    load_before: float
    load_after: float


def _config(root: Path) -> Path:
    front, switch, front_m, switch_m, notify_m, transit_m = free_ports(6)
    while True:   # a host port, and its metrics port, whose +PORT_OFFSET are free too
        host, host_m = free_ports(2)
        if all(port + PORT_OFFSET not in (front, switch, front_m, switch_m, notify_m,
                                          transit_m) for port in (host, host_m)):
            break
    config = root / "jifen.toml"
    config.write_text(
        f'[database]\ndata_dir = "{root / "pg"}"\nbackup_dir = "{root / "backups"}"\n'
        "archive_wal = false\n"
        f'[front]\nlisten_port = {front}\nmetrics_port = {front_m}\n'
        f'switch_address = "127.0.0.1:{switch}"\n'
        f'[switch]\nlisten_port = {switch}\nmetrics_port = {switch_m}\n'
        f'hosts = {{ main = "127.0.0.1:{host}" }}\n'
        f"[host]\nlisten_port = {host}\nmetrics_port = {host_m}\n"
        f"[notify]\nmetrics_port = {notify_m}\n"
        f"[transit]\nmetrics_port = {transit_m}\npoll_interval_s = 0.5\n")
    return config


def _wait_up(process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + UP_TIMEOUT_S
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "Jifen is up." in line:
            return
        if not line and process.poll() is not None:
            break
    raise SetupError(f"jifen up --partitions 2 was not up within {UP_TIMEOUT_S:g} s")


async def _drain(central_url: str, transfers: int) -> tuple[float, int, int]:
    """Seconds from the transfers' commit until every one is final; how many were written and
    credited."""
    connection = await asyncpg.connect(central_url)
    try:
        async with connection.transaction():
            written = int((await connection.execute(_WRITE_SQL, transfers)).split()[-1])
            await connection.execute("SELECT pg_notify('jifen_changes', 'host_commands')")
        started = time.monotonic()
        with anyio.fail_after(DRAIN_TIMEOUT_S):
            while True:
                row = await connection.fetchrow(_PROGRESS_SQL)
                assert row is not None
                if row["final"] == row["total"]:
                    return time.monotonic() - started, written, row["credited"]
                await anyio.sleep(POLL_INTERVAL_S)
    finally:
        await connection.close()


async def _latencies(central_url: str) -> list[float]:
    connection = await asyncpg.connect(central_url)
    try:
        return list(await connection.fetchval(_LATENCY_SQL))
    finally:
        await connection.close()


def run_bench(root: Path, transfers: int) -> Result:
    """A fresh `jifen up --partitions 2` under `root` (removed first), the transfers, the
    figures; the system stopped whatever happens."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    config = _config(root)
    env = {key: value for key, value in os.environ.items() if key != "JIFEN_DATABASE_URL"}
    load_before = os.getloadavg()[0]
    with (root / "up.log").open("w") as log:
        up = subprocess.Popen([sys.executable, "-m", "jifen.cli", "--config", str(config), "up",
                               "--partitions", "2"], cwd=root, env=env,
                              stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        _wait_up(up)
        central_url = resolve_database_url(DatabaseConfig(data_dir=str(root / "pg"),
                                                          archive_wal=False))
        drain_s, written, credited = anyio.run(_drain, central_url, transfers)
        p50, p99, most = anyio.run(_latencies, central_url)
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            up.kill()
            up.communicate()
    return Result(written, credited, drain_s, written / drain_s if drain_s else 0.0, p50, p99,
                  most, load_before, os.getloadavg()[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.transit_bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=TRANSFERS_DEFAULT)
    parser.add_argument("--dir", type=Path, default=Path(DIR_DEFAULT))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not 1 <= args.transfers <= 1_000:
        parser.error("--transfers is 1 to 1,000 (the demo's p2 range has 1,000 cards)")
    result = run_bench(args.dir.resolve(), args.transfers)
    if args.json:
        print(msgspec.json.encode(result).decode())
        return 0
    print(f"{result.transfers} transfers ({result.credited} credited) final in"
          f" {result.drain_s:.2f} s: {result.per_s:.0f}/s; each from its request to its end"
          f" p50 {result.latency_p50_s:.2f} s, p99 {result.latency_p99_s:.2f} s, max"
          f" {result.latency_max_s:.2f} s (load {result.load_before:.1f} ->"
          f" {result.load_after:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
