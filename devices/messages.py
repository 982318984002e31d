"""Request builders: the content of each message a terminal sends (host interface §4).

They return only what the caller decides; the client fills in the terminal's own fields (7, 11,
12, 13, 22, 25, 41, 42) that the message type requires, so a builder's output can be sent as is.
"""

from __future__ import annotations

from proto.codes import Mti, NetworkCode, ProcessingCode
from proto.fields import encode_tlv, totals_to_fields
from proto.frames import Totals
from proto.messages import FINANCIAL_CURRENCY, reversal

Fields = dict[str, str]

__all__ = ["reversal"]   # the contract's builder (proto.messages), offered beside the others



def network(code: str) -> Fields:
    return {"t": Mti.NETWORK, "70": code}


def sign_on() -> Fields:
    return network(NetworkCode.SIGN_ON)


def sign_off() -> Fields:
    return network(NetworkCode.SIGN_OFF)


def echo() -> Fields:
    return network(NetworkCode.ECHO)


def key_change() -> Fields:
    return network(NetworkCode.KEY_CHANGE)


def inquiry(pan: str) -> Fields:
    return {"t": Mti.AUTHORISATION, "2": pan, "3": ProcessingCode.BALANCE_INQUIRY}


def financial(
    processing_code: str, pan: str, amount: int, batch_number: int,
    mti: str = Mti.FINANCIAL, additional_data: dict[str, str] | None = None,
) -> Fields:
    """A 0200 (or 0220) of any processing code; field 49 follows the code (156 or 999)."""
    assert 0 <= amount < 10**12, "field 4 is n12"
    assert 1 <= batch_number <= 999_999, "field 60 is six digits"
    fields = {
        "t": mti, "2": pan, "3": processing_code, "4": f"{amount:012d}",
        "49": FINANCIAL_CURRENCY[processing_code], "60": f"{batch_number:06d}",
    }
    if additional_data:
        fields["48"] = encode_tlv(additional_data)
    return fields


def purchase(pan: str, amount_fen: int, batch_number: int) -> Fields:
    return financial(ProcessingCode.PURCHASE, pan, amount_fen, batch_number)


def purchase_stored_value(pan: str, amount_fen: int, batch_number: int) -> Fields:
    return financial(ProcessingCode.PURCHASE_STORED_VALUE, pan, amount_fen, batch_number)


def offline_purchase_advice(pan: str, amount_fen: int, batch_number: int) -> Fields:
    return financial(ProcessingCode.PURCHASE, pan, amount_fen, batch_number,
                     mti=Mti.FINANCIAL_ADVICE)


def redemption(
    pan: str, points: int, batch_number: int, gift_code: str | None = None,
    order_fen: int | None = None,
) -> Fields:
    """A 900000: a gift (tag GC), or points paying part of an order of `order_fen` (tag OA,
    n12), or neither."""
    tags = {"GC": gift_code} if gift_code else {}
    if order_fen is not None:
        tags["OA"] = f"{order_fen:012d}"
    return financial(ProcessingCode.REDEMPTION, pan, points, batch_number,
                     additional_data=tags or None)


def lottery_draw(pan: str, stake_points: int, batch_number: int) -> Fields:
    return financial(ProcessingCode.LOTTERY, pan, stake_points, batch_number)


def purchase_return(pan: str, amount_fen: int, batch_number: int, original_rrn: str) -> Fields:
    fields = financial(ProcessingCode.RETURN, pan, amount_fen, batch_number)
    fields["37"] = original_rrn
    return fields


def stored_value_load(pan: str, amount_fen: int, batch_number: int) -> Fields:
    return financial(ProcessingCode.STORED_VALUE_LOAD, pan, amount_fen, batch_number)


def points_exchange(pan: str, points: int, batch_number: int) -> Fields:
    return financial(ProcessingCode.POINTS_TO_STORED_VALUE, pan, points, batch_number)


def reconciliation(batch_number: int, totals: Totals) -> Fields:
    return {
        "t": Mti.RECONCILIATION, "3": ProcessingCode.RECONCILIATION,
        "60": f"{batch_number:06d}", **totals_to_fields(totals),
    }
