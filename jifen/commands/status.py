"""`jifen status [--json]`: every configured process's health, readiness, version, uptime and
links; exit 1 when any is not ready (or not answering)."""

from __future__ import annotations

import argparse
import json
import sys

import msgspec

from runtime.config import load_config
from runtime.status import STATUS_TIMEOUT_S_DEFAULT, ProcessStatus, system_status

NOT_READY_EXIT_CODE = 1


def _timeout_s(text: str) -> float:
    value = float(text)
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError("must be above 0 and at most 60 seconds")
    return value


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
        return [process.service, process.address, "down", "no", "-", "-", "-"]
    links = ", ".join(f"{link.name} {'up' if link.up else 'DOWN'}" for link in status.links)
    return [process.service, process.address, "alive" if status.alive else "STALLED",
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
            print(f"  {process.service}: {process.error}")
        if process.status is not None:
            for check in process.status.checks:
                if not check.ok:
                    print(f"  {process.service}: {check.name}: {check.detail}")


def _status(args: argparse.Namespace) -> int:
    processes = system_status(load_config(args.config), args.timeout)
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
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--timeout", type=_timeout_s, default=STATUS_TIMEOUT_S_DEFAULT,
                        metavar="S", help="seconds to wait for each process "
                        f"(default {STATUS_TIMEOUT_S_DEFAULT:g})")
    parser.set_defaults(handler=_status)
