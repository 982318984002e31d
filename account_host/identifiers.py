"""Identifiers that never repeat, even across restarts: RRNs, authorisation codes and row ids.

Each comes from a counter in host_counters, reserved in blocks: one UPDATE reserves a block of
every counter that runs low, before a batch is applied, so that applying stays synchronous. A
block's unused rest is skipped (after a restart, or when a batch needs more than is left), so
identifiers have gaps but never repeat.

They never repeat across partitions either (migration 029): a partition's row ids run in
[number << 48, (number + 1) << 48), and its RRNs lie in its own rrn_ranges, a block never
straddling a range's end. A host whose name is not a partition, or whose ranges are spent,
cannot reserve, and answers 96.
"""

from __future__ import annotations

import anyio
import asyncpg

from account_host.database import DATABASE_ERRORS
from account_host.errors import ReservationError

RRN = "rrn"
AUTH_CODE = "auth_code"
TRANSACTION = "transaction"
ENTRY = "entry"
ACCOUNT = "account"

# The most a single request may take of each counter: a purchase paid from stored value (or an
# exchange, or a return of one) takes two journal entries (points, money) and may create four
# accounts (the member's two, and a merchant's or the alliance's in each ledger); a referred
# member's first purchase adds the referral bonus: a transaction, an entry, and the referrer's
# points account and the alliance's bonus account. Reserving for the worst case keeps apply
# synchronous.
PER_REQUEST_MAX: dict[str, int] = {
    RRN: 1, AUTH_CODE: 1, TRANSACTION: 2, ENTRY: 3, ACCOUNT: 6,
}

# Field 37 is 12 digits.
RRN_DIGITS = 12
# Field 38 is 6 characters; base 36 upper case gives 36**6 = 2,176,782,336 codes, so the code
# repeats only after that many approvals (years at thousands a second): its wrap period.
AUTH_CODE_LENGTH = 6
AUTH_CODE_PERIOD = 36 ** AUTH_CODE_LENGTH
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# Row ids of one partition: 2^48 (2.8 * 10^14) is centuries of ids at 10^4 a second, and leaves
# 15 bits of a bigint for the partition's number.
PARTITION_ID_BITS = 48

# A block of each counter, from its next value; an RRN block from the first place in the
# partition's ranges, lowest first, where it fits whole. The counters' rows are locked first,
# so a block is computed from the value it replaces. The RRN counter's first_value is NULL
# (and the counter unchanged) when no range has room; nothing at all is returned when $3 is
# not a partition.
_RESERVE_SQL = """
WITH blocks AS (
    SELECT c.name, r.size, p.number,
           CASE WHEN c.name <> 'rrn' THEN c.next_value
                ELSE (SELECT greatest(g.first_rrn, c.next_value) FROM rrn_ranges g
                      WHERE g.partition = p.name
                        AND greatest(g.first_rrn, c.next_value) + r.size - 1 <= g.last_rrn
                      ORDER BY g.first_rrn LIMIT 1)
           END AS first_value
    FROM host_counters c
    JOIN unnest($1::text[], $2::bigint[]) AS r(name, size) ON r.name = c.name
    JOIN partitions p ON p.name = $3
    FOR UPDATE OF c
)
UPDATE host_counters AS c SET next_value = coalesce(b.first_value + b.size, c.next_value)
FROM blocks b
WHERE c.name = b.name
RETURNING c.name, b.first_value, b.number AS partition_number,
          CASE WHEN c.name = 'rrn' THEN
              (SELECT coalesce(sum(greatest(0, g.last_rrn + 1
                                               - greatest(g.first_rrn, b.first_value + b.size))),
                               0)
               FROM rrn_ranges g WHERE g.partition = $3)
          END AS rrns_unreserved
"""


class _Block:
    """Reserved values [next_value, end_value) of one counter."""

    __slots__ = ("end_value", "next_value")

    def __init__(self) -> None:
        self.next_value = 0
        self.end_value = 0

    def take(self) -> int:
        value = self.next_value
        assert value < self.end_value, "identifier block exhausted: reservation undercounted"
        self.next_value = value + 1
        return value


