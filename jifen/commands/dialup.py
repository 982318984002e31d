"""`jifen dialup`: the dial-up gateway bridge; `jifen modem-emulator`: a line to try it on.

The bridge reads the `[dialup]` section of the shared TOML file (dialup.config) and
its `[log]` section; `--port DEVICE` adds ports without a file.
"""

from __future__ import annotations

import argparse
import json
import signal
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import anyio
import msgspec

from jifen.errors import CliError
from runtime.config import check_config, load_config

if TYPE_CHECKING:
    from devices.dialup import EmulatorSettings


def _dialup(args: argparse.Namespace) -> int:
    from dialup import PortConfig, run_bridge
    from runtime.service import run_service

    root = load_config(args.config)
    config = root.dialup
    changes: dict[str, object] = {}
    if args.port:
        changes["ports"] = config.ports + tuple(PortConfig(device) for device in args.port)
    if args.front:
        changes["front_address"] = args.front
    try:
        # replace runs the relations (__post_init__); check_config the bounds of a file.
        config = msgspec.structs.replace(config, **changes)
        root = check_config(msgspec.structs.replace(root, dialup=config))
    except (msgspec.ValidationError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    if not config.ports:
        raise CliError("no serial ports: add [[dialup.ports]] to the config file, or --port")
    return run_service("dialup", root, config.metrics_port, run_bridge, config)


def _modem_emulator(args: argparse.Namespace) -> int:
    from devices.dialup import NOISE_DEFAULT, EmulatorSettings, Faults

    if args.lines < 1 or args.lines > LINES_MAX:
        raise CliError(f"--lines must be 1-{LINES_MAX}")
    settings = EmulatorSettings(
        connect_speed_bps=args.speed, ring_interval_s=args.ring_interval,
        escape_guard_s=args.guard,
        faults_towards_terminal=Faults(drop_carrier_after_bytes=args.drop_carrier_after),
        faults_towards_bridge=Faults(corrupt_lrc_frames=args.corrupt_lrc,
                                     noise=NOISE_DEFAULT if args.noise else b""),
    )
    anyio.run(_run_emulators, settings, args.lines, args.json, backend="asyncio")
    return 0


# Lines one emulator process offers: each is two ptys; a test bench needs a few.
LINES_MAX = 64


async def _run_emulators(settings: EmulatorSettings, lines: int, json_output: bool) -> None:
    from devices.dialup import ModemEmulator

    async with AsyncExitStack() as stack:
        emulators = [await stack.enter_async_context(ModemEmulator(settings))
                     for _ in range(lines)]
        pairs = [(emulator.bridge_path, emulator.terminal_path) for emulator in emulators]
        if json_output:
            print(json.dumps({"lines": [{"bridge": b, "terminal": t} for b, t in pairs]}),
                  flush=True)
        else:
            print(_describe(pairs, settings.connect_speed_bps), flush=True)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                return


def _describe(pairs: list[tuple[str, str]], speed_bps: int) -> str:
    ports = " ".join(f"--port {bridge}" for bridge, _ in pairs)
    lines = [f"Modem emulator: {len(pairs)} line(s), CONNECT {speed_bps}."]
    lines += [f"  line {index}   bridge side {bridge}   terminal side {terminal}"
              for index, (bridge, terminal) in enumerate(pairs, start=1)]
    lines += [
        f"Bridge:    jifen dialup {ports}",
        f"Terminal:  jifen term --serial {pairs[0][1]} --terminal DEMO0001 "
        "--merchant DEMO00000000001 signon",
        "Stop with Ctrl-C.",
    ]
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dialup", help="run the dial-up gateway bridge: modems on serial ports",
        description="Answer dial-up terminals' calls on modems (Hayes AT), ACK/NAK their "
                    "STX/ETX/LRC frames, forward requests to the acquirer front over TCP (mutual "
                    "TLS to a front on another machine: [dialup] front_tls), and reverse "
                    "approvals a terminal never got. Ports come from [dialup] in the config "
                    "file, or --port.",
    )
    parser.add_argument("--port", action="append", metavar="DEVICE",
                        help="a serial port with a modem (repeat for more), e.g. /dev/ttyUSB0")
    parser.add_argument("--front", metavar="HOST:PORT",
                        help="the acquirer front's address (not this machine's: its "
                             "bridge_listen, with [dialup] front_tls = true)")
    parser.set_defaults(handler=_dialup)

    emulator = subparsers.add_parser(
        "modem-emulator", help="two modems and a phone line on ptys, to try `jifen dialup`",
        description="Create pseudo-terminal pairs that behave as a phone line with a Hayes "
                    "modem at each end: give the bridge side to `jifen dialup --port` and the "
                    "terminal side to `jifen term --serial`. Runs until Ctrl-C.",
    )
    emulator.add_argument("--lines", type=int, default=1, help="phone lines (pty pairs)")
    emulator.add_argument("--speed", type=int, default=9600, help="CONNECT speed, bit/s")
    emulator.add_argument("--ring-interval", type=float, default=2.0, metavar="S",
                          help="seconds between RINGs")
    emulator.add_argument("--guard", type=float, default=0.5, metavar="S",
                          help="+++ escape guard time (a DTE's must be at least this)")
    emulator.add_argument("--drop-carrier-after", type=int, metavar="N",
                          help="fault: drop the carrier after N bytes towards the terminal, "
                               "in every call")
    emulator.add_argument("--corrupt-lrc", type=int, default=0, metavar="N",
                          help="fault: corrupt the LRC of the first N frames from the terminal,"
                               " in every call")
    emulator.add_argument("--noise", action="store_true",
                          help="fault: line noise before every frame from the terminal")
    emulator.add_argument("--json", action="store_true", help="print the pty paths as JSON")
    emulator.set_defaults(handler=_modem_emulator)
