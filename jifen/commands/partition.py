"""`jifen partition add NAME | list | rrns NAME`: a partition's database made ready (replication
both ways, its id base and RRN range), the partitions with their replication's lag, and one
more RRN range for a partition (back_office/partitions/, docs/operations.md "Partitions")."""

from __future__ import annotations

import argparse

import anyio
import msgspec

from back_office.partitions.add import add_partition
from back_office.partitions.listing import PartitionRow, list_partitions
from back_office.partitions.rrns import add_rrn_range
from database import resolve_database_url
from database.partitions import partition_urls, read_partitions
from database.roles import Role
from jifen.errors import CliError
from runtime.config import Config, load_config

# A new partition's initial copy of reference data: seconds per 10^5 cards; an hour is a
# typo, or a copy that will not end.
COPY_TIMEOUT_S_DEFAULT = 600.0
COPY_TIMEOUT_S_MAX = 3_600.0


def _timeout_s(text: str) -> float:
    value = float(text)
    if not 0 < value <= COPY_TIMEOUT_S_MAX:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most {COPY_TIMEOUT_S_MAX:g}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "partition", help="partitions: add one's database, list them",
        description="Partitions by card range, each an account host with its own database"
                    " (docs/operations.md, \"Partitions\").",
    )
    commands = parser.add_subparsers(dest="partition_command", metavar="SUBCOMMAND",
                                     required=True)
    add = commands.add_parser(
        "add", help="make a partition's database ready: schema, RRN range, replication",
        description="Migrate the database of [partitions.NAME], give the partition a number"
                    " and an RRN range, subscribe it to central's reference data and central"
                    " to its outcomes, and mark it ready. Run again to resume.")
    add.add_argument("name", metavar="NAME", help="the partition, named as its host")
    add.add_argument("--timeout", type=_timeout_s, default=COPY_TIMEOUT_S_DEFAULT,
                     metavar="S", help="seconds for each initial copy (default: %(default)g)")
    add.set_defaults(handler=add_command)
    listing = commands.add_parser("list", help="partitions, RRN ranges, replication lag")
    listing.add_argument("--json", action="store_true", help="one JSON array on stdout")
    listing.set_defaults(handler=list_command)
    rrns = commands.add_parser(
        "rrns", help="give a partition the next 10^9 RRNs",
        description="Add the next range of 10^9 RRNs (above every range) to partition NAME on"
                    " central; replication brings it to the partition, whose host takes it at"
                    " its next reservation. For a partition whose RRNs run low"
                    " (jifen_host_rrns_unreserved; at 0 its host answers 96).")
    rrns.add_argument("name", metavar="NAME", help="the partition, named as its host")
    rrns.add_argument("--json", action="store_true", help="the range added, as JSON")
    rrns.set_defaults(handler=rrns_command)


def _snippet(name: str) -> str:
    return (f"[partitions.{name}]\ndata_dir = \"var/pg-{name}\"   # an embedded server of its"
            " own\n# or: url = \"postgresql://jifen@db-" + name + ":5432/jifen\"")


def add_command(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    name = args.name
    database = config.partitions.get(name)
    if database is None:
        raise CliError(f"no [partitions.{name}] in the configuration; add, for example:\n"
                       f"{_snippet(name)}")
    central = config.database
    central_url = resolve_database_url(central)
    partition_url = resolve_database_url(database)
    replication_urls = {"central": resolve_database_url(central, Role.REPLICATION),
                        "partition": resolve_database_url(database, Role.REPLICATION)}
    added = anyio.run(add_partition, name, central_url, partition_url, replication_urls,
                      args.timeout, backend="asyncio")
    for version in added.migrations_applied:
        print(f"{name}: applied {version}")
    if added.central_range_ended_at is not None:
        print(f"central's RRN range now ends at {added.central_range_ended_at}")
    print(f"partition {name} ready: number {added.number}, ids from {added.number << 48},"
          f" RRNs {added.first_rrn}-{added.last_rrn}")
    return 0


def rrns_command(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    added = anyio.run(add_rrn_range, args.name, resolve_database_url(config.database),
                      config.database.connect_timeout_s, backend="asyncio")
    if args.json:
        print(msgspec.json.encode(added).decode())
    else:
        print(f"partition {added.partition}: RRNs {added.first_rrn}-{added.last_rrn} added")
    return 0


def list_command(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    rows = anyio.run(_list, config, backend="asyncio")
    if args.json:
        print(msgspec.json.encode(rows).decode())
        return 0
    print(f"{'name':<12} {'no':>3} {'state':<7} {'next RRN':>13} {'RRNs left':>13}"
          f" {'RRN ranges':<40} {'lag in':>11} {'lag out':>11}")
    for row in rows:
        ranges = ", ".join(f"{r.first_rrn}-{r.last_rrn}" for r in row.rrn_ranges) or "none"
        print(f"{row.name:<12} {row.number:>3} {row.state:<7}"
              f" {_shown(row.rrn_next, row.reachable):>13}"
              f" {_shown(row.rrns_left, row.reachable):>13} {ranges:<40}"
              f" {_shown(row.reference_lag_bytes, row.reachable):>11}"
              f" {_shown(row.outcomes_lag_bytes, row.reachable):>11}")
    return 0


def _shown(value: int | None, reachable: bool) -> str:
    if not reachable:
        return "unreachable"
    return "-" if value is None else str(value)


async def _list(config: Config) -> list[PartitionRow]:
    central_url = resolve_database_url(config.database)
    timeout_s = config.database.connect_timeout_s
    partitions = await read_partitions(central_url, timeout_s)
    urls = await partition_urls(config.database, config.partitions, None)
    return await list_partitions(central_url, partitions, urls, timeout_s)
