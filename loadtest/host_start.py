"""The account host's cold start and memory over many issued cards: issue 5's last target (host
memory under 500 MB with 10^6 cards, cold start under 10 s).

    python -m loadtest.host_start [--cards 1000000] [--lots N] [--standings all|none]
                                  [--counters] [--purchases] [--repeat 3]
                                  [--data-dir DIR] [--json]

The cards are issued once, into a database of this benchmark's own (on the embedded server
under --data-dir, or on $JIFEN_DATABASE_URL's server as it is), and kept for the next run.
Then `jifen host` is started --repeat times, as a child process like `jifen up` starts it. Its
cold start is the time from spawning the process to its link port taking connections, which
it opens only once the whole state is loaded (cards, accounts, open batches, the
retransmission window); its memory is its resident set then (VmRSS) and at its peak (VmHWM).

With `--lots N` every card also has a points account holding N lots of expiring points (a
lot a month: 13 is a year's earnings under a 12-month expiry, the most a card keeps), as the
host writes them (accounts.lots); the benchmark's own database has no journal behind them.

With `--standings all` (the default) every card has a tier standing of its own (a card without
a member is its own holder): the most the host keeps of tiers, as if every card had purchased
in an alliance with tiers within the year. `--standings none` removes them.

With `--counters` every card's points account also carries the points it earned today, which
the caps per day and month count, under the load test's realistic rules; with `--purchases`
every card also purchased an hour ago, so that the host holds a million purchases in its
return index and its reversal memory (host_start_activity.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import anyio
import asyncpg
import msgspec

from database.migrate import migrate
from loadtest.bench_database import bench_database_url
from loadtest.host_start_activity import ensure_counters, ensure_purchases
from loadtest.provision import ensure_fleet
from loadtest.services import Services, SystemPorts, system_sections, write_config
from proto.lots import write_lots

DATA_DIR = "var/host-start-pg"
WORK_DIR = "var/host-start"
DATABASE_NAME = "jifen_host_start"
CARDS_DEFAULT = 1_000_000
KIB = 1024
STANDINGS = ("all", "none")
# Every card's standing (proto/tiers.py's packing, big-endian): GOLD for most of a year, this
# month and the one before counted (ids vary the counts).
_STANDINGS_SQL = """
INSERT INTO tier_standings (card_id, alliance_id, tier, tier_until, standing, changed_at)
SELECT c.id, c.alliance_id, 'GOLD', current_date + 300,
       decode('474f4c4400000000', 'hex')                           -- 'GOLD', NUL-padded
           || int4send((current_date + 300 - date '0001-01-01' + 1)::integer)
           || substring(int4send(extract(year FROM now())::integer * 12
                                 + extract(month FROM now())::integer - 1) FROM 3 FOR 2)
           || int4send(c.id::integer) || int4send(c.id::integer % 9973)
           || decode(repeat('00', 40), 'hex'),
       now()
