"""`jifen up`: database, migrations, demo alliance, and the three services, supervised."""

from __future__ import annotations

import argparse

import anyio

from database.connect import redact_url
from database.roles import Role
from runtime.config import Config, load_config
from runtime.logging import configure_logging


def _announce(config: Config, database_url: str, started_database: bool) -> None:
    front = config.front
    lines = [
        "",
        "Jifen is up.",
        f"  Terminals connect to   {front.listen_host}:{front.listen_port}"
        "  (TCP: 2-byte length + TPDU + ISO 8583, see docs/host-interface.md)",
        f"  Metrics                http://127.0.0.1:{config.front.metrics_port}/metrics (front),"
        f" :{config.switch.metrics_port} (switch), :{config.host.metrics_port} (host)",
        "  Status                 jifen status  (/healthz and /readyz on each metrics port)",
        f"  Database               {redact_url(database_url)}"
        + ("  (embedded, under " + config.database.data_dir + ")" if started_database else ""),
        f"  Try it                 jifen term --port {front.listen_port} --terminal DEMO0001 "
        "--merchant DEMO00000000001 signon",
        "  Stop with Ctrl-C.",
        "",
    ]
    print("\n".join(lines), flush=True)


async def _prepare(config: Config, database_url: str) -> None:
    """Migrate as the administrator, then load the demo as the back office."""
    import asyncpg

    from back_office.data_migrations import data_steps, publish_front_key
    from back_office.operators.demo import create_demo_operators
    from back_office.provisioning.demo import create_demo_if_empty
    from database.connect import resolve_database_url
    from database.migrate import migrate
    from proto.keys import load_kek

    kek = load_kek(config.front.kek_file, config.front.kek_env)
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


def _up(args: argparse.Namespace) -> int:
    from database.connect import embedded_server, resolve_database_url
    from runtime.pki import ensure_pki
    from runtime.supervisor import supervise

    config = load_config(args.config)
    configure_logging(config.log.level, process="up", log_format=config.log.format)
    # The links are mutual TLS: a first start creates the local CA and certificates.
    for path in ensure_pki(config):
        print(f"Created {path}", flush=True)
    embedded = None
    if config.database.url is None:
        embedded = embedded_server(config.database)
        was_running = embedded.is_running()
        if was_running:
            embedded = None  # someone else started it; leave it running
    database_url = resolve_database_url(config.database)
    try:
        anyio.run(_prepare, config, database_url, backend="asyncio")
        anyio.run(
            supervise, config, args.config,
            lambda: _announce(config, database_url, embedded is not None),
            backend="asyncio",
        )
    finally:
        if embedded is not None:
            embedded.stop()
            print("Stopped the embedded database.", flush=True)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    text = ("start the whole system: embedded database (unless JIFEN_DATABASE_URL is set), "
            "migrations, demo alliance when empty, host, switch and front")
    parser = subparsers.add_parser("up", help=text, description=text)
    parser.set_defaults(handler=_up)
