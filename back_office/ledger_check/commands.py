"""Back-office commands and bonuses (migrations 018, 021, 023): a command the host carried out
has exactly the transaction that names it, a refused or pending one has none, and a gift
command (no card) has none either; a member gets the join bonus once, and a referrer the
referral bonus once per referred member.

With partitions the pair is checked per partition: every partition holds central's
`host_commands`, but only its own transactions. A command is checked where its transaction
is (the transaction id's partition, from its id base), or where a transaction names it; one
without a transaction, on central only, so that it is reported once. A command's outcome is
read from the partition's own `command_outcomes` where it has one: its copy of `host_commands`
takes the outcome only once central has folded it and replication has brought it back.
"""

from __future__ import annotations

from back_office.ledger_check.check import PARTITION_ID_SHIFT, PARTITION_NUMBER_SQL, Check

COMMAND_MISMATCH = Check(
    name="command_mismatch",
    description=("a back-office command carried out has the one transaction that names it;"
                 " one refused or pending, of a gift, or an expiry (one per card, naming no"
                 " command) has none"),
    sql=f"""
        SELECT h.id AS command_id, h.transaction_id AS transaction_id,
               format('command %s is %s with transaction %s, but transaction %s names it',
                      h.id, h.state, coalesce(h.transaction_id::text, 'none'),
                      coalesce(t.id::text, 'none')) AS detail
        FROM (SELECT c.id, c.card_id, c.kind, coalesce(o.state, c.state) AS state,
                     coalesce(o.transaction_id, c.transaction_id) AS transaction_id
              FROM host_commands AS c
              LEFT JOIN command_outcomes AS o ON o.command_id = c.id) AS h
        FULL JOIN (SELECT id, command_id FROM transactions WHERE command_id IS NOT NULL) AS t
               ON t.command_id = h.id
        WHERE (h.id IS NULL OR t.id IS DISTINCT FROM h.transaction_id
               OR (h.state = 'done' AND h.card_id IS NOT NULL AND h.kind <> 'points_expiry')
                  <> (t.id IS NOT NULL))
          AND (t.id IS NOT NULL
               OR coalesce(h.transaction_id >> {PARTITION_ID_SHIFT}, 0) = {PARTITION_NUMBER_SQL})
    """,
)

JOIN_BONUS_TWICE = Check(
    name="join_bonus_twice",
    description="a member gets the join bonus once",
    sql="""
        SELECT c.member_id AS member_id,
               format('join bonus posted %s times, by commands %s', count(*),
                      string_agg(h.id::text, ', ' ORDER BY h.id)) AS detail
        FROM host_commands AS h JOIN cards AS c ON c.id = h.card_id
        WHERE h.kind = 'join_bonus' AND h.state = 'done'
        GROUP BY c.member_id
        HAVING count(*) > 1
    """,
    central_only=True,   # host_commands only: every partition holds the same copy
)

REFERRAL_BONUS_TWICE = Check(
    name="referral_bonus_twice",
    description="a referred member's first purchase rewards the referrer once",
    sql="""
        SELECT c.member_id AS member_id,
               format('referral bonus posted %s times, by transactions %s', count(*),
                      string_agg(b.id::text, ', ' ORDER BY b.id)) AS detail
        FROM transactions AS b
        JOIN transactions AS p ON p.id = b.original_transaction_id
        JOIN cards AS c ON c.id = p.card_id
        WHERE b.kind = 'referral_bonus'
        GROUP BY c.member_id
        HAVING count(*) > 1
    """,
)

REFERRAL_CREDIT_TWICE = Check(
    name="referral_credit_twice",
    description="a referred member's first purchase owes a referrer of another partition once",
    sql="""
        SELECT r.member_id AS member_id,
               format('referral bonus owed %s times, by purchases %s', count(*),
                      string_agg(r.transaction_id::text, ', ' ORDER BY r.transaction_id))
                   AS detail
        FROM referral_credits AS r
        GROUP BY r.member_id
        HAVING count(*) > 1
    """,
    central_only=True,   # central's credits, folded from every partition's bonuses owed
)

CHECKS = (COMMAND_MISMATCH, JOIN_BONUS_TWICE, REFERRAL_BONUS_TWICE, REFERRAL_CREDIT_TWICE)
