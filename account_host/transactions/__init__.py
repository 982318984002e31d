"""Transaction kinds, one module each, behind one dispatch table keyed by (MTI, processing
code); 0800 is keyed by (MTI, None). A request whose key is not here is answered 12: adding a
kind is adding a module and a line below."""

from __future__ import annotations

from account_host.transactions.base import TransactionKind
from account_host.transactions.inquiry import BALANCE_INQUIRY
from account_host.transactions.network import NETWORK
from account_host.transactions.purchase import PURCHASE
from proto.codes import Mti, ProcessingCode
from proto.frames import Request

KINDS: dict[tuple[str, str | None], TransactionKind] = {
    (Mti.NETWORK, None): NETWORK,
    (Mti.AUTHORISATION, ProcessingCode.BALANCE_INQUIRY): BALANCE_INQUIRY,
    (Mti.FINANCIAL, ProcessingCode.PURCHASE): PURCHASE,
}


def kind_of(request: Request) -> TransactionKind | None:
    code = None if request.mti == Mti.NETWORK else request.processing_code
    return KINDS.get((request.mti, code))


__all__ = ["KINDS", "TransactionKind", "kind_of"]
