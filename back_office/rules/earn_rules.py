"""Versions of an alliance's earn rules. A version is in force from its local date until the
next; one not yet in force may be replaced (same date), one in force never: a change is a new
version from a later date. Every version is kept (a replaced one names its successor). Each
change writes its audit row with the digests of the documents before and after, and announces
itself to the account host (NOTIFY earn_rules)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.provisioning.alliances import alliance_id
from back_office.provisioning.errors import ConflictError, InvalidValueError, NotFoundError
from back_office.provisioning.notify import notify_change
from proto.changes import Change, Table
from proto.earn_rules import EarnRules, InvalidRules, check_rules, encode_rules, merchant_codes


class RuleSetVersion(msgspec.Struct, frozen=True):
    alliance_code: str
    effective_from: date
    document: dict[str, Any]          # the rules, as JSON
    created_by: str
    created_at: datetime
    approval_id: int | None


_COLUMNS = ("a.code AS alliance_code, r.effective_from, r.document::text AS document,"
            " r.created_by, r.created_at, r.approval_id")
_FROM = "FROM earn_rule_sets r JOIN alliances a ON a.id = r.alliance_id"


def _version(row: asyncpg.Record) -> RuleSetVersion:
    values = dict(row)
    values["document"] = json.loads(values["document"])
    return RuleSetVersion(**values)


async def _local_today(conn: asyncpg.Connection, alliance: int) -> date:
    timezone = await conn.fetchval("SELECT timezone FROM alliances WHERE id = $1", alliance)
    return datetime.now(UTC).astimezone(ZoneInfo(timezone)).date()


async def set_rules(
    conn: asyncpg.Connection, alliance_code: str, effective_from: date, rules: EarnRules, *,
    approval_id: int | None = None,
) -> RuleSetVersion:
    """The version of `rules` in force from `effective_from` (today or later, the alliance's
    local date); one of the same date not yet in force is replaced."""
    try:
        check_rules(rules)
    except InvalidRules as exc:
        raise InvalidValueError(str(exc)) from exc
    async with conn.transaction():
        alliance = await alliance_id(conn, alliance_code)
        today = await _local_today(conn, alliance)
        if effective_from < today:
            raise ConflictError(f"a version is in force from today ({today}) or later, not"
                                f" {effective_from}: what was earned stays as it was earned")
        named = sorted(merchant_codes(rules))
        known = {row["merchant_code"] for row in await conn.fetch(
            "SELECT merchant_code FROM merchants WHERE alliance_id = $1"
            " AND merchant_code = ANY($2::text[])", alliance, named)}
        unknown = [code for code in named if code not in known]
        if unknown:
            raise NotFoundError(f"no merchant {', '.join(unknown)} in alliance {alliance_code}")
        before = await conn.fetchrow(
            "SELECT id, document::text AS document FROM earn_rule_sets WHERE alliance_id = $1"
            " AND effective_from = $2 AND replaced_by IS NULL FOR UPDATE",
            alliance, effective_from)
        if before is not None and effective_from <= today:
            raise ConflictError(f"the version of {effective_from} is in force already: give"
                                " a later date")
        document = encode_rules(rules)
        row = await conn.fetchrow(
            "INSERT INTO earn_rule_sets (alliance_id, effective_from, document, approval_id)"
            " VALUES ($1, $2, $3::jsonb, $4) RETURNING id", alliance, effective_from,
            document, approval_id)
        assert row is not None
        if before is not None:   # after the insert: the unique index allows one current
            await conn.execute("UPDATE earn_rule_sets SET replaced_by = $2 WHERE id = $1",
                               before["id"], row["id"])
        await record(conn, "earn_rules.set", "alliance", alliance_code,
                     before=None if before is None else _digest(before["id"],
                                                                before["document"]),
                     after={"effective_from": str(effective_from),
                            **_digest(row["id"], document)}, request_id=approval_id)
        await notify_change(conn, Change(Table.EARN_RULES))
        version = await conn.fetchrow(f"SELECT {_COLUMNS} {_FROM} WHERE r.id = $1", row["id"])
    assert version is not None
    return _version(version)


def _digest(version_id: int, document: str) -> dict[str, object]:
    """What the audit row keeps of a document (the version row keeps it whole)."""
    canonical = json.dumps(json.loads(document), sort_keys=True, separators=(",", ":"))
    return {"version_id": version_id,
            "sha256": hashlib.sha256(canonical.encode()).hexdigest()}


async def rules_in_force(
    conn: asyncpg.Connection, alliance_code: str, on: date | None = None,
) -> RuleSetVersion | None:
    """The version in force on `on` (default: the alliance's local today); None: no rules
    (every merchant earns its own rate)."""
    async with conn.transaction(readonly=True):
        alliance = await alliance_id(conn, alliance_code)
        day = on or await _local_today(conn, alliance)
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} {_FROM} WHERE r.alliance_id = $1 AND r.effective_from <= $2"
            " AND r.replaced_by IS NULL ORDER BY r.effective_from DESC LIMIT 1", alliance, day)
    return None if row is None else _version(row)


async def list_versions(conn: asyncpg.Connection, alliance_code: str) -> list[RuleSetVersion]:
    """Every version, the latest date first."""
    async with conn.transaction(readonly=True):
        alliance = await alliance_id(conn, alliance_code)
        rows = await conn.fetch(f"SELECT {_COLUMNS} {_FROM} WHERE r.alliance_id = $1"
                                " AND r.replaced_by IS NULL ORDER BY r.effective_from DESC",
                                alliance)
    return [_version(row) for row in rows]
