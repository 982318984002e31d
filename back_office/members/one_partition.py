"""A member's cards that are not closed stay in one partition (docs/transfers.md, "Members").

A member's cards share one tier standing, one join bonus and one first purchase for referrals,
all kept by the one host that holds the member's cards. So giving a member a card of another
partition's range (assigning one, issuing one to the member) is refused, naming both
partitions; a replacement into another partition's range moves the member's standing with the
card, so it is refused while the member keeps other live cards where the old one is. With one
partition every card passes.
"""

from __future__ import annotations

import asyncpg

from back_office.provisioning.errors import ConflictError

# The partition (its host's name, by the switch's rule) of the member's other cards that are not
# closed, and of the card given; NULL for a card in no range.
_PARTITIONS_SQL = """
SELECT DISTINCT r.host_name
FROM cards c LEFT JOIN LATERAL range_owner(c.pan_masked) AS r ON true
WHERE c.member_id = $1 AND c.status <> 'closed' AND c.id <> ALL($2::bigint[])
"""
_CARD_PARTITION_SQL = """
SELECT r.host_name FROM cards c LEFT JOIN LATERAL range_owner(c.pan_masked) AS r ON true
WHERE c.id = $1
"""


async def check_card_joins_member(conn: asyncpg.Connection, member_id: int,
                                  card_id: int) -> None:
    """ConflictError when the member's other live cards are in another partition than
    `card_id`'s."""
    partition = await conn.fetchval(_CARD_PARTITION_SQL, card_id)
    others = {row[0] for row in await conn.fetch(_PARTITIONS_SQL, member_id, [card_id])}
    others.discard(partition)
    if others:
        raise ConflictError(
            f"member {member_id}'s cards are in partition {', '.join(sorted(map(str, others)))}"
            f" and this card is in partition {partition}: a member's live cards stay in one"
            " partition (docs/transfers.md)")


async def check_member_leaves_partition(conn: asyncpg.Connection, member_id: int,
                                        old_card_id: int, new_card_id: int) -> None:
    """ConflictError when a replacement into another partition would leave the member's other
    live cards behind (the standing goes with the card)."""
    source = await conn.fetchval(_CARD_PARTITION_SQL, old_card_id)
    staying = [row[0] for row in await conn.fetch(_PARTITIONS_SQL, member_id,
                                                   [old_card_id, new_card_id])]
    if source in staying:
        destination = await conn.fetchval(_CARD_PARTITION_SQL, new_card_id)
        raise ConflictError(
            f"member {member_id} keeps other cards in partition {source}: a replacement into"
            f" partition {destination} would split them (a member's live cards stay in one"
            " partition; replace with a card of the same range, or close the others first)")
