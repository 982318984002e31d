"""`jifen loadtest`: a fleet of simulated terminals against the system, with two references.

    jifen loadtest                       drive the system `jifen up` runs (front :8583)
    jifen loadtest --start               start one of its own (embedded PostgreSQL under
                                         var/loadtest-pg, or $JIFEN_DATABASE_URL)
    jifen loadtest --start --partitions 2
                                         two partitions, main and p2, each an account host
                                         on an embedded server of its own (p2's under
                                         var/loadtest-pg-p2): each one's rate and the total
    jifen loadtest --report docs/performance.md
                                         measure (on a system of its own unless --front is
                                         given) and write the report

It exits 1 when any answer was wrong or missing, 0 otherwise.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec

from jifen.errors import CliError
from loadtest.rules import RULE_SETS
from runtime.config import load_config
from runtime.logging import configure_logging

if TYPE_CHECKING:
    from database.embedded import EmbeddedPostgres
    from loadtest.partitions import PartitionDatabase
    from loadtest.run import Options

DEFAULT_DATA_DIR = "var/loadtest-pg"
DEFAULT_WORK_DIR = "var/loadtest"
DEFAULT_REPORT_HINT = "docs/performance.md"
EXIT_ERRORS_COUNTED = 1


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} must be above 0")
        return value
    return parse


class _Renamed(argparse.Action):
    """An option's old spelling: refused, naming the new one."""

    def __init__(self, option_strings: list[str], dest: str, new: str) -> None:
        self._new = new
        super().__init__(option_strings, dest, nargs=0, help=argparse.SUPPRESS)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        parser.error(f"{option_string} is now {self._new}")


def _database_url(args: argparse.Namespace,
                  start: bool) -> tuple[str, EmbeddedPostgres | None]:
    """The system's database URL, and the embedded server to stop at the end (if we started
    it). --start uses its own data directory, so it never touches `jifen up`'s data, and an
    empty database every run: a journal left by earlier runs would make each run slower than
    the one before (bigger indexes, more retransmission keys to load), and runs incomparable.
    A configured database is used as it is."""
    from database.connect import APPLICATION_DATABASE, resolve_database_url
    from database.embedded import EmbeddedPostgres
    from database.scratch import fresh_database

    config = load_config(args.config)
    if not start or config.database.url:
        return resolve_database_url(config.database), None
    embedded = EmbeddedPostgres(args.data_dir)
    started_here = not embedded.is_running()
    url = anyio.run(fresh_database, embedded.ensure_running(), APPLICATION_DATABASE)
    return url, embedded if started_here else None


def _partition_databases(
    args: argparse.Namespace,
) -> tuple[list[PartitionDatabase], list[EmbeddedPostgres]]:
    """--partitions N: an empty database on each partition's embedded server (central's
    under --data-dir, p2's beside it), and the servers to stop at the end (those started
    here; p2's first, its subscription to central ends with it)."""
    from database.embedded import EmbeddedPostgres
    from loadtest.partitions import PARTITION_NAMES, fresh_servers, partition_data_dir

    if load_config(args.config).database.url:
        raise CliError("--partitions runs each partition on an embedded server of its own: "
                       "unset $JIFEN_DATABASE_URL (and database.url)")
    names = PARTITION_NAMES[:args.partitions]
    servers = {name: EmbeddedPostgres(args.data_dir if name == "main"
                                      else partition_data_dir(args.data_dir, name))
               for name in names}
    started_here = [server for server in servers.values() if not server.is_running()]
    central = servers.pop("main")
    try:
        databases = fresh_servers(central, servers)
    except BaseException:
        for server in reversed(started_here):
            server.stop()
        raise
    return databases, list(reversed(started_here))


