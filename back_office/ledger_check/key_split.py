"""`retransmission_key_split`: a retransmission key in two partitions' `host_requests` within
the retransmission window (docs/plans/partitions.md §4, "Beyond the window").

The switch remembers which partition a key went to for `key_window_s` (15 minutes), not the
spec's 7 days. A request that reuses a key later with a card of another partition is decided
as new there, where one host would have answered 94 (or the first answer). Nothing in either
ledger is wrong, and nothing is to be repaired: it is the deviation the design accepts, so the
audit lists it as a warning (`CheckResult.warning`), which does not fail the audit.

Comparing every key of every partition is the cost. Two passes, each partition in the snapshot
its own checks read:

1. Each partition sends its keys' 8-byte digests (SHA-256, the same on any server), grouped
   server-side into pages by the digests' top bits (PAGE_KEYS about a page, however many rows)
   and streamed through a cursor in page order: the pages of every partition line up, so one
   page of each is in memory at once, and a digest in two partitions' pages is a candidate.
2. The candidates' rows are read from every partition (few: a key reused a year later, field 7
   having no year, is one too) and compared exactly: the same key, in two partitions, less than
   the window apart.

PAN-less keys are left out: the switch sends a 0500 to every partition (a part each) and an
0800 to the default host, by design. Left for `partition move` (step 9): a moved card's window
of `host_requests` rows is copied to its new partition, which this check must then tell apart.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncGenerator, Mapping
from datetime import datetime, timedelta

import anyio
import asyncpg
import msgspec

from back_office.ledger_check.idempotency import RETRANSMISSION_WINDOW_DAYS
from back_office.ledger_check.result import CheckResult, Violation
from back_office.ledger_check.runner import VIOLATIONS_LISTED_MAX
from proto.codes import Mti
from proto.retransmission import key_sql, retransmission_key

KEY_SPLIT = "retransmission_key_split"
# Keys a page holds, about (digests are uniform): 512 KB of digests, a set of 65,536 ints.
PAGE_KEYS = 65_536
# Pages are the digests' top bits, at most 16 (two bytes): 4 * 10^9 keys at PAGE_KEYS a page.
PAGE_BITS_MAX = 16
# Pages fetched a round trip.
PAGES_PREFETCHED = 4
# Digests found in two partitions, at most, whose rows are read: a clean system has none but
# keys reused after a year; more than this is a fault to read about first.
CANDIDATES_MAX = 100_000
WINDOW = timedelta(days=RETRANSMISSION_WINDOW_DAYS)
# The switch routes these without a PAN, to every partition (0500) or the default (0800).
PANLESS_MTIS = [Mti.RECONCILIATION.value, Mti.NETWORK.value]

_DIGEST_SQL = f"substr(sha256(convert_to({key_sql('r')}, 'UTF8')), 1, 8)"
_COUNT_SQL = "SELECT count(*) FROM host_requests AS r WHERE r.mti <> ALL($1::text[])"
# OFFSET 0 keeps the subquery whole: inlined, each digest was hashed three times (the page's
# two bytes, and the digest). Pages are few: hashed, not sorted, then the pages sorted.
_PAGES_SQL = f"""
SELECT ((get_byte(k.digest, 0) << 8) | get_byte(k.digest, 1)) >> $2 AS page,
       string_agg(k.digest, ''::bytea) AS digests
FROM (SELECT {_DIGEST_SQL} AS digest FROM host_requests AS r
      WHERE r.mti <> ALL($1::text[]) OFFSET 0) AS k
GROUP BY 1 ORDER BY 1
"""
# The candidates' rows, each with its card (masked) and the transaction it posted, if any
# (the same key within two days of it, on the terminal's index).
_ROWS_SQL = f"""
SELECT r.terminal_code, r.mti, r.stan, r.transmission_time, r.received_at, c.pan_masked,
       t.id AS transaction_id
FROM host_requests AS r
LEFT JOIN cards AS c ON c.id = r.card_id
LEFT JOIN LATERAL (
    SELECT t.id FROM transactions AS t
    WHERE t.terminal_code = r.terminal_code
      AND t.business_date BETWEEN (r.received_at - interval '2 days')::date
                              AND (r.received_at + interval '2 days')::date
      AND t.mti = r.mti AND t.stan = r.stan AND t.transmission_time = r.transmission_time
    ORDER BY abs(extract(epoch FROM t.posted_at - r.received_at)) LIMIT 1
) AS t ON true
WHERE r.mti <> ALL($1::text[]) AND {_DIGEST_SQL} = ANY($2::bytea[])
"""


class KeyUse(msgspec.Struct, frozen=True):
    """One partition's row of a key."""

    partition: str
    received_at: datetime
    pan_masked: str | None        # None: a card the host did not hold
    transaction_id: int | None    # None: declined, nothing posted


