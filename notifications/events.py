"""An outbox event as the webhook receives it: the member reads its fields (points, balances,
tier, expiry day); `id` is the key to de-duplicate by (delivery is at least once).

Outbox ids are unique per database only, and every partition has its own outbox. So the
identity the webhook sees (`id`, and the `Idempotency-Key` header) is the outbox id itself for
central's partition, exactly as before partitions (a single-partition system is unchanged),
and `<partition>:<outbox id>` for any other (`p2:123`), with `partition` in the body: unique
over the whole system, and stable across restarts and retries."""

from __future__ import annotations

from datetime import date, datetime

import msgspec


class Event(msgspec.Struct, frozen=True, omit_defaults=True):
    id: int | str                 # see event_key
    kind: str                     # proto.notifications.NotificationKind
    card_id: int
    created_at: datetime
    partition: str | None = None  # None: central's partition
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
    """An event to deliver: its row's id in its partition's outbox (where its delivery is
    recorded), what the webhook receives, and whether its member opted out of its kind."""

    outbox_id: int
    event: Event
    opted_out: bool = False


def event_key(partition: str | None, outbox_id: int) -> int | str:
    """The event's identity system-wide: the outbox id on central's partition (`partition`
    None), `<partition>:<outbox id>` on another."""
    assert outbox_id > 0
    return outbox_id if partition is None else f"{partition}:{outbox_id}"


def encode_event(event: Event) -> bytes:
    return msgspec.json.encode(event)