class Identifiers:
    """The host's identifier blocks; only the writer task uses them."""

    def __init__(self, block_size: int, partition: str = "main") -> None:
        """`partition`: the host's name (`[host] name`), a row of partitions."""
        assert block_size > 0
        self._block_size = block_size
        self._partition = partition
        self._blocks = {name: _Block() for name in PER_REQUEST_MAX}
        # RRNs of the partition's ranges beyond the last block reserved (None: none reserved
        # yet): what `jifen partition rrns` must top up before it reaches 0 (96 then).
        self.rrns_unreserved: int | None = None

    async def reserve_for(
        self, connection: asyncpg.Connection, requests: int, timeout_s: float
    ) -> None:
        """Make sure every block can serve `requests` requests of the worst kind."""
        shortfalls = self._shortfalls(requests)
        if not shortfalls:
            return
        names = list(shortfalls)
        sizes = [max(self._block_size, needed) for needed in shortfalls.values()]
        try:
            with anyio.fail_after(timeout_s):
                rows = await connection.fetch(_RESERVE_SQL, names, sizes, self._partition)
        except DATABASE_ERRORS as exc:
            raise ReservationError(f"reserving identifiers failed: {exc!r}") from exc
        if not rows:
            raise ReservationError(f"no partition named {self._partition!r}, or host_counters"
                                   f" lacks {names}")
        rows = [row for row in rows if row["first_value"] is not None]
        reserved = {row["name"] for row in rows}
        if RRN in names and RRN not in reserved:
            self.rrns_unreserved = 0     # what is left cannot hold a block: spent for the host
            raise ReservationError(f"no RRN range of partition {self._partition!r} has room for"
                                   f" a block of {sizes[names.index(RRN)]} RRNs (rrn_ranges)")
        if reserved != set(names):
            raise ReservationError(f"host_counters lacks some of {names}")
        for row in rows:
            size = sizes[names.index(row["name"])]
            _check_id_base(row["name"], row["first_value"], size, row["partition_number"])
            if row["name"] == RRN:
                self.rrns_unreserved = int(row["rrns_unreserved"])
            block = self._blocks[row["name"]]
            block.next_value = row["first_value"]
            block.end_value = row["first_value"] + size

    def can_serve(self, requests: int) -> bool:
        """Whether every block can serve `requests` requests of the worst kind without a
        reservation."""
        return not self._shortfalls(requests)

    def _shortfalls(self, requests: int) -> dict[str, int]:
        """Counter name -> values `requests` need of it, for the blocks with fewer left."""
        shortfalls: dict[str, int] = {}
        for name, block in self._blocks.items():
            needed = requests * PER_REQUEST_MAX[name]
            if block.end_value - block.next_value < needed:
                shortfalls[name] = needed
        return shortfalls

    def next_id(self, name: str) -> int:
        return self._blocks[name].take()

    def next_rrn(self) -> str:
        value = self._blocks[RRN].take()
        assert value < 10 ** RRN_DIGITS, "RRN counter beyond 12 digits"
        return f"{value:012d}"

    def next_auth_code(self) -> str:
        return auth_code_text(self._blocks[AUTH_CODE].take())


def _check_id_base(name: str, first_value: int, size: int, partition_number: int) -> None:
    """A row id block lies in its partition's ids: a counter seeded below its base, or run past
    it, would issue another partition's ids, so the host stops rather than write them."""
    if name not in (TRANSACTION, ENTRY, ACCOUNT):
        return
    base = partition_number << PARTITION_ID_BITS
    assert base <= first_value and first_value + size <= base + (1 << PARTITION_ID_BITS), (
        f"{name} ids {first_value}+{size} outside partition {partition_number}'s"
        f" [{base}, {base + (1 << PARTITION_ID_BITS)})")


def auth_code_text(value: int) -> str:
    """Six characters, base 36 upper case, of the counter modulo its wrap period."""
    value %= AUTH_CODE_PERIOD
    chars = []
    for _ in range(AUTH_CODE_LENGTH):
        value, digit = divmod(value, 36)
        chars.append(_BASE36[digit])
    return "".join(reversed(chars))