class KeySplit(msgspec.Struct, frozen=True):
    key: str                      # terminal|MTI|STAN|field 7: no card number in it
    first: KeyUse
    second: KeyUse

    def violation(self) -> Violation:
        first, second = self.first, self.second
        return Violation(KEY_SPLIT, {
            "key": self.key, "first_partition": first.partition,
            "first_transaction_id": first.transaction_id,
            "second_partition": second.partition,
            "second_transaction_id": second.transaction_id,
        }, f"{_use(first)}, then in {second.partition} {second.received_at - first.received_at}"
           f" later ({_card(second)}): decided as new where 94 or the first answer was owed")


def _card(use: KeyUse) -> str:
    posted = (f"transaction {use.transaction_id}" if use.transaction_id is not None
              else "nothing posted")
    return f"card {use.pan_masked or 'unknown'}, {posted}"


def _use(use: KeyUse) -> str:
    return f"in {use.partition} at {use.received_at.isoformat()} ({_card(use)})"


async def key_splits(snapshots: Mapping[str, asyncpg.Connection]) -> CheckResult:
    """The check across partitions; `snapshots` in their open transactions."""
    started = time.perf_counter()
    rows = 0
    for connection in snapshots.values():
        rows = max(rows, await connection.fetchval(_COUNT_SQL, PANLESS_MTIS))
    found = await candidates(snapshots, page_shift(rows))
    splits = await key_splits_of(snapshots, found[:CANDIDATES_MAX]) if found else []
    listed = [split.violation() for split in splits[:VIOLATIONS_LISTED_MAX]]
    # Not compared is not clean: said first, and counted, so that it is printed.
    overflow = len(found) > CANDIDATES_MAX
    if overflow:
        listed.insert(0, Violation(KEY_SPLIT, {"key": None}, (
            f"more than {CANDIDATES_MAX} keys are in two partitions' host_requests: the first"
            f" {CANDIDATES_MAX} were compared, not the others")))
    return CheckResult(
        KEY_SPLIT, f"a retransmission key is in one partition within {RETRANSMISSION_WINDOW_DAYS}"
        " days", len(splits) + int(overflow), listed, time.perf_counter() - started, warning=True)


def page_shift(rows: int) -> int:
    """How far a digest's first two bytes are shifted to its page: pages of about PAGE_KEYS
    for the largest partition's `rows`."""
    bits = min(PAGE_BITS_MAX, max(0, math.ceil(math.log2(max(rows, 1) / PAGE_KEYS))))
    return PAGE_BITS_MAX - bits


async def _pages(
    connection: asyncpg.Connection, shift: int,
) -> AsyncGenerator[tuple[int, bytes], None]:
    async for record in connection.cursor(_PAGES_SQL, PANLESS_MTIS, shift,
                                          prefetch=PAGES_PREFETCHED):
        yield record["page"], record["digests"]


async def candidates(
    snapshots: Mapping[str, asyncpg.Connection], shift: int,
) -> list[bytes]:
    """The digests of more than one partition, page by page, until more than CANDIDATES_MAX
    are found: each partition's cursor gives its pages in order, and a page is compared with
    the same page of the others."""
    streams = [_pages(connection, shift) for connection in snapshots.values()]
    heads: list[tuple[int, bytes] | None] = [None] * len(streams)

    async def first(at: int) -> None:
        heads[at] = await anext(streams[at], None)

    # The first page of each is its whole scan and aggregate: every partition at once.
    async with anyio.create_task_group() as group:
        for at in range(len(streams)):
            group.start_soon(first, at)
    found: list[bytes] = []
    while any(head is not None for head in heads):
        page = min(head[0] for head in heads if head is not None)
        seen: set[bytes] = set()
        for at, head in enumerate(heads):
            if head is None or head[0] != page:
                continue
            digests = head[1]
            assert len(digests) % 8 == 0, "8-byte digests"
            mine = {digests[i:i + 8] for i in range(0, len(digests), 8)}
            found.extend(mine & seen)
            seen |= mine
            heads[at] = await anext(streams[at], None)
        if len(found) > CANDIDATES_MAX:
            for stream in streams:
                await stream.aclose()
            break
    return found


async def key_splits_of(
    snapshots: Mapping[str, asyncpg.Connection], digests: list[bytes],
) -> list[KeySplit]:
    """The keys of `digests` held by two partitions less than the window apart, in key order:
    each use of a key after another partition's, within the window, is one split."""
    uses: dict[str, list[KeyUse]] = {}
    for name, connection in snapshots.items():
        for row in await connection.fetch(_ROWS_SQL, PANLESS_MTIS, sorted(set(digests))):
            key = retransmission_key(row["terminal_code"], row["mti"], row["stan"],
                                     row["transmission_time"])
            uses.setdefault(key, []).append(KeyUse(
                name, row["received_at"], row["pan_masked"], row["transaction_id"]))
    splits = []
    for key, key_uses in sorted(uses.items()):
        key_uses.sort(key=lambda use: use.received_at)
        for first, second in zip(key_uses, key_uses[1:], strict=False):
            if (first.partition != second.partition
                    and second.received_at - first.received_at < WINDOW):
                splits.append(KeySplit(key, first, second))
    return splits
