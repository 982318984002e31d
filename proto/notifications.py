"""The kinds of a member's notifications (migration 035's outbox): what the host, the back
office and the expiry warning run write, the sender delivers, and a member may opt out of.
One list, so that writers, sender and preferences cannot disagree on a name."""

from __future__ import annotations

from enum import StrEnum


class NotificationKind(StrEnum):
    POINTS_EARNED = "points_earned"              # a posting credited the member's points
    POINTS_SPENT = "points_spent"                # a posting debited them (redemption, ...)
    STORED_VALUE_MOVED = "stored_value_moved"    # a posting moved stored value (with points)
    POINTS_EXPIRING = "points_expiring"          # points expire within the warning window
    TIER_CHANGED = "tier_changed"                # the holder's tier went up or down
    CARD_BLOCKED = "card_blocked"                # blocked, lost or stolen
    PASSWORD_LOCKED = "password_locked"          # too many wrong card passwords in a row
