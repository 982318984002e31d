"""0800 network management: sign-on tells the terminal its open batch; sign-off, echo and key
change are acknowledged (the front handles sessions and keys)."""

from __future__ import annotations

from account_host.card_store import Card
from account_host.context import ApplyContext
from account_host.state import Merchant
from account_host.transactions.base import CardCheck, TransactionKind, decline
from proto.codes import NetworkCode, ResponseCode
from proto.frames import Answer, Request

_ACKNOWLEDGED = frozenset({NetworkCode.SIGN_OFF, NetworkCode.ECHO, NetworkCode.KEY_CHANGE})


def apply_network(
    context: ApplyContext, request: Request, card: Card | None, merchant: Merchant | None
) -> Answer:
    if request.network_code == NetworkCode.SIGN_ON:
        return Answer(request.correlation_id, ResponseCode.APPROVED,
                      batch_number=context.state.open_batch(request.terminal_code))
    if request.network_code in _ACKNOWLEDGED:
        return Answer(request.correlation_id, ResponseCode.APPROVED)
    return decline(request, ResponseCode.INVALID_TRANSACTION)


NETWORK = TransactionKind("network", apply_network, CardCheck.NONE)
