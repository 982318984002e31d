"""The cost of synchronous commit (issue 21): `jifen loadtest --start` on the local Patroni
cluster (database/cluster.py), with a synchronous standby and without one by turns, on the
same cluster and a fresh database each run (docs/reliability.md, "Fail-over").

    python -m loadtest.sync_cost                           saturated: 32 terminals, closed loop
    python -m loadtest.sync_cost --rate 100 --terminals 4  one request a batch: the latency

Each run's approvals per second, latency and the host's mean group commit, per mode. Needs
etcd (Debian's etcd-server) and Patroni (the test extra).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import msgspec

from database import migrate
from database.cluster import ETCD_PACKAGE, local_cluster
from database.errors import DatabaseError

EXIT_NOT_RUN = 2
DATABASE_NAME = "jifen"
# A load test run is its duration, its warm-up, issuing the cards and starting the system.
RUN_TIMEOUT_S = 600.0


class SyncCostOptions(msgspec.Struct, frozen=True):
    rounds: int = 2                      # runs per mode, alternating
    terminals: int = 32
    rate_per_s: float | None = None      # an open loop at this rate; else closed, 8 in flight
    duration_s: float = 15.0
    cards: int = 10_000
    work_dir: str = "var/sync-cost"


class RunFigures(msgspec.Struct, frozen=True):
    synchronous: bool
    approved_per_s: float
    p50_ms: float
    p99_ms: float
    mean_batch_size: float
    mean_commit_ms: float


def run_sync_cost(options: SyncCostOptions) -> list[RunFigures]:
    work_dir = Path(options.work_dir).absolute()
    shutil.rmtree(work_dir / "cluster", ignore_errors=True)
    figures = []
    with local_cluster(work_dir / "cluster") as cluster:
        for synchronous in [True, False] * options.rounds:
            cluster.set_synchronous(synchronous)
            url = cluster.fresh_database(DATABASE_NAME)
            anyio.run(migrate, url, backend="asyncio")
            figures.append(_figures(synchronous, _load_test(url, options, work_dir)))
    return figures


def _load_test(url: str, options: SyncCostOptions, work_dir: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "jifen.cli", "loadtest", "--start", "--no-pgbench",
               "--no-ceiling", "--no-latency-phase", "--duration", str(options.duration_s),
               "--cards", str(options.cards), "--terminals", str(options.terminals),
               "--work-dir", str(work_dir / "loadtest"), "--quiet", "--json"]
    if options.rate_per_s is not None:
        command += ["--rate", str(options.rate_per_s)]
    environment = {name: value for name, value in os.environ.items() if name != "JIFEN_CONFIG"}
    environment["JIFEN_DATABASE_URL"] = url
    result = subprocess.run(command, env=environment, capture_output=True, text=True,
                            timeout=RUN_TIMEOUT_S, check=False)
    if result.returncode != 0:
        raise DatabaseError(f"jifen loadtest failed ({result.returncode}): {result.stderr}")
    report: dict[str, Any] = msgspec.json.decode(result.stdout)
    return report


def _figures(synchronous: bool, report: dict[str, Any]) -> RunFigures:
    system, batches = report["system"], report["batches"][0]
    return RunFigures(synchronous, system["approved_per_s"], system["latency"]["p50_ms"],
                      system["latency"]["p99_ms"], batches["mean_batch_size"],
                      batches["mean_commit_ms"])


def render(figures: list[RunFigures]) -> str:
    lines = ["mode           approvals/s   p50 ms   p99 ms   batch   commit ms"]
    for run in figures:
        mode = "synchronous" if run.synchronous else "asynchronous"
        lines.append(f"{mode:<14} {run.approved_per_s:>11,.0f} {run.p50_ms:>8.1f} "
                     f"{run.p99_ms:>8.1f} {run.mean_batch_size:>7.1f} "
                     f"{run.mean_commit_ms:>11.2f}")
    return "\n".join(lines) + "\n"


def parse_options(argv: list[str]) -> SyncCostOptions:
    defaults = SyncCostOptions()
    parser = argparse.ArgumentParser(prog="python -m loadtest.sync_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument("--terminals", type=int, default=defaults.terminals)
    parser.add_argument("--rate", type=float, help="requests per second (default: closed loop)")
    parser.add_argument("--duration", type=float, default=defaults.duration_s)
    parser.add_argument("--cards", type=int, default=defaults.cards)
    parser.add_argument("--work-dir", default=defaults.work_dir)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds: at least 1")
    return SyncCostOptions(rounds=args.rounds, terminals=args.terminals, rate_per_s=args.rate,
                           duration_s=args.duration, cards=args.cards, work_dir=args.work_dir)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(sys.argv[1:] if argv is None else argv)
    if shutil.which("etcd") is None:
        print(f"no etcd: apt-get install {ETCD_PACKAGE}", file=sys.stderr)
        return EXIT_NOT_RUN
    try:
        figures = run_sync_cost(options)
    except (DatabaseError, subprocess.TimeoutExpired) as exc:
        print(f"the synchronous commit's cost could not be measured: {exc}", file=sys.stderr)
        return EXIT_NOT_RUN
    print(render(figures), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
