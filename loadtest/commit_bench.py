"""Micro-benchmark of the account host's group commit: the real writer (apply, batch
statement, answers) fed with synthetic purchases, batch by batch, on an embedded PostgreSQL of
its own, without links, switch or front.

    python -m loadtest.commit_bench [--sizes 1,16,64,256] [--requests 4000] [--repeat 3]

Before measuring, --history purchases are written and analysed, so the tables look like a
running system's; --setup-sql runs an experiment's SQL then (an index or constraint dropped),
and --unix-socket connects the writer through the server's socket instead of TCP. --tiers gives
the bench alliance the load test's 4 tiers (loadtest/rules.py), so that every purchase counts
in its card's tier standing and the batch writes those standings; --expiry gives it the load
test's 12-month expiry, so that every purchase makes or grows its card's lot. --explain N
shows where the statement's server time goes, table by table (loadtest/statement_explain.py).

For each batch size the writer's queue is filled first, so the writer takes exactly `size`
requests per group commit, back to back. It reports, per request: the host's CPU
(time.process_time of this process, which is the writer and little else), the CPU of the
writer's PostgreSQL backend and of the whole server (walwriter, checkpointer included, from
/proc), and per batch the statement's latency and the writer's cycle. A fresh database is
made at every run, so figures are repeatable; the server stays under var/commit-bench-pg.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import cast
from urllib.parse import urlencode, urlsplit, urlunsplit

import anyio
import asyncpg
import msgspec
from anyio.streams.memory import MemoryObjectSendStream

from account_host import metrics
from account_host.config import HostConfig
from account_host.database import WriterDatabase
from account_host.queue_items import QueueItem
from account_host.service import open_pan_lookup_key
from account_host.writer import Writer
from back_office.provisioning.cards import insert_known_cards
from database import EmbeddedPostgres, fresh_database
from loadtest.rules import TIERS
from loadtest.statement_explain import ExplainingDatabase, render_explained
from proto.codes import ResponseCode
from proto.earn_rules import EarnRules, Expiry, encode_rules
from proto.frames import Answer, Request
from proto.keys import load_kek
from proto.links import LinkPeer
from proto.pan import luhn_check_digit
from runtime.logging import configure_logging

DATA_DIR = Path(__file__).resolve().parents[1] / "var" / "commit-bench-pg"
DATABASE = "commit_bench"
BATCH_SIZES = (1, 16, 64, 256)
# Measured requests per batch size and run: enough for seconds of work at every size.
REQUESTS_DEFAULT = 4_000
# Batches before the measured ones: the statement is prepared and its plan settled.
WARMUP_BATCHES = 10
CARDS_DEFAULT = 100_000
# Purchases written before any measurement, then ANALYZE: the tables and their statistics look
# like a running system's. On empty tables the planner picks sequential scans for the foreign
# key checks, and a writer connection keeps those plans while its tables grow.
HISTORY_REQUESTS = 30_000
HISTORY_BATCH_SIZE = 500
TERMINALS = 64
BIN = "628899"
MERCHANT_CODE = "BENCH0000000001"
AMOUNT_FEN = 1_000
# A run's every wait: the writer answers a batch in milliseconds.
WAIT_S = 120.0
_CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


class SizeResult(msgspec.Struct):
    batch_size: int
    requests: int
    batches: int
    host_cpu_us_per_request: float
    host_sys_us_per_request: float     # of which in the kernel (socket writes)
    backend_cpu_us_per_request: float
    server_cpu_us_per_request: float
    commit_ms: float           # the batch statement's latency, on average
    cycle_ms: float            # wall time per batch of the writer's loop
    requests_per_s: float


def make_pan(serial: int) -> str:
    partial = f"{BIN}{serial:09d}"
    return partial + luhn_check_digit(partial)


async def prepare_database(data_dir: Path, cards: int, tiers: bool = False,
                           expiry: bool = False) -> str:
    """A fresh, migrated and seeded database on the bench's own server; its URL."""
    server = EmbeddedPostgres(data_dir)
    admin_url = server.ensure_running()
    url = await fresh_database(admin_url, DATABASE)
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f"""
            INSERT INTO alliances (code, name) VALUES ('BENCH', 'Bench alliance');
            INSERT INTO merchants (merchant_code, alliance_id, name, earn_points_per_yuan)
            VALUES ('{MERCHANT_CODE}', (SELECT id FROM alliances), 'Bench shop', 1);
            INSERT INTO terminals (terminal_code, merchant_id)
            SELECT 'BT' || lpad(n::text, 6, '0'), (SELECT id FROM merchants)
            FROM generate_series(1, {TERMINALS}) AS n;
            INSERT INTO card_ranges (bin_low, bin_high, host_name)
            VALUES ('{BIN}', '{BIN}', 'main');
        """)
        alliance_id = await connection.fetchval("SELECT id FROM alliances")
        await insert_known_cards(
            connection, [make_pan(serial) for serial in range(1, cards + 1)], alliance_id,
            datetime(2099, 12, 31).date(), kek=load_kek())
        if tiers or expiry:   # in force from yesterday, whatever the alliance's time zone
            rules = EarnRules(tiers=TIERS if tiers else None,
                              expiry=Expiry(months=12) if expiry else None)
            await connection.execute(
                "INSERT INTO earn_rule_sets (alliance_id, effective_from, document)"
                " VALUES ($1, current_date - 1, $2::jsonb)", alliance_id, encode_rules(rules))
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    return url


