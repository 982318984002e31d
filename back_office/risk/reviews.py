"""The risk review queue (risk_reviews, written by the account host), as an explicit state
machine:

    open --confirm--> confirmed   (the block stands, or the warning was seen: at once)
    open --release--> released    (a blocked card is unblocked: for an operator, a request
                                   a second operator approves; back_office/approvals)

Nothing leaves released or confirmed. Each decision writes its audit row; an unblock reaches
the host as any card service change does (cards, NOTIFY cards:<id>)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.card_service.lifecycle import CardStep, change_card_by_id
from back_office.provisioning.alliances import alliance_id
from back_office.provisioning.errors import ConflictError, InvalidValueError, NotFoundError

_ACTIONS = {"confirmed": "risk.confirm", "released": "risk.release"}
# One page of `jifen risk queue`.
QUEUE_LIMIT_MAX = 1_000


class RiskReview(msgspec.Struct, frozen=True):
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


_SELECT = (
    "SELECT r.id, a.code AS alliance_code, r.kind, r.level, r.status, r.business_date,"
    " r.raised_at, c.pan_masked AS card, m.merchant_code, r.detail::text AS detail,"
    " r.decided_by, r.decided_at"
    " FROM risk_reviews r JOIN alliances a ON a.id = r.alliance_id"
    " LEFT JOIN cards c ON c.id = r.card_id LEFT JOIN merchants m ON m.id = r.merchant_id")


def _review(row: asyncpg.Record) -> RiskReview:
    values = dict(row)
    values["detail"] = json.loads(values["detail"])
    return RiskReview(**values)


async def open_reviews(
    conn: asyncpg.Connection, alliance_code: str | None = None, limit: int = 100,
) -> list[RiskReview]:
    """The open reviews, oldest first (risk_reviews_open)."""
    if not 1 <= limit <= QUEUE_LIMIT_MAX:
        raise InvalidValueError(f"--limit is 1 to {QUEUE_LIMIT_MAX}")
    async with conn.transaction(readonly=True):
        alliance = None if alliance_code is None else await alliance_id(conn, alliance_code)
        rows = await conn.fetch(
            f"{_SELECT} WHERE r.status = 'open' AND ($1::integer IS NULL"
            " OR r.alliance_id = $1) ORDER BY r.raised_at, r.id LIMIT $2", alliance, limit)
    return [_review(row) for row in rows]


async def show_review(conn: asyncpg.Connection, review_id: int) -> RiskReview:
    async with conn.transaction(readonly=True):
        row = await conn.fetchrow(f"{_SELECT} WHERE r.id = $1", review_id)
    if row is None:
        raise NotFoundError(f"no risk review {review_id}; `jifen risk queue` shows the open"
                            " ones")
    return _review(row)


async def open_review_for_update(conn: asyncpg.Connection, review_id: int) -> asyncpg.Record:
    """The review's row, locked; ConflictError when it is decided already."""
    row = await conn.fetchrow(
        "SELECT r.id, r.card_id, r.level, r.status, c.status AS card_status, c.pan_masked"
        " FROM risk_reviews r LEFT JOIN cards c ON c.id = r.card_id WHERE r.id = $1"
        " FOR UPDATE OF r", review_id)
    if row is None:
        raise NotFoundError(f"no risk review {review_id}; `jifen risk queue` shows the open"
                            " ones")
    if row["status"] != "open":
        raise ConflictError(f"risk review {review_id} is {row['status']} already")
    return row


def needs_unblock(row: asyncpg.Record) -> bool:
    """Whether releasing this review unblocks a card (a block the host made, still standing)."""
    return row["level"] == "block" and row["card_status"] == "blocked"


async def confirm_review(conn: asyncpg.Connection, review_id: int) -> RiskReview:
    """The block stands (or the warning was looked at): the review is closed."""
    async with conn.transaction():
        await open_review_for_update(conn, review_id)
        await _decide(conn, review_id, "confirmed", None)
    return await show_review(conn, review_id)


async def release_review(
    conn: asyncpg.Connection, review_id: int, request_id: int | None = None,
) -> str:
    """Release the review, unblocking its card where the host blocked it: at once (the
    installer's, or an approval's execution, in the caller's transaction)."""
    async with conn.transaction():
        row = await open_review_for_update(conn, review_id)
        unblocked = None
        if needs_unblock(row):
            unblocked = await change_card_by_id(conn, row["card_id"], CardStep.UNBLOCK)
        await _decide(conn, review_id, "released", request_id)
    if unblocked is None:
        return f"risk review {review_id} released"
    return f"risk review {review_id} released: card {unblocked.pan_masked} active"


async def _decide(
    conn: asyncpg.Connection, review_id: int, status: str, request_id: int | None,
) -> None:
    await conn.execute("UPDATE risk_reviews SET status = $2, decided_by = session_user,"
                       " decided_at = now() WHERE id = $1", review_id, status)
    await record(conn, _ACTIONS[status], "risk_review", str(review_id),
                 before={"status": "open"}, after={"status": status}, request_id=request_id)
