"""Transaction kinds, one module each, behind one dispatch table keyed by (MTI, processing
code); 0800 is keyed by (MTI, None). A request whose key is not here is answered 12: adding a
kind is adding a module and a line below."""

from __future__ import annotations

from account_host.transactions.base import CardCheck, TransactionKind
from account_host.transactions.inquiry import BALANCE_INQUIRY
from account_host.transactions.lottery import LOTTERY
from account_host.transactions.network import NETWORK
from account_host.transactions.offline_advice import OFFLINE_PURCHASE
from account_host.transactions.points_exchange import POINTS_EXCHANGE
from account_host.transactions.purchase import PURCHASE
from account_host.transactions.purchase_return import RETURN
from account_host.transactions.reconciliation import RECONCILIATION
from account_host.transactions.redemption import REDEMPTION
from account_host.transactions.reversal import REVERSAL
from account_host.transactions.stored_value_load import STORED_VALUE_LOAD
from account_host.transactions.stored_value_purchase import STORED_VALUE_PURCHASE
from proto.codes import Mti, ProcessingCode

_FINANCIAL: dict[str, TransactionKind] = {
    ProcessingCode.PURCHASE: PURCHASE,
    ProcessingCode.PURCHASE_STORED_VALUE: STORED_VALUE_PURCHASE,
    ProcessingCode.REDEMPTION: REDEMPTION,
    ProcessingCode.RETURN: RETURN,
    ProcessingCode.STORED_VALUE_LOAD: STORED_VALUE_LOAD,
    ProcessingCode.POINTS_TO_STORED_VALUE: POINTS_EXCHANGE,
    ProcessingCode.LOTTERY: LOTTERY,
}

KINDS: dict[tuple[str, str | None], TransactionKind] = {
    (Mti.NETWORK, None): NETWORK,
    (Mti.AUTHORISATION, ProcessingCode.BALANCE_INQUIRY): BALANCE_INQUIRY,
    **{(Mti.FINANCIAL, code): kind for code, kind in _FINANCIAL.items()},
    (Mti.FINANCIAL_ADVICE, ProcessingCode.PURCHASE): OFFLINE_PURCHASE,
    # A reversal carries its original's processing code; any of them is found by field 90.
    **{(mti, code): REVERSAL
       for mti in (Mti.REVERSAL, Mti.REVERSAL_ADVICE) for code in _FINANCIAL},
    (Mti.RECONCILIATION, ProcessingCode.RECONCILIATION): RECONCILIATION,
}


__all__ = ["KINDS", "CardCheck", "TransactionKind"]