def unix_socket_url(url: str, data_dir: Path) -> str:
    """The same database through the server's unix socket (in its data directory)."""
    parts = urlsplit(url)
    query = urlencode({"host": str(data_dir.resolve()), "port": parts.port})
    return urlunsplit(parts._replace(netloc=f"{parts.username}@", query=query))


class BenchPeer:
    """Stands for the switch's link: counts answers, and the unexpected ones."""

    def __init__(self) -> None:
        self.answered = 0
        self.unexpected: dict[str, int] = {}
        self.target = 0
        self.done = anyio.Event()

    def expect(self, count: int) -> None:
        self.answered = 0
        self.target = count
        self.done = anyio.Event()

    async def send_answers(self, answers: list[Answer]) -> None:
        for answer in answers:
            if answer.response_code != ResponseCode.APPROVED:
                code = str(answer.response_code)
                self.unexpected[code] = self.unexpected.get(code, 0) + 1
        self.answered += len(answers)
        if self.answered >= self.target:
            self.done.set()


class RequestMaker:
    """Purchases on uniformly drawn cards, round robin over the terminals, never repeated."""

    def __init__(self, cards: int, seed: int) -> None:
        self._pans = [make_pan(serial) for serial in range(1, cards + 1)]
        self._random = random.Random(seed)
        self._serial = 0
        self._time = datetime.now(UTC).strftime("%m%d%H%M%S")

    def make(self, count: int) -> list[Request]:
        requests = []
        for _ in range(count):
            serial = self._serial
            self._serial += 1
            stan, terminal = divmod(serial, TERMINALS)
            assert stan < 999_999, "STANs of a terminal exhausted: use fewer requests"
            requests.append(Request(
                correlation_id=serial, mti="0200", terminal_code=f"BT{terminal + 1:06d}",
                merchant_code=MERCHANT_CODE, stan=f"{stan + 1:06d}",
                transmission_time=self._time, received_at_ns=0, processing_code="000000",
                pan=self._random.choice(self._pans), amount=AMOUNT_FEN, currency="156",
                batch_number=1, entry_mode="051"))
        return requests


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])   # utime, stime


def server_ticks(postmaster_pid: int) -> int:
    """CPU ticks of the postmaster and every child of it (backends, walwriter, ...)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(entry.name) == postmaster_pid or int(fields[1]) == postmaster_pid:
            total += int(fields[11]) + int(fields[12])
    return total


def _commit_totals() -> tuple[float, float]:
    """Sum and count of the writer's commit latency histogram so far."""
    total = count = 0.0
    for metric in metrics.COMMIT_SECONDS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_sum"):
                total = sample.value
            elif sample.name.endswith("_count"):
                count = sample.value
    return total, count


