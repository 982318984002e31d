"""0500/920000 end-of-day reconciliation of the terminal's open batch (field 60, which the
batch check already found open).

The host's totals of the batch (batches.py) are compared with fields 74-77 and 86-89: 00 when
they are equal, else 95 with the host's totals. Either way the batch closes: its
terminal_batches row gets closed_at, the answer and both totals (claimed, counted), the next
number opens (999999 wraps to 000001), and later traffic for the closed number gets 12 from the
batch check.

A part of a reconciliation the switch fanned out over several partitions
(`Request.reconciliation_parts`) closes the same way, and its code is this partition's own
comparison (kept in terminal_batches for diagnosis); it answers its totals whatever the code,
because the switch sums the parts and compares the sum with the terminal's
(switch/reconciliation.py). Its first answer, totals included, is what a retransmission gets.
"""

from __future__ import annotations

from account_host.batches import OpenBatch, next_batch_number
from account_host.card_store import Card
from account_host.context import ApplyContext
from account_host.state import Merchant
from account_host.transactions.base import CardCheck, TransactionKind, decline
from proto.codes import ResponseCode
from proto.frames import Answer, Request


def apply_reconciliation(
    context: ApplyContext, request: Request, card: Card | None, merchant: Merchant | None
) -> Answer:
    state = context.state
    terminal_code = request.terminal_code
    if request.batch_number is None or request.totals is None:   # the front requires both
        return decline(request, ResponseCode.FORMAT_ERROR)
    batch = state.batch_of(terminal_code)
    assert request.batch_number == batch.number, "the batch check runs first"
    totals = batch.totals()
    balanced = request.totals == totals
    code = ResponseCode.APPROVED if balanced else ResponseCode.OUT_OF_BALANCE
    # A terminal's first batch has no row yet: it is written as opened when it closes.
    opened_at = batch.opened_at or context.now
    context.batch.set_batch(terminal_code, batch.number, opened_at, context.now, code,
                            claimed=request.totals, counted=totals)
    following = OpenBatch(next_batch_number(batch.number), context.now)
    context.batch.set_batch(terminal_code, following.number, context.now, None, None)
    state.batches[terminal_code] = following
    shown = totals if request.reconciliation_parts or not balanced else None
    return Answer(request.correlation_id, code, totals=shown)


RECONCILIATION = TransactionKind("reconciliation", apply_reconciliation, CardCheck.NONE)
