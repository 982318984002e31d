"""Issuing cards in bulk: N unique random Luhn-valid PANs under a BIN, in one transaction.

PANs are drawn in Python (card_numbers) and inserted with unnest + ON CONFLICT DO NOTHING, so a
number already issued is skipped, not an error; the shortfall is drawn again, a bounded number
of times. The CSV of what was issued is written before the commit and renamed after it, so a
CSV exists only for cards that exist.

No PAN is stored in clear (docs/security.md, "Keys and card numbers at rest"): a row holds the
PAN's HMAC under the pan_lookup key, the PAN sealed under the pan_seal key and its mask. The
CSV is written from the clear numbers drawn here, the only time they exist outside a seal.
"""

from __future__ import annotations

import calendar
import csv
import os
import time
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.balances.join_bonus import offer_join_bonus
from back_office.members.one_partition import check_card_joins_member
from back_office.provisioning import validate
from back_office.provisioning.alliances import alliance_id
from back_office.provisioning.card_numbers import PAN_LENGTH_MAX, PAN_LENGTH_MIN, PanGenerator
from back_office.provisioning.card_ranges import routing_range
from back_office.provisioning.errors import CardSpaceError, InvalidValueError, NotFoundError
from back_office.provisioning.notify import notify_change
from proto.changes import Change, Table
from proto.keys import Purpose, load_kek, open_data_keys, pan_hmac, seal_pan
from proto.pan import mask_pan

# One request's worth: a million cards is a few seconds; more is a job for several runs.
ISSUE_COUNT_MAX = 10_000_000
# Rows per INSERT: bounds the size of one statement's array parameter (about 2 MB).
INSERT_CHUNK_CARDS_MAX = 100_000
# Draws of the shortfall after collisions; with the space at most half full, each number
# collides with probability below 1/2, so a few rounds finish any request.
ISSUE_ROUNDS_MAX = 10
# Never fill a BIN's space beyond this: in a denser space valid numbers are easy to guess,
# and random draws collide more and more.
SPACE_FILL_MAX = 0.5
CARD_VALIDITY_YEARS = 5
SAMPLE_PANS = 3


class IssueSummary(msgspec.Struct, frozen=True):
    alliance_code: str
    bin: str
    length: int
    count: int
    expires_on: str
    first_card_id: int
    last_card_id: int
    # A few of the numbers, masked: the full ones are only in the 0600 CSV.
    sample_pans_masked: list[str]
    csv_path: str | None
    routed_to_host: str | None  # None: no card range routes this BIN yet
    rounds: int
    elapsed_s: float


def parse_expiry(text: str | None, today: date | None = None) -> date:
    """YYYY-MM -> the last day of that month; None -> CARD_VALIDITY_YEARS from now."""
    today = today or datetime.now(UTC).date()
    if text is None:
        year, month = today.year + CARD_VALIDITY_YEARS, today.month
    else:
        try:
            year, month = (int(part) for part in text.split("-"))
            date(year, month, 1)
        except ValueError as exc:
            raise InvalidValueError(f"expiry {text!r} must be YYYY-MM, e.g. 2030-12") from exc
    expires_on = date(year, month, calendar.monthrange(year, month)[1])
    if expires_on < today:
        raise InvalidValueError(f"expiry {expires_on:%Y-%m} is in the past")
    return expires_on


def _check_request(bin_prefix: str, count: int, length: int) -> PanGenerator:
    validate.bin_digits(bin_prefix)
    if not PAN_LENGTH_MIN <= length <= PAN_LENGTH_MAX:
        raise InvalidValueError(f"card length must be {PAN_LENGTH_MIN}-{PAN_LENGTH_MAX}")
    if len(bin_prefix) > length - 2:
        raise InvalidValueError(f"BIN {bin_prefix} leaves no random digits in a {length}-digit "
                                "card number")
    if not 1 <= count <= ISSUE_COUNT_MAX:
        raise InvalidValueError(f"count must be 1-{ISSUE_COUNT_MAX}, not {count}")
    return PanGenerator(bin_prefix, length)


