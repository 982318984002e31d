"""The database reference: pgbench's tpcb-like script on the same PostgreSQL, same duration.

tpcb-like is five statements and a commit per transaction, each commit durable (the server's
fsync and synchronous_commit as configured). Jifen's durable authorisations per second divided
by its TPS says how much group commit buys over one commit per request. It runs in a scratch
database of its own, created and dropped here, with scale = clients by default so that the
clients do not queue on one branch row (pgbench's documentation asks for scale >= clients).
"""

from __future__ import annotations

import os
import re

import anyio
import asyncpg
import msgspec

from database.connect import redact_url, with_database
from database.errors import EmbeddedServerError
from database.tools import run_tool
from loadtest.errors import ReferenceRunError

# One per process: two load tests (or test runs) on one server must not drop each other's.
SCRATCH_DATABASE = f"jifen_loadtest_pgbench_{os.getpid()}"
# Initialising scale 16 (1.6 M accounts) takes a few seconds here; scale 100 under a minute.
INIT_TIMEOUT_S = 600.0
# Past the run's own duration: connection set-up, the closing report.
RUN_MARGIN_S = 60.0
SQL_TIMEOUT_S = 60.0
_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)
_LATENCY = re.compile(r"^latency average = ([0-9.]+) ms", re.MULTILINE)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.MULTILINE)


class PgbenchResult(msgspec.Struct, frozen=True):
    tps: float
    latency_ms_mean: float
    failed: int
    clients: int
    threads: int
    scale: int
    duration_s: int
    fsync: str
    synchronous_commit: str


async def run_pgbench(server_url: str, duration_s: int, clients: int = 16, threads: int = 2,
                      scale: int | None = None) -> PgbenchResult:
    scale = scale or clients
    scratch_url = with_database(server_url, SCRATCH_DATABASE)
    fsync, synchronous_commit = await _prepare(server_url)
    try:
        await anyio.to_thread.run_sync(_pgbench, [
            "-i", "-I", "dtGvp", "-s", str(scale), "-q", scratch_url], INIT_TIMEOUT_S)
        output = await anyio.to_thread.run_sync(_pgbench, [
            "-b", "tpcb-like", "-c", str(clients), "-j", str(threads), "-T", str(duration_s),
            "-n", scratch_url], duration_s + RUN_MARGIN_S)
    finally:
        with anyio.CancelScope(shield=True):
            await _execute(server_url, f"DROP DATABASE IF EXISTS {SCRATCH_DATABASE} WITH (FORCE)")
    tps, latency = _TPS.search(output), _LATENCY.search(output)
    if tps is None or latency is None:
        raise ReferenceRunError(f"pgbench printed no TPS:\n{output[-2000:]}")
    failed = _FAILED.search(output)
    return PgbenchResult(
        tps=float(tps.group(1)), latency_ms_mean=float(latency.group(1)),
        failed=int(failed.group(1)) if failed else 0, clients=clients, threads=threads,
        scale=scale, duration_s=duration_s, fsync=fsync, synchronous_commit=synchronous_commit,
    )


def _pgbench(args: list[str], timeout_s: float) -> str:
    try:
        return run_tool("pgbench", args, timeout_s=timeout_s)
    except EmbeddedServerError as exc:
        raise ReferenceRunError(f"pgbench failed: {exc}") from exc


async def _prepare(server_url: str) -> tuple[str, str]:
    """A fresh scratch database; the server's fsync and synchronous_commit settings."""
    await _execute(server_url, f"DROP DATABASE IF EXISTS {SCRATCH_DATABASE} WITH (FORCE)",
                   f"CREATE DATABASE {SCRATCH_DATABASE}")
    try:
        connection = await asyncpg.connect(server_url, timeout=SQL_TIMEOUT_S)
        try:
            return (await connection.fetchval("SHOW fsync"),
                    await connection.fetchval("SHOW synchronous_commit"))
        finally:
            await connection.close()
    except (OSError, asyncpg.PostgresError) as exc:
        raise ReferenceRunError(f"cannot read settings of {redact_url(server_url)}: {exc}") \
            from exc


async def _execute(url: str, *statements: str) -> None:
    try:
        with anyio.fail_after(SQL_TIMEOUT_S):
            connection = await asyncpg.connect(url, timeout=SQL_TIMEOUT_S)
            try:
                for statement in statements:
                    await connection.execute(statement)
            finally:
                await connection.close()
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise ReferenceRunError(f"pgbench's scratch database on {redact_url(url)}: {exc}") \
            from exc
