"""Applying one request to the in-memory state, in the host's order of checks: retransmission
(first answer again, or 94), transaction kind (12 for a kind this host does not handle), batch
open (12), merchant (03), card (14, 41, 43, 54, 05), then the kind's own checks (13, 25, 51, 05)
and postings.

Every request that passes the retransmission check is remembered with its answer and recorded
in the batch (host_requests), declines included, so that its retransmission gets the same. An
approval that moved value is remembered with what it posted, so that a reversal can undo it.
"""

from __future__ import annotations

import structlog

from account_host.checks import check_batch_open, check_card, check_merchant, find_card
from account_host.context import ApplyContext
from account_host.idempotency import content_digest, encode_answer, replay_answer, request_key
from account_host.transactions import kind_of
from account_host.transactions.base import CardCheck, decline
from proto.codes import ResponseCode
from proto.frames import Answer, Request
from proto.pan import mask_pan

log = structlog.get_logger("account_host.apply")


def apply_request(context: ApplyContext, request: Request) -> Answer:
    key = request_key(request)
    digest = content_digest(request)
    memory = context.state.retransmissions
    first = memory.lookup(key, context.now_s)
    if first is not None:
        if first.digest == digest:
            return replay_answer(first.answer, request.correlation_id)
        log.info("retransmission_mismatch", request=request.key_text(),
                 pan=mask_pan(request.pan))
        return decline(request, ResponseCode.DUPLICATE_MISMATCH)
    context.request_key = key
    context.posted = None
    answer = _decide(context, request)
    stored = encode_answer(answer)
    posted = context.posted if answer.response_code == ResponseCode.APPROVED else None
    memory.remember(key, digest, stored, context.now_s, posted)
    context.batch.add_request(request, digest, stored)
    return answer


def _decide(context: ApplyContext, request: Request) -> Answer:
    kind = kind_of(request)
    if kind is None:
        return decline(request, ResponseCode.INVALID_TRANSACTION)
    state = context.state
    code = check_batch_open(state, request)
    if code is not None:
        return decline(request, code)
    merchant = None
    if kind.needs_merchant:
        merchant, code = check_merchant(state, request.merchant_code)
        if code is not None:
            return decline(request, code)
    card = None
    if kind.card_check is CardCheck.FULL:
        card, code = check_card(state, request.pan, context.today_ordinal, merchant)
        if code is not None:
            log.debug("card_declined", request=request.key_text(), pan=mask_pan(request.pan),
                      response_code=code)
            return decline(request, code)
    elif kind.card_check is CardCheck.ADVICE:
        card = find_card(state, request.pan, merchant)
    return kind.handler(context, request, card, merchant)
