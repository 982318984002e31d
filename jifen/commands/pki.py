"""`jifen pki init`: the local CA and the services' certificates of the internal links."""

from __future__ import annotations

import argparse
from pathlib import Path

from runtime.config import load_config


def _init(args: argparse.Namespace) -> int:
    from runtime.pki import init_pki, service_names

    config = load_config(args.config)
    names = service_names(config) + tuple(args.name or ())
    written = init_pki(Path(config.pki.dir), names, force=args.force)
    if not written:
        print(f"Nothing to do: the CA and the certificates of {', '.join(names)} are in "
              f"{config.pki.dir} (--force re-creates them all).")
    for path in written:
        print(f"wrote {path}")
    if written and args.force:
        print("Restart every service (or `jifen up`) to use the new certificates.")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    text = "the internal links' keys and certificates (mutual TLS)"
    parser = subparsers.add_parser("pki", help=text, description=text)
    commands = parser.add_subparsers(dest="pki_command", metavar="COMMAND", required=True)
    init_text = ("create the local CA and a key and certificate for front, switch, host and "
                 "dialup under [pki] dir (only the missing ones, unless --force)")
    init = commands.add_parser("init", help=init_text, description=init_text)
    init.add_argument("--force", action="store_true",
                      help="replace every file, the CA included (rotation: restart all)")
    init.add_argument("--name", action="append", metavar="NAME",
                      help="a further certificate name (e.g. a second host); repeatable")
    init.set_defaults(handler=_init)