def _options(args: argparse.Namespace, start: bool, database_url: str) -> Options:
    from loadtest.drive import DriveSettings
    from loadtest.run import Options
    from loadtest.sampling import parse_skew

    config = load_config(args.config)
    front = args.front or (config.front.listen_host, config.front.listen_port)
    metrics = args.metrics or [f"http://127.0.0.1:{config.host.metrics_port}/metrics"]
    drive = DriveSettings(
        duration_s=args.duration, warmup_s=args.warmup, in_flight=args.in_flight,
        rate_per_s=args.rate, amount=args.amount, seed=args.seed,
    )
    return Options(
        command=shlex.join(["jifen", *sys.argv[1:]]), database_url=database_url, start=start,
        front=front, metrics_urls=metrics, terminals=args.terminals, cards=args.cards,
        mix=args.mix, skew=parse_skew(args.cards_skew), drive=drive, work_dir=args.work_dir,
        overrides=args.set, ceiling=not args.no_ceiling, pgbench=not args.no_pgbench,
        latency_phase=not args.no_latency_phase, latency_rate_per_s=args.latency_rate,
        pgbench_clients=args.pgbench_clients, pgbench_scale=args.pgbench_scale,
        profile_dir=args.profile, progress=not args.quiet, rules=args.rules,
    )


def _with_partitions(options: Options, partitions: list[PartitionDatabase]) -> Options:
    return msgspec.structs.replace(options, partitions=partitions)


