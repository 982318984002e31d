"""Lottery campaigns. One campaign is open per alliance; its secret is drawn by the database
and read by the account host alone until the campaign has ended and is published; then anyone
with the audit role re-derives every draw (proto.lottery) and compares it with what the host
recorded (lottery_draws). Each change writes its audit row and is announced to the host."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.provisioning.alliances import alliance_id
from back_office.provisioning.errors import ConflictError, InvalidValueError, NotFoundError
from back_office.provisioning.notify import notify_change
from proto.changes import Change, Table
from proto.lottery import NO_PRIZE as NONE_CODE
from proto.lottery import (
    InvalidPrizeTable,
    PrizeTable,
    check_table,
    draw_value,
    encode_table,
    prize_index,
)

PRICE_MAX = 10**9


class CampaignView(msgspec.Struct, frozen=True):
    code: str
    alliance_code: str
    draw_price_points: int
    prize_table: dict[str, Any]
    state: str
    published: bool
    created_by: str
    created_at: datetime
    ended_at: datetime | None
    stock: dict[str, int]


class DrawCheck(msgspec.Struct, frozen=True):
    transaction_id: int
    card_id: int
    draw_number: int
    recorded_value: int
    recorded_prize: str
    derived_value: int
    derived_prize: str      # the table's prize for the value (before stock: NONE if out)
    matches: bool


_VIEW = """
SELECT c.code, a.code AS alliance_code, c.draw_price_points, c.prize_table::text AS prize_table,
       c.state, c.published_secret IS NOT NULL AS published, c.created_by, c.created_at,
       c.ended_at,
       coalesce(json_object_agg(s.prize_code, s.stock) FILTER (WHERE s.prize_code IS NOT NULL),
                '{}')::text AS stock
