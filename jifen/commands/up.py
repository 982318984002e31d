"""`jifen up`: database, migrations, demo alliance, and the three services, supervised."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import anyio

from database.connect import redact_url
from database.roles import Role
from jifen.errors import CliError
from runtime.config import Config, load_config
from runtime.errors import ConfigError
from runtime.local_partitions import PARTITIONS_MAX, LocalRun, write_local_run
from runtime.logging import configure_logging

if TYPE_CHECKING:
    from jifen.commands.up_partitions import PartitionUrls


def _announce(config: Config, database_url: str, started_database: bool,
              run: LocalRun | None) -> None:
    front = config.front
    partitions = [] if run is None else [
        f"  Partitions             main (host :{config.host.listen_port}), "
        + ", ".join(f"{host.name} (host :{host.config.host.listen_port}, database under "
                    f"{host.config.database.data_dir})" for host in run.hosts)
        + f"; the run's configuration: {run.config_path}"]
    status = "jifen status" if run is None else f"jifen --config {run.config_path} status"
    lines = [
        "",
        "Jifen is up.",
        f"  Terminals connect to   {front.listen_host}:{front.listen_port}"
        "  (TCP: 2-byte length + TPDU + ISO 8583, see docs/host-interface.md)",
        f"  Metrics                http://127.0.0.1:{config.front.metrics_port}/metrics (front),"
        f" :{config.switch.metrics_port} (switch), :{config.host.metrics_port} (host)",
        f"  Status                 {status}  (/healthz and /readyz on each metrics port)",
        f"  Database               {redact_url(database_url)}"
        + ("  (embedded, under " + config.database.data_dir + ")" if started_database else ""),
        *partitions,
        f"  Try it                 jifen term --port {front.listen_port} --terminal DEMO0001 "
        "--merchant DEMO00000000001 signon",
        "  Stop with Ctrl-C.",
        "",
    ]
    print("\n".join(lines), flush=True)


async def _prepare(config: Config, database_url: str,
                   partition_urls: dict[str, PartitionUrls]) -> None:
    """Migrate as the administrator (partitions first), then load the demo as the back
    office, and make each partition ready (`jifen up --partitions`)."""
    import asyncpg

    from back_office.data_migrations import data_steps, publish_front_key
    from back_office.operators.demo import create_demo_operators
    from back_office.provisioning.demo import create_demo_if_empty
    from database.connect import resolve_database_url
    from database.migrate import migrate
    from jifen.commands.up_partitions import migrate_added_partitions, prepare_partitions
    from proto.keys import load_kek

    kek = load_kek(config.front.kek_file, config.front.kek_env)
    await migrate_added_partitions(config, partition_urls, kek)
    await migrate(database_url, data_steps=data_steps(kek))
    await publish_front_key(database_url, kek)
    back_office_url = await anyio.to_thread.run_sync(
        resolve_database_url, config.database, Role.BACK_OFFICE)
    connection = await asyncpg.connect(back_office_url)
    try:
        summary = await create_demo_if_empty(connection, kek=kek)
        operators = None if summary is None else await create_demo_operators(connection)
    finally:
        await connection.close()
    if summary is not None:
        print(f"Loaded the demo alliance: {summary.describe()}", flush=True)
    if operators is not None:
        print(f"Demo {operators.describe()}", flush=True)
    if partition_urls:
        for line in await prepare_partitions(config, database_url, back_office_url,
                                             partition_urls, kek):
            print(line, flush=True)


def _up(args: argparse.Namespace) -> int:
    from database.connect import embedded_server, resolve_database_url
    from jifen.commands.up_partitions import partition_database_urls
    from runtime.pki import ensure_pki
    from runtime.supervisor import supervise

    config = load_config(args.config)
    configure_logging(config.log.level, process="up", log_format=config.log.format)
    run, config_path = None, args.config
    if args.partitions > 1:
        try:
            run = write_local_run(args.config, config, args.partitions)
        except ConfigError as exc:
            raise CliError(str(exc)) from exc
        config, config_path = run.config, run.config_path
    # The links are mutual TLS: a first start creates the local CA and certificates, and one
    # for each partition's host.
    host_names = tuple(host.name for host in run.hosts) if run is not None else ()
    for path in ensure_pki(config, host_names):
        print(f"Created {path}", flush=True)
    # Servers we start, stopped at the end (a partition's first: its subscription to central
    # ends with it); one someone else started is left running.
    embedded = [server for database in (*config.partitions.values(), config.database)
                if database.url is None
                and not (server := embedded_server(database)).is_running()]
    database_url = resolve_database_url(config.database)
    try:
        partition_urls = partition_database_urls(config)
        anyio.run(_prepare, config, database_url, partition_urls, backend="asyncio")
        anyio.run(
            supervise, config, config_path,
            lambda: _announce(config, database_url, bool(embedded), run),
            run.hosts if run is not None else (),
            backend="asyncio",
        )
    finally:
        for server in embedded:
            server.stop()
        if embedded:
            print("Stopped the embedded database" + ("s." if len(embedded) > 1 else "."),
                  flush=True)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    text = ("start the whole system: embedded database (unless JIFEN_DATABASE_URL is set), "
            "migrations, demo alliance when empty, host, switch and front")
    parser = subparsers.add_parser("up", help=text, description=text)
    parser.add_argument(
        "--partitions", type=int, choices=range(1, PARTITIONS_MAX + 1), default=1,
        metavar="N", help="card-range partitions, each an account host with its own embedded "
        f"database (1-{PARTITIONS_MAX}; default 1). With 2: p2 on a second server, the demo's "
        "second card range on it (docs/operations.md, \"Partitions on one machine\")")
    parser.set_defaults(handler=_up)
