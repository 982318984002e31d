"""The writer's CPU per purchase, in process: what the account host spends applying a purchase
to its state and building its batch statement's arguments, without the front, the switch,
PostgreSQL or the run queue they share (`jifen loadtest` measures those together).

    python -m loadtest.apply_bench [--rules none|realistic] [--purchases 30000] [--repeat 3]
                                   [--cards 100000] [--data-dir DIR] [--json]

The load test's alliance, its cards and the rule set are made in a database of this benchmark's
own, one per rule set (a version in force today is never replaced, so the two sets cannot take
turns in one), on the embedded server under --data-dir or on $JIFEN_DATABASE_URL's server as
it is. The host's state is loaded as a starting host loads it; then each round applies
--purchases purchases on random cards of the fleet's terminals, in batches of the size the
host's group commit reaches under load, and takes each batch's arguments, timing both in
process CPU time, after one untimed purchase on every card. Nothing is written: the batches
are dropped (only identifiers are reserved).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import anyio
import asyncpg
import msgspec

from account_host.apply import apply_request
from account_host.config import HostConfig
from account_host.context import ApplyContext
from account_host.identifiers import Identifiers
from account_host.journal import BatchWrite
from account_host.loading import load_state
from account_host.service import open_pan_lookup_key
from account_host.state import HostState
from database.migrate import migrate
from loadtest.bench_database import bench_database_url
from loadtest.provision import FleetData, ensure_fleet
from loadtest.rules import RULE_SETS, ensure_rules
from proto.codes import ResponseCode
from proto.frames import Request
from runtime.logging import configure_logging

DATA_DIR = "var/apply-bench-pg"
DATABASE_PREFIX = "jifen_apply_bench"
CARDS_DEFAULT = 100_000
PURCHASES_DEFAULT = 30_000
TERMINALS = 64
# The load test's mean batch under the realistic rules (docs/performance.md).
BATCH_SIZE = 150
AMOUNT_FEN = 1_000
_STAN_MAX = 999_999


class Round(msgspec.Struct, frozen=True):
    apply_us: float       # CPU per purchase applying it (checks, rules, postings, answer)
    arguments_us: float   # CPU per purchase building its batch's statement arguments


class Result(msgspec.Struct, frozen=True):
    rules: str
    rules_in_force: bool   # the load test alliance has earn rules in force now
    cards: int
    purchases: int
    rounds: list[Round]


async def measure(
    database_url: str, rules: str, cards: int, purchases: int, repeat: int,
) -> Result:
    await migrate(database_url)
    fleet = await ensure_fleet(database_url, TERMINALS, cards)
    await ensure_rules(database_url, rules)
    config = HostConfig()
    pan_lookup_key = await open_pan_lookup_key(config, database_url)
    connection = await asyncpg.connect(database_url)
    try:
        state = await load_state(connection, config, pan_lookup_key)
        identifiers = Identifiers(config.id_block_size, config.name)
        await identifiers.reserve_for(connection, purchases * repeat + cards,
                                      config.database_timeout_s)
    finally:
        await connection.close()
    started = datetime.now(UTC)
    context = ApplyContext(state, identifiers, BatchWrite(started, config.name), started)
    in_force = any(context.earning(alliance_id).rules is not None
                   for alliance_id in state.alliances)
    # Every card purchases once first, untimed: its accounts, lots, standing and counters
    # exist, as on a host that has run for a while.
    _round(state, identifiers, config.name, _purchases(state, fleet, len(fleet.pans), started,
                                                       0, every_card=True))
    rounds = [_round(state, identifiers, config.name,
                     _purchases(state, fleet, purchases, started, number))
              for number in range(1, repeat + 1)]
    return Result(rules, in_force, len(fleet.pans), purchases, rounds)


def _purchases(
    state: HostState, fleet: FleetData, count: int, started: datetime, number: int, *,
    every_card: bool = False,
) -> list[Request]:
    """`count` purchases on random cards (`every_card`: one on each), each with a
    retransmission key of its own (a round a second later)."""
    chosen = random.Random(number)
    transmission_time = (started + timedelta(seconds=number)).strftime("%m%d%H%M%S")
    requests = []
    for index in range(count):
        station = chosen.choice(fleet.stations)
        requests.append(Request(
            correlation_id=index, mti="0200", terminal_code=station.terminal_code,
            merchant_code=station.merchant_code, stan=f"{index % _STAN_MAX + 1:06d}",
            transmission_time=transmission_time, received_at_ns=0, processing_code="000000",
            pan=fleet.pans[index] if every_card else chosen.choice(fleet.pans),
            amount=AMOUNT_FEN, currency="156",
            batch_number=state.open_batch(station.terminal_code), entry_mode="051"))
    return requests


def _round(
    state: HostState, identifiers: Identifiers, host_name: str, requests: list[Request],
) -> Round:
    apply_s = arguments_s = 0.0
    for start in range(0, len(requests), BATCH_SIZE):
        now = datetime.now(UTC)
        batch = BatchWrite(now, host_name)
        context = ApplyContext(state, identifiers, batch, now)
        began = time.process_time()
        answers = [apply_request(context, request)
                   for request in requests[start:start + BATCH_SIZE]]
        applied = time.process_time()
        batch.arguments(state.balances, state.lots, state.next_standing_seq(),
                        state.earn_counters)
        apply_s += applied - began
        arguments_s += time.process_time() - applied
        refused = [answer.response_code for answer in answers
                   if answer.response_code != ResponseCode.APPROVED]
        if refused:
            raise SystemExit(f"purchases declined ({refused[0]}): the benchmark measures "
                             "approvals")
    return Round(apply_s * 1e6 / len(requests), arguments_s * 1e6 / len(requests))


def render(result: Result) -> str:
    lines = [f"writer CPU per purchase, rules {result.rules}"
             f" ({'in force' if result.rules_in_force else 'none in force'}),"
             f" {result.purchases:,d} purchases a round on {result.cards:,d} cards",
             "round  apply us  arguments us  total us"]
    lines += [f"{index:5d}  {item.apply_us:8.1f}  {item.arguments_us:12.1f}  "
              f"{item.apply_us + item.arguments_us:8.1f}"
              for index, item in enumerate(result.rounds, 1)]
    median = statistics.median(item.apply_us + item.arguments_us for item in result.rounds)
    lines.append(f"median {median:.1f} us per purchase")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.apply_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", choices=RULE_SETS, default="realistic",
                        help="the load test alliance's rules (default realistic)")
    parser.add_argument("--purchases", type=int, default=PURCHASES_DEFAULT,
                        help=f"purchases a round (default {PURCHASES_DEFAULT:,d})")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--cards", type=int, default=CARDS_DEFAULT,
                        help=f"active cards to issue, if fewer exist (default {CARDS_DEFAULT:,d})")
    parser.add_argument("--data-dir", default=DATA_DIR,
                        help=f"the embedded server's data directory (default {DATA_DIR})")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.purchases < 1 or args.repeat < 1 or args.cards < 1:
        parser.error("--purchases, --repeat and --cards must be at least 1")
    configure_logging("warning", process="apply-bench")
    url = bench_database_url(args.data_dir, f"{DATABASE_PREFIX}_{args.rules}")
    result = anyio.run(measure, url, args.rules,
                       args.cards, args.purchases, args.repeat, backend="asyncio")
    print(msgspec.json.encode(result).decode() if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