FROM lottery_campaigns c JOIN alliances a ON a.id = c.alliance_id
LEFT JOIN lottery_prize_stock s ON s.campaign_id = c.id
"""


def _view(row: asyncpg.Record) -> CampaignView:
    values = dict(row)
    values["prize_table"] = json.loads(values["prize_table"])
    values["stock"] = json.loads(values["stock"])
    return CampaignView(**values)


async def create_campaign(
    conn: asyncpg.Connection, alliance_code: str, code: str, price: int, table: PrizeTable, *,
    approval_id: int | None = None,
) -> CampaignView:
    """Open a campaign (the alliance's only open one)."""
    if not 1 <= price <= PRICE_MAX:
        raise InvalidValueError(f"a draw price is 1 to {PRICE_MAX} points")
    try:
        check_table(table)
    except InvalidPrizeTable as exc:
        raise InvalidValueError(str(exc)) from exc
    async with conn.transaction():
        alliance = await alliance_id(conn, alliance_code)
        if await conn.fetchval("SELECT 1 FROM lottery_campaigns WHERE alliance_id = $1"
                               " AND state = 'open'", alliance):
            raise ConflictError(f"alliance {alliance_code} has an open campaign: end it first")
        try:
            campaign = await conn.fetchval(
                "INSERT INTO lottery_campaigns (alliance_id, code, draw_price_points,"
                " prize_table, approval_id) VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING id",
                alliance, code, price, encode_table(table), approval_id)
        except asyncpg.UniqueViolationError as exc:
            raise ConflictError(f"a campaign {code} exists already") from exc
        except asyncpg.CheckViolationError as exc:
            raise InvalidValueError(f"campaign code {code!r}: 1-32 letters, digits, '_', '-'"
                                    ) from exc
        for prize in table.prizes:
            if prize.stock is not None:
                await conn.execute("INSERT INTO lottery_prize_stock (campaign_id, prize_code,"
                                   " stock) VALUES ($1, $2, $3)", campaign, prize.code,
                                   prize.stock)
        await record(conn, "lottery.create", "lottery", code, after={
            "alliance": alliance_code, "draw_price_points": price,
            "prizes": [f"{p.code}:{p.kind}:{p.ppm}ppm" for p in table.prizes]},
            request_id=approval_id)
        await notify_change(conn, Change(Table.LOTTERY))
        return await _one(conn, code)


async def end_campaign(conn: asyncpg.Connection, code: str) -> CampaignView:
    """No more draws (12 from now on); its secret may then be published."""
    async with conn.transaction():
        status = await conn.execute(
            "UPDATE lottery_campaigns SET state = 'ended', ended_at = now()"
            " WHERE code = $1 AND state = 'open'", code)
        if status.endswith(" 0"):
            await _one(conn, code)   # NotFoundError when there is none
            raise ConflictError(f"campaign {code} has ended already")
        await record(conn, "lottery.end", "lottery", code, after={"state": "ended"})
        await notify_change(conn, Change(Table.LOTTERY))
        return await _one(conn, code)


async def publish_secret(conn: asyncpg.Connection, code: str) -> CampaignView:
    """Make an ended campaign's secret readable to auditors, for `verify`."""
    async with conn.transaction():
        campaign = await _one(conn, code)
        if campaign.state != "ended":
            raise ConflictError(f"campaign {code} is open: end it before publishing its secret")
        campaign_id = await conn.fetchval("SELECT id FROM lottery_campaigns WHERE code = $1",
                                          code)
        if not await conn.fetchval("SELECT lottery_publish_secret($1)", campaign_id):
            raise ConflictError(f"campaign {code}'s secret is published already")
        await record(conn, "lottery.publish", "lottery", code, after={"published": True})
        return await _one(conn, code)


async def list_campaigns(conn: asyncpg.Connection, alliance_code: str | None = None,
                         ) -> list[CampaignView]:
    async with conn.transaction(readonly=True):
        rows = await conn.fetch(f"{_VIEW} WHERE $1::text IS NULL OR a.code = $1"
                                " GROUP BY c.id, a.code ORDER BY c.id DESC", alliance_code)
    return [_view(row) for row in rows]


async def verify_draws(conn: asyncpg.Connection, code: str, card_id: int | None = None,
                       ) -> list[DrawCheck]:
    """Every draw of the campaign (of one card, when given), re-derived from the published
    secret."""
    async with conn.transaction(readonly=True):
        row = await conn.fetchrow(
            "SELECT id, published_secret, prize_table::text AS prize_table"
            " FROM lottery_campaigns WHERE code = $1", code)
        if row is None:
            raise NotFoundError(f"no lottery campaign {code}")
        if row["published_secret"] is None:
            raise ConflictError(f"campaign {code}'s secret is not published: draws can be"
                                " re-derived once it has ended and is published")
        table = msgspec.json.decode(row["prize_table"], type=PrizeTable)
        draws = await conn.fetch(
            "SELECT transaction_id, card_id, draw_number, draw_value, prize_code"
            " FROM lottery_draws WHERE campaign_id = $1 AND ($2::bigint IS NULL OR card_id = $2)"
            " ORDER BY transaction_id", row["id"], card_id)
    secret = bytes(row["published_secret"])
    checks = []
    for draw in draws:
        value = draw_value(secret, draw["card_id"], draw["draw_number"])
        index = prize_index(table, value)
        derived = NONE_CODE if index is None else table.prizes[index].code
        # Out of stock, the host records NONE for a value that falls in a prize.
        matches = value == draw["draw_value"] and draw["prize_code"] in (derived, NONE_CODE)
        checks.append(DrawCheck(draw["transaction_id"], draw["card_id"], draw["draw_number"],
                                draw["draw_value"], draw["prize_code"], value, derived,
                                matches))
    return checks


async def _one(conn: asyncpg.Connection, code: str) -> CampaignView:
    row = await conn.fetchrow(f"{_VIEW} WHERE c.code = $1 GROUP BY c.id, a.code", code)
    if row is None:
        raise NotFoundError(f"no lottery campaign {code}; `jifen lottery list` shows them")
    return _view(row)