async def issue_cards(
    conn: asyncpg.Connection, alliance_code: str, bin_prefix: str, count: int,
    length: int = 16, expires_on: date | None = None, csv_path: str | Path | None = None,
    *, kek: bytes | None = None, inactive: bool = False, member_id: int | None = None,
) -> IssueSummary:
    """`kek`: the KEK that opens the pan_lookup and pan_seal keys (default: proto.keys'
    credential, $JIFEN_KEK or var/kek.hex). `inactive`: cards to be sold, declined (05) until
    activated (`jifen card activate`). `member_id`: a single card issued to that member (of
    the same alliance)."""
    if member_id is not None and count != 1:
        raise InvalidValueError("a card issued to a member is issued alone: --count 1")
    started = time.perf_counter()
    generator = _check_request(bin_prefix, count, length)
    expires_on = expires_on or parse_expiry(None)
    staging = None
    try:
        async with conn.transaction():
            keys = await open_card_keys(conn, kek if kek is not None else load_kek())
            alliance = await alliance_id(conn, alliance_code)
            await _check_space(conn, generator, count)
            if member_id is not None:
                await _check_member(conn, member_id, alliance)
            issued, rounds = await _insert_cards(conn, generator, count, alliance, expires_on,
                                                 keys, "inactive" if inactive else "active")
            if member_id is not None:
                await check_card_joins_member(conn, member_id, issued[0][0])
                await conn.execute("UPDATE cards SET member_id = $2 WHERE id = $1",
                                   issued[0][0], member_id)
                await offer_join_bonus(conn, member_id, issued[0][0])
            # One row for the batch: the first and last card ids, a few masked numbers.
            await record(conn, "card.issue", "card_batch", f"{issued[0][0]}-{issued[-1][0]}",
                         after={"alliance_code": alliance_code, "bin": bin_prefix,
                                "count": len(issued), "length": length,
                                "expires_on": expires_on, "member_id": member_id,
                                "pan": [pan for _, pan in issued[:SAMPLE_PANS]]})
            await notify_change(conn, Change(Table.CARDS))
            if csv_path is not None:
                staging = _write_csv_staging(Path(csv_path), issued, expires_on)
        if staging is not None:
            assert csv_path is not None, "staged only for a CSV path"
            staging.replace(csv_path)
    finally:
        if staging is not None:
            staging.unlink(missing_ok=True)
    routing = await routing_range(conn, bin_prefix)
    return IssueSummary(
        alliance_code=alliance_code, bin=bin_prefix, length=length, count=len(issued),
        expires_on=expires_on.isoformat(), first_card_id=issued[0][0],
        last_card_id=issued[-1][0],
        sample_pans_masked=[mask_pan(pan) for _, pan in issued[:SAMPLE_PANS]],
        csv_path=str(csv_path) if csv_path is not None else None,
        routed_to_host=routing.host_name if routing else None, rounds=rounds,
        elapsed_s=time.perf_counter() - started,
    )


class CardKeys(msgspec.Struct, frozen=True):
    lookup: bytes   # pan_lookup: HMAC-SHA256 of the PAN
    seal: bytes     # pan_seal: AES-GCM of the PAN

    def __repr__(self) -> str:
        return "CardKeys(***)"


async def open_card_keys(conn: asyncpg.Connection, kek: bytes) -> CardKeys:
    keys = await open_data_keys(conn, kek, [Purpose.PAN_LOOKUP, Purpose.PAN_SEAL])
    return CardKeys(keys[Purpose.PAN_LOOKUP], keys[Purpose.PAN_SEAL])


def sealed_card_columns(
    keys: CardKeys, pans: list[str],
) -> tuple[list[bytes], list[bytes], list[str]]:
    """cards.pan_hmac, pan_sealed and pan_masked of each PAN, as three parallel lists."""
    hashes = [pan_hmac(keys.lookup, pan) for pan in pans]
    sealed = [seal_pan(keys.seal, pan, digest) for pan, digest in zip(pans, hashes, strict=True)]
    return hashes, sealed, [mask_pan(pan) for pan in pans]


