"""An outbox event as the webhook receives it: the member reads its fields (points, balances,
tier, expiry day); `id` is the key to de-duplicate by (delivery is at least once)."""

from __future__ import annotations

from datetime import date, datetime

import msgspec


class Event(msgspec.Struct, frozen=True, omit_defaults=True):
    id: int
    kind: str                     # proto.notifications.NotificationKind
    card_id: int
    created_at: datetime
    member_id: int | None = None  # None: an anonymous card (no one to notify by SMS)
    alliance_id: int | None = None
    transaction_id: int | None = None
    transaction_kind: str | None = None
    points: int | None = None
    points_balance: int | None = None
    stored_value_fen: int | None = None
    stored_value_balance_fen: int | None = None
    tier_before: str | None = None
    tier: str | None = None
    status: str | None = None
    expiry_day: date | None = None
    business_date: date | None = None


class Pending(msgspec.Struct, frozen=True):
    """An event to deliver, and whether its member opted out of its kind."""

    event: Event
    opted_out: bool


def encode_event(event: Event) -> bytes:
    return msgspec.json.encode(event)