FROM cards c WHERE c.member_id IS NULL
ON CONFLICT (holder) DO NOTHING
"""


class Start(msgspec.Struct, frozen=True):
    cold_start_s: float
    rss_mib: float       # resident set once serving
    peak_rss_mib: float  # VmHWM: the most it held while loading


class Result(msgspec.Struct, frozen=True):
    cards: int
    starts: list[Start]
    lots: int = 0   # per card (--lots)
    purchases: int = 0   # in the journal's last hour (--purchases)
    counters: int = 0    # points accounts that carry today's counters (--counters)


async def measure(
    database_url: str, cards: int, repeat: int, work_dir: Path, lots: int = 0,
    standings: str = "all", purchases: bool = False, counters: bool = False,
) -> Result:
    await migrate(database_url)
    fleet = await ensure_fleet(database_url, 1, cards)
    purchased = await ensure_purchases(database_url, purchases)
    if lots:
        await _ensure_points(database_url, lots)
    counted = await ensure_counters(database_url, counters) if lots else 0
    connection = await asyncpg.connect(database_url)
    try:
        if standings == "all":
            await connection.execute(_STANDINGS_SQL)
        else:
            await connection.execute("DELETE FROM tier_standings")
        await connection.execute("VACUUM ANALYZE tier_standings")
    finally:
        await connection.close()
    config_path = work_dir / "host.toml"
    starts = []
    for _ in range(repeat):
        ports = SystemPorts.free()
        sections = system_sections(database_url, ports)
        sections["log"] = {"level": "info"}   # the start's few lines: what it loaded, and when
        write_config(config_path, sections)
        services = Services(config_path, work_dir / "logs")
        try:
            started = time.perf_counter()
            await services.start("host", ports.host)
            cold_start_s = time.perf_counter() - started
            pid = services.pid("host")
            assert pid is not None
            memory = _memory_kib(pid)
        finally:
            await services.stop()
        starts.append(Start(cold_start_s, memory["VmRSS"] / KIB, memory["VmHWM"] / KIB))
    return Result(len(fleet.pans), starts, lots, purchased, counted)


# Every card without a points account gets one, its ids reserved from the host's counter.
_POINTS_SQL = """
WITH due AS (
    SELECT c.id, row_number() OVER (ORDER BY c.id) AS n FROM cards c
    WHERE NOT EXISTS (SELECT 1 FROM accounts a
                      WHERE a.card_id = c.id AND a.kind = 'member_points')
),
reserved AS (
    UPDATE host_counters SET next_value = next_value + (SELECT count(*) FROM due)
    WHERE name = 'account' RETURNING next_value - (SELECT count(*) FROM due) AS first
)
INSERT INTO accounts (id, ledger, kind, card_id, balance, lots, lots_expire_first)
SELECT r.first + d.n - 1, 'points', 'member_points', d.id, $1, $2, $3
FROM due d, reserved r
"""
_LOT_POINTS = 100
_DAYS_A_MONTH = 31


async def _ensure_points(database_url: str, lots: int) -> None:
    """N lots of _LOT_POINTS each, a month apart from today, the balance their sum."""
    first = date.today()
    packed = write_lots([(first + timedelta(days=_DAYS_A_MONTH * month), _LOT_POINTS)
                         for month in range(lots)])
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(_POINTS_SQL, lots * _LOT_POINTS, packed, first)
    finally:
        await connection.close()


def _memory_kib(pid: int) -> dict[str, int]:
    memory = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            memory[name] = int(value.split()[0])
    return memory


def render(result: Result) -> str:
    lines = [f"account host, {result.cards:,d} active cards issued"
             + (f", each with {result.lots} lots" if result.lots else "")
             + (f", {result.counters:,d} counted today" if result.counters else "")
             + (f", {result.purchases:,d} purchases an hour old" if result.purchases else ""),
             "start  cold start s  RSS MiB  peak RSS MiB"]
    lines += [f"{index:5d}  {start.cold_start_s:12.2f}  {start.rss_mib:7.0f}  "
              f"{start.peak_rss_mib:12.0f}" for index, start in enumerate(result.starts, 1)]
    median_s = statistics.median(start.cold_start_s for start in result.starts)
    peak_mib = max(start.peak_rss_mib for start in result.starts)
    lines.append(f"median cold start {median_s:.2f} s, highest peak RSS {peak_mib:.0f} MiB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.host_start", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cards", type=int, default=CARDS_DEFAULT,
                        help=f"active cards to issue, if fewer exist (default {CARDS_DEFAULT:,d})")
    parser.add_argument("--lots", type=int, default=0,
                        help="give every card a points account with this many lots (default"
                             " none: cards that never earned)")
    parser.add_argument("--repeat", type=int, default=3, help="starts to measure (default 3)")
    parser.add_argument("--data-dir", default=DATA_DIR,
                        help=f"the embedded server's data directory (default {DATA_DIR})")
    parser.add_argument("--work-dir", default=WORK_DIR,
                        help=f"generated configuration and host logs (default {WORK_DIR})")
    parser.add_argument("--standings", choices=STANDINGS, default="all",
                        help="a tier standing for every card (default), or none")
    parser.add_argument("--counters", action="store_true",
                        help="every card's points account carries today's earn counters"
                             " (needs --lots)")
    parser.add_argument("--purchases", action="store_true",
                        help="every card purchased an hour ago, under the realistic rules")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.cards < 1 or args.repeat < 1:
        parser.error("--cards and --repeat must be at least 1")
    if args.counters and not args.lots:
        parser.error("--counters needs --lots: the counters ride on the points accounts")
    url = bench_database_url(args.data_dir, DATABASE_NAME)
    result = anyio.run(measure, url, args.cards, args.repeat,
                       Path(args.work_dir), args.lots, args.standings, args.purchases,
                       args.counters, backend="asyncio")
    print(msgspec.json.encode(result).decode() if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
