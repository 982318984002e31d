"""The idempotency key: a request's (terminal, MTI, STAN, transmission time) posts at most one
transaction within the retransmission window (host interface §4: 7 days). Field 7 has no
year, so the same key a year later is a new request."""

from __future__ import annotations

from back_office.ledger_check.check import Check

RETRANSMISSION_WINDOW_DAYS = 7  # host interface §4, "within 7 days"

# Only keys used twice at all are windowed: one hash aggregate over the table (materialised,
# so that parallel workers do not each repeat it), then a sort of the few duplicates.
IDEMPOTENCY_KEY_REUSED = Check(
    name="idempotency_key_reused",
    description=(f"an idempotency key (terminal, MTI, STAN, field 7) has one transaction "
                 f"within {RETRANSMISSION_WINDOW_DAYS} days"),
    sql=f"""
        WITH reused AS MATERIALIZED (
            SELECT terminal_code, mti, stan, transmission_time FROM transactions
            WHERE terminal_code IS NOT NULL   -- a command's or a bonus's has no message key
            GROUP BY terminal_code, mti, stan, transmission_time
            HAVING count(*) > 1
        )
        SELECT k.id AS transaction_id, k.previous_id AS other_transaction_id,
               format('key (%s, %s, %s, %s) was used %s earlier by transaction %s',
                      k.terminal_code, k.mti, k.stan, k.transmission_time,
                      k.posted_at - k.previous_posted_at, k.previous_id) AS detail
        FROM (
            SELECT t.id, t.terminal_code, t.mti, t.stan, t.transmission_time, t.posted_at,
                   lag(t.id) OVER key_order AS previous_id,
                   lag(t.posted_at) OVER key_order AS previous_posted_at
            FROM transactions AS t
            JOIN reused USING (terminal_code, mti, stan, transmission_time)
            WINDOW key_order AS (PARTITION BY t.terminal_code, t.mti, t.stan,
                                 t.transmission_time ORDER BY t.posted_at, t.id)
        ) AS k
        WHERE k.posted_at - k.previous_posted_at
              < interval '{RETRANSMISSION_WINDOW_DAYS} days'
    """,
)

CHECKS = (IDEMPOTENCY_KEY_REUSED,)
