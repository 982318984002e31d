"""`jifen status [--json] [--wait S] [SERVICE ...]`: every configured process's (or the named
ones') health, readiness, version, uptime and links; exit 1 when any is not ready (or not
answering), after waiting up to S seconds for all to be ready with --wait (a systemd unit's
ExecStartPost: the service counts as started once it is ready)."""

from __future__ import annotations

import argparse
import json
import sys

import msgspec

from runtime.config import load_config
from runtime.status import (
    SERVICE_NAMES,
    STATUS_TIMEOUT_S_DEFAULT,
    ProcessStatus,
    system_status,
    wait_ready,
)

NOT_READY_EXIT_CODE = 1
# The longest --wait: a host loading 10^7 cards takes well under a minute; an hour is a typo.
WAIT_S_MAX = 3_600.0


def _timeout_s(text: str) -> float:
    value = float(text)
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError("must be above 0 and at most 60 seconds")
    return value


def _wait_s(text: str) -> float:
    value = float(text)
    if not 0 <= value <= WAIT_S_MAX:
        raise argparse.ArgumentTypeError(f"must be from 0 to {WAIT_S_MAX:g} seconds")
    return value


def _service(text: str) -> str:
    if text not in SERVICE_NAMES:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not one of {', '.join(SERVICE_NAMES)}")
    return text


def _uptime(seconds: float) -> str:
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    if days:
        return f"{days}d{hour:02d}h"
    if hours:
        return f"{hours}h{minute:02d}m"
    return f"{minutes}m{second:02d}s"


def _row(process: ProcessStatus) -> list[str]:
    status = process.status
    if status is None:
        return [process.label, process.address, "down", "no", "-", "-", "-"]
    links = ", ".join(f"{link.name} {'up' if link.up else 'DOWN'}" for link in status.links)
    return [process.label, process.address, "alive" if status.alive else "STALLED",
            "yes" if status.ready else "NO", status.version, _uptime(status.uptime_s),
            links or "-"]


def print_status_table(processes: list[ProcessStatus]) -> None:
    header = ["SERVICE", "ADDRESS", "HEALTH", "READY", "VERSION", "UPTIME", "LINKS"]
    rows = [header, *(_row(process) for process in processes)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())
    for process in processes:   # why each one is not ready
        if process.error is not None:
            print(f"  {process.label}: {process.error}")
        if process.status is not None:
            for check in process.status.checks:
                if not check.ok:
                    print(f"  {process.label}: {check.name}: {check.detail}")


def _status(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.wait:
        processes = wait_ready(config, args.wait, args.timeout, args.services)
    else:
        processes = system_status(config, args.timeout, args.services)
    if args.json:
        print(json.dumps([{**msgspec.to_builtins(process), "ready": process.ready}
                          for process in processes], indent=2))
    else:
        print_status_table(processes)
    sys.stdout.flush()
    return 0 if all(process.ready for process in processes) else NOT_READY_EXIT_CODE


def register(subparsers: argparse._SubParsersAction) -> None:
    text = ("ask every configured process (front, switch, host, dial-up bridge) for its health,"
            " readiness, version, uptime and links; exit 1 when any is not ready")
    parser = subparsers.add_parser("status", help=text, description=text)
    # Not `choices`: argparse checks an empty list against them (and refuses bare `status`).
    parser.add_argument("services", nargs="*", type=_service, metavar="SERVICE",
                        help=f"ask only these ({', '.join(SERVICE_NAMES)}; default: every "
                        "configured one)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--wait", type=_wait_s, default=0.0, metavar="S",
                        help="ask again until every one is ready, for at most S seconds "
                        "(a systemd unit's ExecStartPost; default 0: ask once)")
    parser.add_argument("--timeout", type=_timeout_s, default=STATUS_TIMEOUT_S_DEFAULT,
                        metavar="S", help="seconds to wait for each process "
                        f"(default {STATUS_TIMEOUT_S_DEFAULT:g})")
    parser.set_defaults(handler=_status)
