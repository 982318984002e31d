"""A card named on the command line by its number: the number is checked, hashed with the
pan_lookup key (opened as the back office's role, which alone of the reading roles may open
it) and never sent to the database, printed or logged; only its mask is shown."""

from __future__ import annotations

import asyncpg

from back_office.queries import open_pan_lookup_key, pan_lookup_hash
from back_office.queries.cards import check_pan
from database.roles import Role
from jifen.commands.runner import run_with_database
from proto.keys import load_kek
from runtime.config import load_config


async def card_hash_in(connection: asyncpg.Connection, config_path: str | None, pan: str) -> bytes:
    """As `card_hash_of`, on an operator's own connection (its role may open the key)."""
    check_pan(pan)
    return pan_lookup_hash(await lookup_key_in(connection, config_path), pan)


async def lookup_key_in(connection: asyncpg.Connection, config_path: str | None) -> bytes:
    """The pan_lookup key, opened on the caller's connection with the configured KEK."""
    front = load_config(config_path).front
    return await open_pan_lookup_key(connection, load_kek(front.kek_file, front.kek_env))


def card_hash_of(config_path: str | None, pan: str) -> bytes:
    check_pan(pan)
    front = load_config(config_path).front
    kek = load_kek(front.kek_file, front.kek_env)
    key = run_with_database(config_path, Role.BACK_OFFICE,
                            lambda conn: open_pan_lookup_key(conn, kek))
    return pan_lookup_hash(key, pan)
