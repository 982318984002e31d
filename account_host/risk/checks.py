"""The two risk checks on the request's path: velocity before a transaction is approved
(host interface §4: frequency 65 after amount 13 and original 25, before amount limit 61),
and growth after a purchase has earned. Both cost a dict lookup for an alliance without
settings (most requests)."""

from __future__ import annotations

import json

from account_host.card_store import Card
from account_host.context import ApplyContext
from account_host.state import Merchant
from proto.codes import ResponseCode
from proto.frames import Request

_LEVELS = ("", "warning", "block")


def check_velocity(context: ApplyContext, request: Request, card: Card) -> ResponseCode | None:
    """65 or 61 when the card is over its alliance's limits for field 3; else None, and the
    request is counted once apply.py sees it approved."""
    settings = context.state.risk.settings.get(card.alliance_id)
    if settings is None:
        return None
    limit = settings.limits.get(request.processing_code or "")
    if limit is None:
        return None
    code = context.state.risk.velocity.refusal(
        limit, card.id, context.now_s // 3600, context.local_day(card.alliance_id),
        request.amount or 0)
    if code is None:
        context.velocity_limit = limit
    return code


def count_velocity(context: ApplyContext, request: Request, card_id: int,
                   alliance_id: int) -> None:
    """Count the approved request that check_velocity let through (no tuple kept between
    the two: the hour and day are the batch's)."""
    limit = context.velocity_limit
    if limit is not None:
        context.state.risk.velocity.add(limit.slot, card_id, context.now_s // 3600,
                                        context.local_day(alliance_id), 1, request.amount or 0)
        context.velocity_limit = None


def watch_growth(
    context: ApplyContext, card: Card, merchant: Merchant, points: int, transaction_id: int,
) -> None:
    """After a purchase earned `points`: the card's and the merchant's day against their
    averages. Past the warning level a review; past the block level the card is blocked
    (05 from the next request on, written with this batch) and a 'block' review queued. A
    merchant is never blocked by the host: its reviews say so."""
    settings = context.state.risk.settings.get(merchant.alliance_id)
    if settings is None or settings.growth is None or points <= 0:
        return
    risk, levels = context.state.risk, settings.growth
    # Below warning x floor no average can raise a level: most purchases stop there.
    least = levels.warning_multiple * levels.floor_points
    day = context.local_day(merchant.alliance_id)
    today, raised = risk.growth.add_card(card.id, day, points)
    average = risk.baselines.card(card.id) if today > least else 0
    level = levels.level(today, average) if today > least else 0
    if level > raised:
        risk.growth.raise_card(card.id, level)
        if level == 2 and card.decline_code is None:   # a lost card stays lost (41)
            card.decline_code = ResponseCode.DO_NOT_HONOUR
            context.batch.set_card_status(card.id, "blocked", transaction_id)
            context.state.blocks_in_flight.add(card.id)
        _review(context, merchant.alliance_id, card.id, None, "card_points_growth", level,
                today, average, transaction_id)
    today, raised = risk.growth.add_merchant(merchant.id, day, points)
    average = risk.baselines.merchant(merchant.id) if today > least else 0
    level = levels.level(today, average) if today > least else 0
    if level > raised:
        risk.growth.raise_merchant(merchant.id, level)
        _review(context, merchant.alliance_id, None, merchant.id, "merchant_points_growth",
                level, today, average, transaction_id)


def _review(
    context: ApplyContext, alliance_id: int, card_id: int | None, merchant_id: int | None,
    kind: str, level: int, today: int, average: int, transaction_id: int,
) -> None:
    detail = json.dumps({"points_today": today, "points_per_day_30d": average,
                         "transaction_id": transaction_id}, separators=(",", ":"))
    context.batch.add_risk_review(alliance_id, card_id, merchant_id, kind, _LEVELS[level],
                                  context.business_date(alliance_id), detail)
