"""Applying one request to the in-memory state, in the order of checks of host interface §4:
kind of message (12), required fields and formats (30), terminal (58), merchant (03), then
retransmission (first answer again, or 94), batch open (12), card (14, 41, 43, 54, 05), card
password (75, 55: card_password.py), then the kind's own checks (13, 25, 51, 05) and postings.

The first four the front made already; the host makes them again because it does not trust its
link peer (docs/security.md). A request refused by them posts nothing and is not remembered: it
never reached a terminal's transaction, and a forger must not fill the host's memory.
Every request that passes them and the retransmission check is remembered with its answer and
recorded in the batch (host_requests), declines included, so that its retransmission gets the
same. An approval that moved value is remembered with what it posted, so that a reversal can
undo it.
"""

from __future__ import annotations

import structlog

from account_host.batches import adopt_batch
from account_host.card_password import check_password
from account_host.card_store import Card
from account_host.checks import check_batch_open, check_card, check_terminal, find_card
from account_host.context import ApplyContext
from account_host.idempotency import content_digest, encode_answer, replay_answer, request_key
from account_host.request_fields import check_fields, check_kind
from account_host.risk.checks import count_velocity
from account_host.state import HostState, Merchant
from account_host.transactions import KINDS
from account_host.transactions.base import CardCheck, TransactionKind, decline
from proto.codes import ResponseCode
from proto.frames import Answer, Request
from proto.pan import mask_pan

log = structlog.get_logger("account_host.apply")


def apply_request(context: ApplyContext, request: Request) -> Answer:
    kind, merchant, code = admit(context.state, request)
    if code is not None:
        log.warning("request_refused", request_id=request.request_id,
                    request=request.key_text()[:40], response_code=code)
        return decline(request, code)
    assert kind is not None and merchant is not None, "admitted requests have both"
    key = request_key(request)
    digest = content_digest(request)
    memory = context.state.retransmissions
    first = memory.lookup(key, context.now_s)
    if first is not None:
        if first.digest == digest:
            return replay_answer(first.answer, request.correlation_id)
        log.info("retransmission_mismatch", request_id=request.request_id,
                 request=request.key_text(), pan=mask_pan(request.pan))
        return decline(request, ResponseCode.DUPLICATE_MISMATCH)
    context.request_key = key
    context.posted = None
    context.velocity_limit = None
    # Field 2's card, if this host holds it: a request remembered with its card's id moves
    # with the card's range to another partition (migration 029).
    card = find_card(context.state, request.pan, merchant) if request.pan else None
    answer = _decide(context, request, kind, merchant, card)
    stored = encode_answer(answer)
    posted = context.posted if answer.response_code == ResponseCode.APPROVED else None
    if context.velocity_limit is not None and answer.response_code == ResponseCode.APPROVED:
        assert card is not None, "velocity checks a card"
        count_velocity(context, request, card.id, card.alliance_id)
    memory.remember(key, digest, stored, context.now_s, posted)
    context.batch.add_request(request, digest, stored, None if card is None else card.id)
    return answer


def admit(
    state: HostState, request: Request
) -> tuple[TransactionKind | None, Merchant | None, ResponseCode | None]:
    """Checks 1 to 4 of §4, sans I/O: the kind and field 42's merchant, or the refusal (12,
    30, 58, 03)."""
    key, code = check_kind(request)
    if code is not None:
        return None, None, code
    assert key is not None, "a kind or a code"
    code = check_fields(request, key)
    if code is not None:
        return None, None, code
    merchant, code = check_terminal(state, request)
    if code is not None:
        return None, None, code
    return KINDS[key], merchant, None


def _decide(
    context: ApplyContext, request: Request, kind: TransactionKind, merchant: Merchant,
    found: Card | None,
) -> Answer:
    """The answer, `found` being field 2's card as find_card gives it."""
    if not context.default_partition:
        adopted = adopt_batch(context.state.batches, request.terminal_code,
                              request.batch_number, context.now)
        if adopted is not None:
            context.batch.set_batch(request.terminal_code, adopted.number, context.now, None,
                                    None)
    code = check_batch_open(context.state, request)
    if code is not None:
        return decline(request, code)
    card = None
    if kind.card_check is CardCheck.FULL:
        code = check_card(found, context.today_ordinal)
        if code is not None:
            log.debug("card_declined", request_id=request.request_id,
                      request=request.key_text(), pan=mask_pan(request.pan), response_code=code)
            return decline(request, code)
        assert found is not None, "a card or a code"
        card = found
        code = check_password(context, request, card)
        if code is not None:
            log.debug("password_declined", request_id=request.request_id,
                      request=request.key_text(), pan=mask_pan(request.pan), response_code=code)
            return decline(request, code)
    elif kind.card_check is CardCheck.ADVICE:
        card = found
    return kind.handler(context, request, card, merchant)
