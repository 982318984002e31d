"""The risk review queue (risk_reviews, written by each partition's account host into its own
database), as an explicit state machine:

    open --confirm--> confirmed   (the block stands, or the warning was seen: at once)
    open --release--> released    (a blocked card is unblocked: for an operator, a request
                                   a second operator approves; back_office/approvals)

Nothing leaves released or confirmed. Each decision writes its audit row on central; an
unblock reaches the host as any card service change does (central's cards, NOTIFY
cards:<id>, replicated to the card's partition). A review of another partition is read there
(`ReviewPartitions.reads`) and decided there (`PartitionWrites`), after central's part has
committed (back_office/partition_writes.py)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.card_service.lifecycle import CardStep, change_card_by_id
from back_office.partition_writes import PartitionWrites, partition_writes
from back_office.provisioning.alliances import alliance_id
from back_office.provisioning.errors import ConflictError, InvalidValueError, NotFoundError
from back_office.queries.partitions import OtherPartitions, partition_fetch
from back_office.risk.partitions import ONLY_CENTRAL, ReviewPartitions, ReviewRef, resolve

_ACTIONS = {"confirmed": "risk.confirm", "released": "risk.release"}
# One page of `jifen risk queue`.
QUEUE_LIMIT_MAX = 1_000


class RiskReview(msgspec.Struct, frozen=True, omit_defaults=True):
    id: int
    alliance_code: str
    kind: str
    level: str
    status: str
    business_date: date
    raised_at: datetime
    card: str | None            # masked
    merchant_code: str | None
    detail: dict[str, Any]
    decided_by: str | None
    decided_at: datetime | None
    # The partition whose database holds it; None (and left out of the JSON) with only one.
    partition: str | None = None

    @property
    def ref(self) -> str:
        """Its name for the commands: `p2:17`, or `17` with only one partition."""
        return str(self.id) if self.partition is None else f"{self.partition}:{self.id}"


class OpenReview(msgspec.Struct, frozen=True):
    """An open review, locked in its database, with its card as central has it."""

    ref: ReviewRef
    level: str
    card_id: int | None
    card_status: str | None
    pan_masked: str | None


_SELECT = (
    "SELECT r.id, a.code AS alliance_code, r.kind, r.level, r.status, r.business_date,"
    " r.raised_at, c.pan_masked AS card, m.merchant_code, r.detail::text AS detail,"
    " r.decided_by, r.decided_at"
    " FROM risk_reviews r JOIN alliances a ON a.id = r.alliance_id"
    " LEFT JOIN cards c ON c.id = r.card_id LEFT JOIN merchants m ON m.id = r.merchant_id")
_OPEN_SQL = (f"{_SELECT} WHERE r.status = 'open' AND ($1::integer IS NULL"
             " OR r.alliance_id = $1) ORDER BY r.raised_at, r.id LIMIT $2")
_ONE_SQL = f"{_SELECT} WHERE r.id = $1"


def _review(row: asyncpg.Record, partition: str | None) -> RiskReview:
    values = dict(row)
    values["detail"] = json.loads(values["detail"])
    return RiskReview(**values, partition=partition)


async def open_reviews(
    conn: asyncpg.Connection, alliance_code: str | None = None, limit: int = 100,
    partitions: ReviewPartitions = ONLY_CENTRAL,
) -> list[RiskReview]:
    """The open reviews of every partition, oldest first (risk_reviews_open in each); a
    partition that cannot be read fails the listing, naming it (PartitionReadError)."""
    if not 1 <= limit <= QUEUE_LIMIT_MAX:
        raise InvalidValueError(f"--limit is 1 to {QUEUE_LIMIT_MAX}")
    async with conn.transaction(readonly=True):
        # Alliances are reference data: the same ids in every partition.
        alliance = None if alliance_code is None else await alliance_id(conn, alliance_code)
        rows = await conn.fetch(_OPEN_SQL, alliance, limit)
    reviews = [_review(row, partitions.central) for row in rows]
    if not partitions.others:
        return reviews
    found = await partition_fetch(partitions.reads, [(_OPEN_SQL, (alliance, limit))])
    for name, (rows,) in found.items():
        reviews += [_review(row, name) for row in rows]
    order = {name: number for number, name in enumerate([partitions.central, *found])}
    reviews.sort(key=lambda one: (one.raised_at, order[one.partition], one.id))
    return reviews[:limit]


async def show_review(
    conn: asyncpg.Connection, ref: ReviewRef, partitions: ReviewPartitions = ONLY_CENTRAL,
) -> RiskReview:
    ref = resolve(ref, partitions)
    if ref.partition is None:
        async with conn.transaction(readonly=True):
            row = await conn.fetchrow(_ONE_SQL, ref.id)
        partition = partitions.central
    else:
        only = OtherPartitions({ref.partition: partitions.reads.urls[ref.partition]},
                               partitions.reads.connect_timeout_s)
        rows = (await partition_fetch(only, [(_ONE_SQL, (ref.id,))]))[ref.partition][0]
        row, partition = (rows[0] if rows else None), ref.partition
    if row is None:
        raise NotFoundError(f"no risk review {ref}; `jifen risk queue` shows the open ones")
    return _review(row, partition)


async def _holder(
    conn: asyncpg.Connection, writes: PartitionWrites, ref: ReviewRef,
) -> asyncpg.Connection:
    """The connection to the review's database: central's own, or its partition's."""
    return conn if ref.partition is None else await writes.on(ref.partition)


