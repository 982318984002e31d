"""`jifen front`, `jifen switch`, `jifen host`: one service per process, so they use both cores."""

from __future__ import annotations

import argparse

from database.connect import resolve_database_url
from database.roles import Role
from runtime.config import load_config
from runtime.service import run_service


def _front(args: argparse.Namespace) -> int:
    from acquirer_front import run_front

    config = load_config(args.config)
    url = resolve_database_url(config.database, Role.FRONT)
    return run_service("front", config, config.front.metrics_port, run_front, config.front, url,
                       drain_timeout_s=config.front.drain_timeout_s)


def _switch(args: argparse.Namespace) -> int:
    from switch import run_switch

    config = load_config(args.config)
    url = resolve_database_url(config.database, Role.SWITCH)
    return run_service("switch", config, config.switch.metrics_port, run_switch, config.switch,
                       url, drain_timeout_s=config.switch.drain_timeout_s)


def _host(args: argparse.Namespace) -> int:
    from account_host import run_host

    config = load_config(args.config)
    url = resolve_database_url(config.database, Role.HOST)
    return run_service("host", config, config.host.metrics_port, run_host, config.host, url,
                       drain_timeout_s=config.host.drain_timeout_s)


def register(subparsers: argparse._SubParsersAction) -> None:
    for name, handler, text in (
        ("front", _front, "run the acquirer front: terminals connect here"),
        ("switch", _switch, "run the switch: routes frames to account hosts by card range"),
        ("host", _host, "run the account host: the single writer of balances and journal"),
    ):
        parser = subparsers.add_parser(name, help=text, description=text)
        parser.set_defaults(handler=handler)
