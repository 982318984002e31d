"""The load test's own alliance: merchants, terminals, a card range and cards, made with
back_office.provisioning and topped up, never duplicated, so a run reuses what an earlier run made.

Terminals are LT000001, LT000002, ... (8 of them per merchant LOADTEST0000001, ...), none
requiring MAC; cards are 16 digits under LOADTEST_BIN, routed to one account host, or, over
several partitions, under one BIN per partition (PARTITION_BINS), the cards shared evenly.
"""

from __future__ import annotations

import secrets

import asyncpg
import msgspec

from acquirer_front.keystore import KeyStore
from back_office.provisioning import (
    ProvisioningError,
    add_card_range,
    create_alliance,
    create_merchant,
    create_terminal,
    issue_cards,
)
from back_office.provisioning.card_ranges import routing_range
from loadtest.drive import Station
from loadtest.errors import SetupError
from proto.keys import Purpose, load_kek, open_data_keys, open_pan

ALLIANCE_CODE = "LOADTEST"
LOADTEST_BIN = "628888"
# One BIN per partition, in the order of loadtest.partitions.PARTITION_NAMES (main's first).
PARTITION_BINS = (LOADTEST_BIN, "628889")
TERMINALS_PER_MERCHANT = 8
# Points per yuan: every purchase earns, so each approval posts a journal entry.
EARN_POINTS_PER_YUAN = 1
TMK_SIZE_BYTES = 16
# Terminal codes are 8 characters: "LT" and 6 digits.
TERMINALS_MAX = 999_999


class FleetData(msgspec.Struct, frozen=True):
    stations: list[Station]
    pans: list[str]
    cards_issued_now: int
    terminals_created_now: int


def terminal_code(number: int) -> str:
    return f"LT{number:06d}"


def merchant_code(number: int) -> str:
    return f"{ALLIANCE_CODE}{number:07d}"


async def ensure_fleet(
    database_url: str, terminals: int, cards: int, host_names: tuple[str, ...] = ("main",),
) -> FleetData:
    """At least `terminals` terminals and `cards` active cards of the load-test alliance,
    shared evenly over the hosts' BINs (the first takes the remainder)."""
    assert 1 <= terminals <= TERMINALS_MAX and cards >= 1
    assert 1 <= len(host_names) <= len(PARTITION_BINS) and cards >= len(host_names)
    connection = await asyncpg.connect(database_url)
    try:
        kek = load_kek()
        await _ensure_front_key_pair(connection, kek)
        created = await _ensure_stations(connection, terminals)
        issued, pans = 0, []
        for index, host_name in enumerate(host_names):
            bin_prefix = PARTITION_BINS[index]
            share = cards // len(host_names) + (cards % len(host_names) if index == 0 else 0)
            issued += await _ensure_cards(connection, share, host_name, kek, bin_prefix)
            pans += await _card_numbers(connection, share, kek, bin_prefix)
    except ProvisioningError as exc:
        raise SetupError(f"provisioning the load-test alliance failed: {exc}") from exc
    finally:
        await connection.close()
    stations = [Station(terminal_code(n), merchant_code((n - 1) // TERMINALS_PER_MERCHANT + 1))
                for n in range(1, terminals + 1)]
    return FleetData(stations, pans, issued, created)


async def _ensure_front_key_pair(connection: asyncpg.Connection, kek: bytes) -> None:
    """As `jifen db migrate` would on a new database: the front's key pair, whose public key
    the back office seals the terminals' TMKs to."""
    await KeyStore.open_with(connection, kek)


async def _ensure_stations(
    connection: asyncpg.Connection, terminals: int
) -> int:
    if not await connection.fetchval("SELECT 1 FROM alliances WHERE code = $1", ALLIANCE_CODE):
        # The load test's terminals do not MAC (it measures the switch path, not DES).
        await create_alliance(connection, ALLIANCE_CODE, "Load test alliance",
                              requires_mac_for_loads=False)
    merchants = (terminals + TERMINALS_PER_MERCHANT - 1) // TERMINALS_PER_MERCHANT
    existing = set(await connection.fetchval(
        "SELECT coalesce(array_agg(merchant_code), '{}') FROM merchants"
        " WHERE merchant_code = ANY($1::text[])",
        [merchant_code(n) for n in range(1, merchants + 1)]))
    for number in range(1, merchants + 1):
        if merchant_code(number) not in existing:
            await create_merchant(connection, ALLIANCE_CODE, merchant_code(number),
                                  f"Load test shop {number}", EARN_POINTS_PER_YUAN)
    existing = set(await connection.fetchval(
        "SELECT coalesce(array_agg(terminal_code), '{}') FROM terminals"
        " WHERE terminal_code = ANY($1::text[])",
        [terminal_code(n) for n in range(1, terminals + 1)]))
    created = 0
    for number in range(1, terminals + 1):
        if terminal_code(number) not in existing:
            merchant = merchant_code((number - 1) // TERMINALS_PER_MERCHANT + 1)
            await create_terminal(connection, terminal_code(number), merchant,
                                  secrets.token_bytes(TMK_SIZE_BYTES), requires_mac=False)
            created += 1
    return created


async def _card_numbers(connection: asyncpg.Connection, cards: int, kek: bytes,
                        bin_prefix: str = LOADTEST_BIN) -> list[str]:
    """The clear numbers of up to `cards` active cards, opened with the pan_seal key as the
    back office does (the terminals must send them; no PAN is stored in clear)."""
    keys = await open_data_keys(connection, kek, [Purpose.PAN_SEAL], create=False)
    rows = await connection.fetch(
        "SELECT c.pan_hmac, c.pan_sealed FROM cards c JOIN alliances a ON a.id = c.alliance_id"
        " WHERE a.code = $1 AND c.status = 'active' AND c.expires_on >= current_date"
        " AND left(c.pan_masked, length($2)) = $2 ORDER BY c.id LIMIT $3",
        ALLIANCE_CODE, bin_prefix, cards)
    seal_key = keys[Purpose.PAN_SEAL]
    return [open_pan(seal_key, row["pan_sealed"], row["pan_hmac"]) for row in rows]


async def _ensure_cards(
    connection: asyncpg.Connection, cards: int, host_name: str, kek: bytes,
    bin_prefix: str = LOADTEST_BIN,
) -> int:
    route = await routing_range(connection, bin_prefix)
    if route is None:
        await add_card_range(connection, bin_prefix, bin_prefix, host_name)
    elif route.host_name != host_name:
        raise SetupError(f"BIN {bin_prefix} is routed to host {route.host_name!r}, "
                         f"not {host_name!r}")
    existing = await connection.fetchval(
        "SELECT count(*) FROM cards c JOIN alliances a ON a.id = c.alliance_id"
        " WHERE a.code = $1 AND c.status = 'active' AND c.expires_on >= current_date"
        " AND left(c.pan_masked, length($2)) = $2", ALLIANCE_CODE, bin_prefix)
    if existing >= cards:
        return 0
    summary = await issue_cards(connection, ALLIANCE_CODE, bin_prefix, cards - existing,
                                kek=kek)
    return summary.count