async def open_review_for_update(
    conn: asyncpg.Connection, writes: PartitionWrites, ref: ReviewRef,
) -> OpenReview:
    """The review's row, locked in its database, with its card's status on central (where
    the host's block is folded in, and the card service changes it); ConflictError when it
    is decided already. `ref` is resolved (`partitions.resolve`)."""
    holder = await _holder(conn, writes, ref)
    row = await holder.fetchrow(
        "SELECT card_id, level, status FROM risk_reviews WHERE id = $1 FOR UPDATE", ref.id)
    if row is None:
        raise NotFoundError(f"no risk review {ref}; `jifen risk queue` shows the open ones")
    if row["status"] != "open":
        raise ConflictError(f"risk review {ref} is {row['status']} already")
    card = None if row["card_id"] is None else await conn.fetchrow(
        "SELECT status, pan_masked FROM cards WHERE id = $1", row["card_id"])
    return OpenReview(ref, row["level"], row["card_id"],
                      None if card is None else card["status"],
                      None if card is None else card["pan_masked"])


def needs_unblock(review: OpenReview) -> bool:
    """Whether releasing this review unblocks a card (a block the host made, still standing)."""
    return review.level == "block" and review.card_status == "blocked"


async def confirm_review(
    conn: asyncpg.Connection, ref: ReviewRef, partitions: ReviewPartitions = ONLY_CENTRAL,
) -> RiskReview:
    """The block stands (or the warning was looked at): the review is closed."""
    ref = resolve(ref, partitions)
    async with partition_writes(partitions.writes) as writes, conn.transaction():
        await open_review_for_update(conn, writes, ref)
        await _decide(conn, writes, ref, "confirmed", None)
    return await show_review(conn, ref, partitions)


async def release_review(
    conn: asyncpg.Connection, writes: PartitionWrites, ref: ReviewRef,
    request_id: int | None = None,
) -> str:
    """Release the review, unblocking its card where the host blocked it: at once (the
    installer's, or an approval's execution, in the caller's transaction; the partition's
    part commits when the caller's `writes` end, after central's)."""
    async with conn.transaction():
        review = await open_review_for_update(conn, writes, ref)
        unblocked = None
        if needs_unblock(review):
            assert review.card_id is not None
            unblocked = await change_card_by_id(conn, review.card_id, CardStep.UNBLOCK)
        await _decide(conn, writes, ref, "released", request_id)
    if unblocked is None:
        return f"risk review {ref} released"
    return f"risk review {ref} released: card {unblocked.pan_masked} active"


async def _decide(
    conn: asyncpg.Connection, writes: PartitionWrites, ref: ReviewRef, status: str,
    request_id: int | None,
) -> None:
    # The operator is central's login: in a partition the back office writes as itself.
    decided_by = await conn.fetchval("SELECT session_user")
    holder = await _holder(conn, writes, ref)
    await holder.execute("UPDATE risk_reviews SET status = $2, decided_by = $3,"
                         " decided_at = now() WHERE id = $1", ref.id, status, decided_by)
    await record(conn, _ACTIONS[status], "risk_review", str(ref),
                 before={"status": "open"}, after={"status": status}, request_id=request_id)
