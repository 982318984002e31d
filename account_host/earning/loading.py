"""Reading the earn rules and, where caps count them, the cards' points of the current day and
month: at start and after a failed batch (within the state's snapshot), and the rules again
when a new version is announced."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import structlog

from account_host.earning.referrals import ReferralRow
from account_host.movements import EARNING_TYPES
from account_host.state import HostState
from proto.earn_rules import EarnRules, InvalidRules, decode_rules

log = structlog.get_logger("account_host.earning")

RuleVersions = dict[int, list[tuple[date, EarnRules]]]
# (card id, local day ordinal, points that day, month key, points that month)
CounterRow = tuple[int, int, int, int, int]

_RULES_SQL = """
SELECT alliance_id, effective_from, document::text AS document FROM earn_rule_sets
WHERE replaced_by IS NULL ORDER BY alliance_id, effective_from
"""
# Points each card earned per local day since $1 (a little over a month ago) in the given
# alliances: earnings counted on the day they were posted, their reversals on the day they
# were reversed (as the host counts them while it runs: counters.py).
_COUNTED_SQL = """
SELECT t.card_id, c.alliance_id, (t.posted_at AT TIME ZONE a.timezone)::date AS day,
       sum(t.points)::bigint AS points
FROM transactions t
JOIN cards c ON c.id = t.card_id
JOIN alliances a ON a.id = c.alliance_id
LEFT JOIN transactions o ON o.id = t.original_transaction_id
WHERE t.posted_at >= $1 AND c.alliance_id = ANY($2::integer[])
  AND (t.kind = ANY($3::text[]) OR (t.kind = 'reversal' AND o.kind = ANY($3::text[])))
GROUP BY 1, 2, 3
"""


# The cards of referred members who have made no purchase yet ($2: only these cards, NULL for
# all), each with the referrer's card to credit: its oldest one not closed.
_REFERRALS_SQL = """
SELECT c.id AS card_id, m.id AS member_id, r.pan_hmac AS referrer_hmac,
       r.id AS referrer_card_id
FROM members m JOIN cards c ON c.member_id = m.id
LEFT JOIN LATERAL (SELECT r.id, r.pan_hmac FROM cards r
                   WHERE r.member_id = m.referred_by AND r.status <> 'closed'
                   ORDER BY r.id LIMIT 1) AS r ON true
WHERE m.referred_by IS NOT NULL
  AND ($2::bigint[] IS NULL OR c.id = ANY($2::bigint[]))
  AND NOT EXISTS (SELECT 1 FROM cards mc JOIN transactions t ON t.card_id = mc.id
                  WHERE mc.member_id = m.id AND t.kind = ANY($1::text[]))
"""


async def read_referrals(
    connection: asyncpg.Connection, card_ids: list[int] | None = None,
) -> list[ReferralRow]:
    """Pending referrals (of `card_ids` only, when given)."""
    rows = await connection.fetch(_REFERRALS_SQL, sorted(str(kind) for kind in EARNING_TYPES),
                                  card_ids)
    return [(row["card_id"], row["member_id"], row["referrer_hmac"], row["referrer_card_id"])
            for row in rows]


async def load_earn_rules(connection: asyncpg.Connection) -> RuleVersions:
    """Every alliance's versions. A version that no longer decodes (written by a newer
    release, or damaged) is left out and logged, rather than stop the host."""
    versions: RuleVersions = {}
    for row in await connection.fetch(_RULES_SQL):
        try:
            rules = decode_rules(row["document"])
        except InvalidRules as exc:
            log.error("earn_rules_unreadable", alliance_id=row["alliance_id"],
                      effective_from=str(row["effective_from"]), error=str(exc)[:200])
            continue
        versions.setdefault(row["alliance_id"], []).append((row["effective_from"], rules))
    return versions


def counted_alliances(
    versions: RuleVersions, timezones: dict[int, ZoneInfo], now: datetime,
) -> dict[int, tuple[int, int]]:
    """Alliance id -> (local day ordinal, month key) of the alliances whose version in force
    now counts each card's day and month."""
    counted: dict[int, tuple[int, int]] = {}
    for alliance_id, alliance_versions in versions.items():
        timezone = timezones.get(alliance_id)
        if timezone is None:
            continue
        local = now.astimezone(timezone).date()
        in_force = [rules for effective_from, rules in alliance_versions
                    if effective_from <= local]
        if in_force and in_force[-1].caps.counted:   # versions come by date
            counted[alliance_id] = (local.toordinal(), local.year * 12 + local.month - 1)
    return counted


async def read_earn_counters(
    connection: asyncpg.Connection, counted: dict[int, tuple[int, int]], now: datetime,
) -> list[CounterRow]:
    """Each card's points of the current local day and month in the `counted` alliances."""
    if not counted:
        return []
    since = now.astimezone(UTC) - timedelta(days=32)
    totals: dict[int, list[int]] = {}   # card id -> [day, day points, month, month points]
    for row in await connection.fetch(_COUNTED_SQL, since, list(counted),
                                      sorted(str(kind) for kind in EARNING_TYPES)):
        today, month = counted[row["alliance_id"]]
        day: date = row["day"]
        if day.year * 12 + day.month - 1 != month:
            continue
        entry = totals.setdefault(row["card_id"], [today, 0, month, 0])
        entry[3] += row["points"]
        if day.toordinal() == today:
            entry[1] += row["points"]
    return [(card_id, *entry) for card_id, entry in totals.items()]   # type: ignore[misc]


async def load_earning(connection: asyncpg.Connection, state: HostState) -> None:
    """The rules and the pending referrals into a state being loaded (alliances and merchants
    first); the counters come with the cards, then load_journal_counters."""
    state.replace_earn_rules(await load_earn_rules(connection))
    state.referrals.merge(await read_referrals(connection))


async def load_journal_counters(
    connection: asyncpg.Connection, state: HostState, now: datetime,
) -> None:
    """The counters of the alliances that count now but did not all month (a version with
    caps came into force this month), from the journal, over what the rows said (the cards
    first): their rows miss what was earned before. Elsewhere every earning of the month was
    counted and written on its points account row with its balance."""
    timezones = {alliance_id: alliance.timezone
                 for alliance_id, alliance in state.alliances.items()}
    partly = counted_partly(state.earn_rule_versions, timezones, now)
    for row in await read_earn_counters(connection, partly, now):
        state.earn_counters.load(*row)


def counted_partly(
    versions: RuleVersions, timezones: dict[int, ZoneInfo], now: datetime,
) -> dict[int, tuple[int, int]]:
    """counted_alliances, less those whose rules counted all month: the host counted every
    earning of theirs this month, so neither the rows nor memory miss any."""
    return {alliance_id: keys
            for alliance_id, keys in counted_alliances(versions, timezones, now).items()
            if not counted_all_month(versions[alliance_id], date.fromordinal(keys[0]))}


def counted_all_month(versions: list[tuple[date, EarnRules]], today: date) -> bool:
    """Whether a version that counts was in force on every day of `today`'s month so far."""
    first = today.replace(day=1)
    since_first = [rules for effective_from, rules in versions
                   if first < effective_from <= today]
    on_first = [rules for effective_from, rules in versions if effective_from <= first]
    return bool(on_first) and all(rules.caps.counted for rules in (on_first[-1], *since_first))