async def measure_size(
    url: str, postmaster_pid: int, maker: RequestMaker, size: int, requests: int,
    database_class: type[WriterDatabase] = WriterDatabase,
) -> SizeResult:
    """Run the writer over `requests` purchases taken `size` at a time."""
    batches = max(1, requests // size)
    requests = batches * size
    warmup = WARMUP_BATCHES * size
    config = HostConfig(listen_port=0, metrics_port=0, batch_size_max=size,
                        queue_requests_max=requests + warmup)
    database = database_class(url, config)
    send, receive = anyio.create_memory_object_stream[QueueItem](requests + warmup)
    peer = BenchPeer()
    writer = Writer(config, database, receive,
                    pan_lookup_key=await open_pan_lookup_key(config, url))
    await writer.recover()
    assert database.connection is not None
    backend_pid = database.connection.get_server_pid()
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(writer.run)
            await _feed(send, peer, maker.make(warmup))
            measured = maker.make(requests)
            commit_before = _commit_totals()
            backend_before, server_before = cpu_ticks(backend_pid), server_ticks(postmaster_pid)
            times_before = os.times()
            cpu_before, wall_before = time.process_time(), time.perf_counter()
            await _feed(send, peer, measured)
            wall_s = time.perf_counter() - wall_before
            host_cpu_s = time.process_time() - cpu_before
            host_sys_s = os.times().system - times_before.system
            backend_s = (cpu_ticks(backend_pid) - backend_before) / _CLOCK_TICKS_PER_S
            server_s = (server_ticks(postmaster_pid) - server_before) / _CLOCK_TICKS_PER_S
            commit_after = _commit_totals()
            group.cancel_scope.cancel()
    finally:
        database.close()
    if peer.unexpected:
        raise SystemExit(f"unexpected answers at batch size {size}: {peer.unexpected}")
    commits = commit_after[1] - commit_before[1]
    return SizeResult(
        batch_size=size, requests=requests, batches=batches,
        host_cpu_us_per_request=host_cpu_s / requests * 1e6,
        host_sys_us_per_request=host_sys_s / requests * 1e6,
        backend_cpu_us_per_request=backend_s / requests * 1e6,
        server_cpu_us_per_request=server_s / requests * 1e6,
        commit_ms=(commit_after[0] - commit_before[0]) / max(commits, 1) * 1e3,
        cycle_ms=wall_s / batches * 1e3, requests_per_s=requests / wall_s)


async def _feed(send: MemoryObjectSendStream[QueueItem], peer: BenchPeer,
                requests: list[Request]) -> None:
    """Queue every request at once (the writer then takes full batches), and wait for all
    the answers."""
    peer.expect(len(requests))
    # The writer takes it for a link's peer: it has what the writer uses of one.
    link_peer = cast(LinkPeer, peer)
    for request in requests:
        send.send_nowait((link_peer, request))
    with anyio.fail_after(WAIT_S):
        await peer.done.wait()


async def run(args: argparse.Namespace) -> list[list[SizeResult]]:
    url = await prepare_database(args.data_dir, args.cards, args.tiers, args.expiry)
    if args.unix_socket:
        url = unix_socket_url(url, args.data_dir)
    postmaster_pid = EmbeddedPostgres(args.data_dir).status().pid
    assert postmaster_pid is not None
    maker = RequestMaker(args.cards, seed=1)
    await measure_size(url, postmaster_pid, maker, HISTORY_BATCH_SIZE, args.history)
    connection = await asyncpg.connect(url)
    try:
        if args.setup_sql is not None:   # an experiment: e.g. an index dropped
            await connection.execute(args.setup_sql.read_text())
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    rounds = []
    ExplainingDatabase.every = args.explain
    database_class = ExplainingDatabase if args.explain else WriterDatabase
    for _ in range(args.repeat):
        rounds.append([await measure_size(url, postmaster_pid, maker, size, args.requests,
                                          database_class)
                       for size in args.sizes])
    return rounds


def median_results(rounds: list[list[SizeResult]]) -> list[SizeResult]:
    """Per batch size, the median of each figure over the rounds."""
    merged = []
    for results in zip(*rounds, strict=True):
        fields = {}
        for name in SizeResult.__struct_fields__:
            values = [getattr(result, name) for result in results]
            fields[name] = statistics.median(values) if isinstance(values[0], float) \
                else values[0]
        merged.append(SizeResult(**fields))
    return merged


def render(results: list[SizeResult], repeat: int) -> str:
    lines = [f"median of {repeat} round(s); CPU in µs per request, times in ms per batch",
             "| batch | host CPU | host sys | PG backend CPU | PG server CPU | commit ms | cycle ms"
             " | requests/s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(
            f"| {r.batch_size} | {r.host_cpu_us_per_request:.0f} | "
            f"{r.host_sys_us_per_request:.0f} | "
            f"{r.backend_cpu_us_per_request:.0f} | {r.server_cpu_us_per_request:.0f} | "
            f"{r.commit_ms:.2f} | {r.cycle_ms:.2f} | {r.requests_per_s:,.0f} |")
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.commit_bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, BATCH_SIZES)),
                        help="batch sizes, comma separated")
    parser.add_argument("--requests", type=int, default=REQUESTS_DEFAULT,
                        help="measured requests per batch size and round")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; medians are shown")
    parser.add_argument("--cards", type=int, default=CARDS_DEFAULT)
    parser.add_argument("--history", type=int, default=HISTORY_REQUESTS,
                        help="purchases written (and analysed) before measuring")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--setup-sql", type=Path,
                        help="SQL file run after the history, before measuring (experiments)")
    parser.add_argument("--tiers", action="store_true",
                        help="the bench alliance has 4 tiers: every purchase writes a standing")
    parser.add_argument("--expiry", action="store_true",
                        help="the bench alliance's points expire: every purchase writes a lot")
    parser.add_argument("--explain", type=int, default=0, metavar="N",
                        help="EXPLAIN ANALYZE every Nth batch: server time by table")
    parser.add_argument("--unix-socket", action="store_true",
                        help="the writer connects through the unix socket, not TCP")
    parser.add_argument("--stop", action="store_true", help="stop the server afterwards")
    parser.add_argument("--json", action="store_true", help="every round, as JSON")
    args = parser.parse_args(argv)
    args.sizes = [int(size) for size in args.sizes.split(",")]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging("warning", process="commit-bench")
    rounds = anyio.run(run, args, backend="asyncio", backend_options={"use_uvloop": True})
    if args.json:
        print(msgspec.json.encode(rounds).decode())
    else:
        print(render(median_results(rounds), args.repeat))
    if args.explain:
        print(render_explained(ExplainingDatabase.times))
    if args.stop:
        EmbeddedPostgres(args.data_dir).stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
