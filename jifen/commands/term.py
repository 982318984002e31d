"""`jifen term`: talk to the acquirer front as a terminal would (devices.term does the work)."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from pathlib import Path

import anyio

from back_office.provisioning.demo import DEMO_TMKS_CSV
from back_office.provisioning.errors import ProvisioningError
from back_office.provisioning.tmk_files import read_tmk_file
from back_office.provisioning.validate import merchant_code, terminal_code
from devices.errors import DeviceError
from devices.stan import STAN_MAX
from devices.term import (
    ACTIONS,
    AMOUNT_ACTIONS,
    PASSWORD_ACTIONS,
    REVERSIBLE,
    TermCommand,
    run_term,
)
from jifen.commands.terminal import add_tmk_options, read_tmk_option
from jifen.errors import CliError

# Requests in flight for --pipeline: the front's per-terminal limit.
PIPELINE_MAX = 64


def _command(args: argparse.Namespace) -> TermCommand:
    if args.action in ("inquiry", *AMOUNT_ACTIONS) and not (args.pan or args.cards):
        raise CliError(f"{args.action} needs --pan (or --cards with --repeat)")
    if args.action in AMOUNT_ACTIONS and (args.amount is None or args.amount <= 0):
        raise CliError(f"{args.action} needs --amount (fen, or points to redeem or exchange),"
                       " above zero")
    if args.action != "purchase" and args.action in AMOUNT_ACTIONS \
            and (args.repeat > 1 or not args.pan):
        raise CliError(f"{args.action} sends one request for one --pan (no --repeat)")
    if args.action == "return" and not args.rrn:
        raise CliError("return needs --rrn: the purchase's RRN (field 37 of its answer)")
    passworded = args.of if args.action == "reverse" else args.action
    if (args.password or args.password_stdin) and passworded not in PASSWORD_ACTIONS:
        raise CliError(f"a card password goes with {', '.join(PASSWORD_ACTIONS)} only")
    if (args.gift is not None or args.order is not None) and args.action != "redeem":
        raise CliError("--gift and --order go with redeem only")
    if args.gift is not None and args.order is not None:
        raise CliError("a redemption takes a gift (--gift) or pays part of an order (--order),"
                       " not both")
    if args.order is not None and not 0 <= args.order < 10**12:
        raise CliError("--order is the whole order in fen: 0 to 999999999999")
    if args.repeat < 1 or not 1 <= args.pipeline <= PIPELINE_MAX:
        raise CliError(f"--repeat must be at least 1 and --pipeline 1-{PIPELINE_MAX}")
    if args.batch is not None and not 1 <= args.batch <= 999_999:
        raise CliError("--batch must be 1-999999")
    if args.stan is not None and not 1 <= args.stan <= STAN_MAX:
        raise CliError(f"--stan must be 1-{STAN_MAX}")
    if not args.dial or not all(char.isdigit() or char in ",*#W@" for char in args.dial):
        raise CliError("--dial takes digits (and , * # W @ as a modem dials them)")
    if args.serial and args.pipeline > 1:
        raise CliError("a dial-up terminal (--serial) has one request in flight: no --pipeline")
    code = terminal_code(args.terminal)
    return TermCommand(
        host=args.host, port=args.port, terminal_code=code,
        merchant_code=merchant_code(args.merchant), action=args.action,
        json_output=args.json, pan=args.pan, cards_file=args.cards, amount_fen=args.amount,
        batch_number=args.batch, repeat=args.repeat, pipeline=args.pipeline,
        tmk=_tmk(args, code), timeout_s=args.timeout,
        # A random first STAN: two runs in the same second must not look like a retransmission.
        stan_start=args.stan or 1 + secrets.randbelow(STAN_MAX),
        serial_device=args.serial, dial_number=args.dial, serial_speed_bps=args.serial_speed,
        password=_password(args), original_rrn=args.rrn, reverse_of=args.of,
        gift_code=args.gift, order_fen=args.order,
    )


def _password(args: argparse.Namespace) -> str | None:
    """The card password from stdin or a prompt, never from the command line."""
    if args.password_stdin:
        return sys.stdin.readline().strip()
    if args.password:
        return getpass.getpass("card password: ")
    return None


def _tmk(args: argparse.Namespace, code: str) -> bytes | None:
    """--tmk-file or --tmk-stdin; else the terminal's row of the demo's TMK file when there is
    one (a terminal not listed there is run without a TMK: it cannot MAC)."""
    tmk = read_tmk_option(args, code)
    if tmk is not None or args.tmk_file is not None or args.tmk_stdin:
        return tmk
    if not Path(DEMO_TMKS_CSV).is_file():
        return None
    try:
        return read_tmk_file(DEMO_TMKS_CSV, code)
    except ProvisioningError:
        return None  # not ours to judge when not asked for: run without a TMK


def _term(args: argparse.Namespace) -> int:
    command = _command(args)
    try:
        outcome = anyio.run(run_term, command, backend="asyncio")
    except DeviceError as exc:
        raise CliError(f"terminal {command.terminal_code}: {exc}") from exc
    print(outcome.text)
    return outcome.exit_code


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "term", help="act as a POS terminal: every request of the host interface",
        description="Send one request as a terminal and print the answer, its balances and "
                    "tags decoded (exit 0 if approved, 1 if declined): sign-on, echo, key "
                    "change, inquiry, purchase (cash or stored value), redemption, lottery "
                    "draw (--amount: the stake), return "
                    "(--rrn), load, exchange of points, a request and its reversal (reverse "
                    "--of), reconciliation (zero totals: a 95 shows the host's). purchase "
                    "--repeat N --pipeline K measures an end-to-end rate.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="acquirer front address")
    parser.add_argument("--port", type=int, default=8583)
    parser.add_argument("--terminal", required=True, help="terminal code (field 41)")
    parser.add_argument("--merchant", required=True, help="merchant code (field 42)")
    add_tmk_options(parser, f"the TMK, to MAC (default: the terminal's row of {DEMO_TMKS_CSV}"
                            " when that file exists)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per answer")
    parser.add_argument("--stan", type=int, help="first STAN (default: random)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--serial", metavar="DEVICE",
                        help="dial up through a modem on this serial port (e.g. the terminal "
                             "side of `jifen modem-emulator`) instead of TCP")
    parser.add_argument("--dial", default="1", metavar="NUMBER", help="number to dial")
    parser.add_argument("--serial-speed", type=int, default=9600, metavar="BPS",
                        help="serial port speed")
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("--pan", help="card number")
    parser.add_argument("--cards", metavar="CSV", help="card numbers to cycle (with --repeat)")
    parser.add_argument("--amount", type=int,
                        help="amount in fen (points for redeem, lottery and exchange)")
    parser.add_argument("--rrn", help="return: the purchase's RRN")
    parser.add_argument("--of", choices=REVERSIBLE, default="purchase",
                        help="reverse: the request sent first, then reversed (0400)")
    parser.add_argument("--batch", type=int, help="batch number (default: learnt by sign-on)")
    parser.add_argument("--gift", metavar="CODE",
                        help="redeem: a gift of the alliance's catalogue (tag GC); --amount is"
                             " its price in points")
    parser.add_argument("--order", type=int, metavar="FEN",
                        help="redeem: the whole order in fen (tag OA) that --amount points pay"
                             " part of")
    password = parser.add_mutually_exclusive_group()
    password.add_argument("--password", action="store_true",
                          help="ask for the card password (svpurchase, redeem, exchange)")
    password.add_argument("--password-stdin", action="store_true",
                          help="read the card password from the first line of stdin")
    parser.add_argument("--repeat", type=int, default=1, help="purchases to send")
    parser.add_argument("--pipeline", type=int, default=1, help="purchases kept in flight")
    parser.set_defaults(handler=_term)
