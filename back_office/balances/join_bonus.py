"""Points for joining: when a member gets their first card (issued to them, or assigned), and
the alliance's earn rules in force give a join bonus, a command asks the account host to post
it to that card. Once per member: looked for under the member's row lock, and checked by
`jifen audit`."""

from __future__ import annotations

import asyncpg

from back_office.balances.commands import submit_command
from proto.earn_rules import decode_rules
from proto.host_commands import CommandKind, CommandPayload

# The version in force today, in the alliance's time zone, for the member's alliance.
_JOIN_BONUS_SQL = """
SELECT r.document::text
FROM members m JOIN alliances a ON a.id = m.alliance_id
JOIN earn_rule_sets r ON r.alliance_id = a.id AND r.replaced_by IS NULL
WHERE m.id = $1 AND r.effective_from <= (now() AT TIME ZONE a.timezone)::date
ORDER BY r.effective_from DESC LIMIT 1
"""


async def offer_join_bonus(conn: asyncpg.Connection, member_id: int, card_id: int) -> int | None:
    """The command's id, or None: no bonus in the rules, or the member had theirs."""
    assert conn.is_in_transaction(), "with the card's change"
    await conn.execute("SELECT 1 FROM members WHERE id = $1 FOR UPDATE", member_id)
    document = await conn.fetchval(_JOIN_BONUS_SQL, member_id)
    if document is None or not decode_rules(document).bonuses.join:
        return None
    if await conn.fetchval(
            "SELECT 1 FROM host_commands h JOIN cards c ON c.id = h.card_id"
            " WHERE h.kind = 'join_bonus' AND c.member_id = $1", member_id):
        return None
    masked = await conn.fetchval("SELECT pan_masked FROM cards WHERE id = $1", card_id)
    return await submit_command(conn, CommandKind.JOIN_BONUS,
                                CommandPayload(card_id, f"joining: member {member_id}"),
                                f"card {masked}")