def _loadtest(args: argparse.Namespace) -> int:
    from loadtest.report import render_text, write_report
    from loadtest.run import run

    if args.rate is not None and args.latency_rate is not None:
        raise CliError("--latency-rate is the rate of the open loop after a closed loop; with "
                       "--rate the run is an open loop already: drop one")
    configure_logging("warning", process="loadtest")
    # A report describes a system measured from scratch, unless a running one is named.
    start = args.start or (args.report is not None and args.front is None)
    if start and args.front is not None:
        raise CliError("--start runs a system of its own: drop --front")
    if args.partitions > 1 and not start:
        raise CliError("--partitions needs --start: the load test runs the partitions itself")
    embedded: list[EmbeddedPostgres] = []
    partitions: list[PartitionDatabase] = []
    if args.partitions > 1:
        partitions, embedded = _partition_databases(args)
        database_url = partitions[0].url
    else:
        database_url, server = _database_url(args, start)
        embedded = [server] if server is not None else []
    try:
        options = _options(args, start, database_url)
        if partitions:
            options = _with_partitions(options, partitions)
        results = anyio.run(run, options, backend="asyncio",
                            backend_options={"use_uvloop": True})
    finally:
        for server in embedded:
            server.stop()
    if args.json:
        sys.stdout.buffer.write(msgspec.json.encode(results) + b"\n")
    else:
        print(render_text(results), end="")
    if args.report is not None:
        write_report(Path(args.report), results)
        print(f"report written to {args.report}", file=sys.stderr)
    return EXIT_ERRORS_COUNTED if results.error_count else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from loadtest.latency_target import LATENCY_P99_MS_MAX, LATENCY_RATE_TO_PGBENCH
    from loadtest.mix import DEFAULT_MIX

    text = ("load test: a fleet of terminals against the system, with pgbench and a bare "
            "front as references")
    parser = subparsers.add_parser("loadtest", help=text, description=text)
    system = parser.add_argument_group("the system under test")
    system.add_argument("--start", action="store_true",
                        help="start a system of its own (embedded PostgreSQL under --data-dir "
                             "unless $JIFEN_DATABASE_URL is set; host, switch and front as "
                             "child processes) and stop it at the end")
    system.add_argument("--front", type=_address, metavar="HOST:PORT",
                        help="the running front to drive (default: the configuration's, "
                             "127.0.0.1:8583)")
    system.add_argument("--metrics", action="append", metavar="URL",
                        help="the account host's /metrics, for group-commit batch sizes "
                             "(repeatable; default http://127.0.0.1:9103/metrics)")
    system.add_argument("--partitions", type=int, choices=range(1, 3), default=1, metavar="N",
                        help="--start: card-range partitions, each an account host on an "
                             "embedded server of its own (p2's under --data-dir with -p2), the "
                             "cards shared evenly; reports each one's approvals/s and the "
                             "total (1-2; default 1)")
    system.add_argument("--data-dir", default=DEFAULT_DATA_DIR,
                        help=f"--start's embedded PostgreSQL (default {DEFAULT_DATA_DIR})")
    system.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="--start: a configuration value for the services, e.g. "
                             "host.batch_wait_ms_max=1 (repeatable)")
    system.add_argument("--work-dir", default=DEFAULT_WORK_DIR,
                        help=f"generated configurations and service logs (default "
                             f"{DEFAULT_WORK_DIR})")
    load = parser.add_argument_group("the load")
    # 64 x 8 in flight: with 32 x 8 the host's batches stayed small enough that the run
    # measured the round trip (Little's law) with a quarter of the CPU idle, not the capacity.
    load.add_argument("--terminals", type=_positive(int), default=64,
                      help="terminals, one TCP connection each (default 64)")
    pace = load.add_mutually_exclusive_group()
    pace.add_argument("--in-flight", type=_positive(int), default=8,
                      help="closed loop: requests outstanding per terminal (default 8)")
    pace.add_argument("--rate", type=_positive(float), metavar="PER_S",
                      help="open loop: requests per second, all terminals together")
    load.add_argument("--duration", type=_positive(float), default=20.0,
                      help="the measured window, seconds (default 20)")
    load.add_argument("--warmup", type=float, default=2.0,
                      help="seconds of load before the window (default 2)")
    load.add_argument("--mix", default=DEFAULT_MIX,
                      help=f"CODE=WEIGHT[:EXPECTED],... by processing code, or echo "
                           f"(default {DEFAULT_MIX})")
    load.add_argument("--cards", type=_positive(int), default=100_000,
                      help="cards to draw from; issued if missing (default 100,000)")
    load.add_argument("--cards-skew", default="uniform",
                      help="uniform, or zipf:S (e.g. zipf:1.1) (default uniform)")
    load.add_argument("--amount", type=_positive(int), default=1_000,
                      help="field 4: fen, or points for points codes (default 1,000)")
    load.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    load.add_argument("--rules", choices=RULE_SETS, default="none",
                      help="earn rules of the load-test alliance: none (each merchant's own"
                           " rate), or realistic (200 merchants, 20 promotions, caps counted"
                           " per card and day, 4 tiers, expiring points; loadtest/rules.py)")
    factor = f"{LATENCY_RATE_TO_PGBENCH:g}x pgbench's TPS"
    latency = load.add_mutually_exclusive_group()
    latency.add_argument("--no-latency-phase", action="store_true",
                         help=f"closed loop: skip the latency phase, the open loop at {factor} "
                              "(same duration, same system) where the latency target, p99 < "
                              f"{LATENCY_P99_MS_MAX:g} ms, is judged")
    latency.add_argument("--latency-rate", type=_positive(float), metavar="PER_S",
                         help=f"closed loop: run the latency phase at this rate instead of "
                              f"{factor} (with --no-pgbench, the only way to have it)")
    load.add_argument("--no-half-peak", action=_Renamed, new="--no-latency-phase")
    references = parser.add_argument_group("references")
    references.add_argument("--no-pgbench", action="store_true", help="skip pgbench")
    references.add_argument("--no-ceiling", action="store_true",
                            help="skip the bare front ceiling")
    references.add_argument("--pgbench-clients", type=_positive(int), default=16,
                            help="pgbench clients (default 16)")
    references.add_argument("--pgbench-scale", type=_positive(int),
                            help="pgbench scale (default: as many as clients)")
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="print the results as JSON")
    output.add_argument("--report", metavar="FILE",
                        help=f"write the Markdown report (e.g. {DEFAULT_REPORT_HINT}); "
                             "implies --start unless --front is given")
    output.add_argument("--quiet", action="store_true",
                        help="no progress line on stderr")
    output.add_argument("--profile", metavar="DIR",
                        help="py-spy the services during the window (needs py-spy)")
    parser.set_defaults(handler=_loadtest)