async def insert_known_cards(
    conn: asyncpg.Connection, pans: list[str], alliance: int, expires_on: date, *,
    kek: bytes, status: str = "active",
) -> list[int]:
    """Insert cards of given numbers (benchmarks' and tests' fixed fleets; a number issued
    already is an error): their ids, in the order of `pans`. Without CSV or change notice."""
    keys = await open_card_keys(conn, kek)
    ids: list[int] = []
    for start in range(0, len(pans), INSERT_CHUNK_CARDS_MAX):
        hashes, sealed, masked = sealed_card_columns(
            keys, pans[start:start + INSERT_CHUNK_CARDS_MAX])
        rows = await conn.fetch(
            "INSERT INTO cards (pan_hmac, pan_sealed, pan_masked, alliance_id, status,"
            " expires_on)"
            " SELECT h, s, m, $4, $5, $6"
            " FROM unnest($1::bytea[], $2::bytea[], $3::text[]) WITH ORDINALITY AS u (h, s, m, n)"
            " ORDER BY n RETURNING id",
            hashes, sealed, masked, alliance, status, expires_on)
        ids.extend(sorted(row["id"] for row in rows))
    return ids


async def _check_space(conn: asyncpg.Connection, generator: PanGenerator, count: int) -> None:
    existing = await conn.fetchval(
        # The mask keeps 6 digits: a longer BIN counts its 6-digit prefix's cards (an upper
        # bound, so the limit stays safe).
        "SELECT count(*) FROM cards WHERE length(pan_masked) = $2"
        " AND left(pan_masked, least(length($1), 6)) = left($1, 6)",
        generator.bin_prefix, len(generator.bin_prefix) + generator.random_digits + 1,
    )
    allowed = int(generator.space_size * SPACE_FILL_MAX)
    if existing + count > allowed:
        raise CardSpaceError(
            f"BIN {generator.bin_prefix} has {generator.space_size} card numbers of this "
            f"length, {existing} issued; at most {allowed} may be ({SPACE_FILL_MAX:.0%}, so "
            f"numbers stay hard to guess): issue fewer, or use a longer --length or another BIN"
        )


async def _insert_cards(
    conn: asyncpg.Connection, generator: PanGenerator, count: int, alliance: int,
    expires_on: date, keys: CardKeys, status: str,
) -> tuple[list[tuple[int, str]], int]:
    """(card id, PAN) of `count` new cards, by id, and the rounds it took."""
    drawn: set[str] = set()
    issued: list[tuple[int, str]] = []
    for rounds in range(1, ISSUE_ROUNDS_MAX + 1):
        # Sorted, a chunk's index entries land on neighbouring pages: about a third faster.
        pans = sorted(generator.random_pans(count - len(issued), drawn))
        for start in range(0, len(pans), INSERT_CHUNK_CARDS_MAX):
            chunk = pans[start:start + INSERT_CHUNK_CARDS_MAX]
            hashes, sealed, masked = sealed_card_columns(keys, chunk)
            pan_of = dict(zip(hashes, chunk, strict=True))
            rows = await conn.fetch(
                "INSERT INTO cards (pan_hmac, pan_sealed, pan_masked, alliance_id, expires_on,"
                " status) SELECT h, s, m, $4, $5, $6"
                " FROM unnest($1::bytea[], $2::bytea[], $3::text[]) AS u (h, s, m)"
                " ON CONFLICT (pan_hmac) DO NOTHING RETURNING id, pan_hmac",
                hashes, sealed, masked, alliance, expires_on, status,
            )
            issued.extend((row["id"], pan_of[row["pan_hmac"]]) for row in rows)
        if len(issued) == count:
            issued.sort()
            return issued, rounds
    raise CardSpaceError(
        f"only {len(issued)} of {count} numbers were free after {ISSUE_ROUNDS_MAX} draws "
        f"under BIN {generator.bin_prefix}; nothing was issued"
    )


async def _check_member(conn: asyncpg.Connection, member_id: int, alliance: int) -> None:
    member_alliance = await conn.fetchval("SELECT alliance_id FROM members WHERE id = $1",
                                          member_id)
    if member_alliance is None:
        raise NotFoundError(f"no member {member_id}; `jifen member find` finds one")
    if member_alliance != alliance:
        raise InvalidValueError(f"member {member_id} is of another alliance")


def _write_csv_staging(path: Path, issued: list[tuple[int, str]], expires_on: date) -> Path:
    """The CSV next to its final place (mode 0600: it lists full card numbers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.partial")
    # A file that is already there (or a link planted in its place) is never written through:
    # a stale one of a crashed run is removed (unlink removes a link, not its target).
    staging.unlink(missing_ok=True)
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("pan", "expires_on", "card_id"))
        expiry = expires_on.isoformat()
        writer.writerows((pan, expiry, card_id) for card_id, pan in issued)
    return staging
