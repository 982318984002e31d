"""Reading the open campaigns (with their secrets and stock), each card's standing draws in
them, and the draws of the retransmission window, within the state's snapshot."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog

from account_host.lottery.book import Campaign, Draw, LotteryBook
from proto.lottery import InvalidPrizeTable, decode_table

log = structlog.get_logger("account_host.lottery")

# A limited prize's stock is this host's own (prize_stock, $1 its partition) once its batches
# have changed it: in a partition the shared row shows it only when central has folded it
# (migration 031).
_CAMPAIGNS_SQL = """
SELECT c.id, c.alliance_id, c.draw_price_points, c.prize_table::text AS prize_table, c.secret,
       coalesce(json_object_agg(s.prize_code, coalesce(own.stock, s.stock))
                    FILTER (WHERE s.prize_code IS NOT NULL), '{}')::text AS stock
FROM lottery_campaigns c LEFT JOIN lottery_prize_stock s ON s.campaign_id = c.id
LEFT JOIN prize_stock own
       ON own.campaign_id = s.campaign_id AND own.prize_code = s.prize_code
          AND own.partition = $1
WHERE c.state = 'open'
GROUP BY c.id
"""
# A draw stands until a reversal names its transaction.
_STANDING_SQL = """
SELECT d.campaign_id, d.card_id, count(*) AS draws
FROM lottery_draws d JOIN lottery_campaigns c ON c.id = d.campaign_id AND c.state = 'open'
WHERE NOT EXISTS (SELECT 1 FROM transactions r
                  WHERE r.original_transaction_id = d.transaction_id AND r.kind = 'reversal')
GROUP BY d.campaign_id, d.card_id
"""
_RECENT_SQL = """
SELECT d.transaction_id, d.campaign_id, d.card_id, d.prize_code,
       extract(epoch FROM t.posted_at)::bigint AS posted_s
FROM lottery_draws d JOIN transactions t ON t.id = d.transaction_id
WHERE t.posted_at >= $1
  AND NOT EXISTS (SELECT 1 FROM transactions r
                  WHERE r.original_transaction_id = d.transaction_id AND r.kind = 'reversal')
ORDER BY d.transaction_id
"""


async def load_campaigns(connection: asyncpg.Connection, partition: str) -> list[Campaign]:
    """The open campaigns, with the prizes' stock as `partition` (the host's name) keeps it;
    one whose table no longer decodes is left out and logged."""
    campaigns = []
    for row in await connection.fetch(_CAMPAIGNS_SQL, partition):
        try:
            table = decode_table(row["prize_table"])
        except InvalidPrizeTable as exc:
            log.error("lottery_table_unreadable", campaign=row["id"], error=str(exc)[:200])
            continue
        stock_by_code = json.loads(row["stock"])
        stock = [stock_by_code.get(prize.code) if prize.stock is not None else None
                 for prize in table.prizes]
        campaigns.append(Campaign(row["id"], row["alliance_id"], row["draw_price_points"],
                                  table, bytes(row["secret"]), stock))
    return campaigns


async def load_lottery(connection: asyncpg.Connection, book: LotteryBook, window_s: int,
                       now: datetime, partition: str) -> None:
    book.replace_campaigns(await load_campaigns(connection, partition))
    standing = [(row["campaign_id"], row["card_id"], row["draws"])
                for row in await connection.fetch(_STANDING_SQL)]
    by_id = {campaign.id: campaign for campaign in book.campaigns.values()}
    recent = []
    since = now.astimezone(UTC) - timedelta(seconds=window_s)
    for row in await connection.fetch(_RECENT_SQL, since):
        campaign = by_id.get(row["campaign_id"])
        codes = [] if campaign is None else [prize.code for prize in campaign.table.prizes]
        prize = codes.index(row["prize_code"]) if row["prize_code"] in codes else None
        recent.append((row["transaction_id"],
                       Draw(row["campaign_id"], row["card_id"], prize, row["posted_s"])))
    book.load_draws(standing, recent)
