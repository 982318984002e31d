"""Response codes (field 39), message types and processing codes of the host interface."""

from enum import StrEnum


class ResponseCode(StrEnum):
    APPROVED = "00"
    MERCHANT_INVALID = "03"
    DO_NOT_HONOUR = "05"
    INVALID_TRANSACTION = "12"
    INVALID_AMOUNT = "13"
    CARD_UNKNOWN = "14"
    ORIGINAL_NOT_FOUND = "25"
    FORMAT_ERROR = "30"
    CARD_LOST = "41"
    CARD_STOLEN = "43"
    INSUFFICIENT_FUNDS = "51"
    CARD_EXPIRED = "54"
    PASSWORD_WRONG = "55"          # card password missing or wrong (1.2)
    TERMINAL_NOT_ALLOWED = "58"
    AMOUNT_LIMIT = "61"
    FREQUENCY_LIMIT = "65"
    PASSWORD_LOCKED = "75"         # card password locked after three wrong tries (1.2)
    HOST_UNAVAILABLE = "91"
    DUPLICATE_MISMATCH = "94"
    OUT_OF_BALANCE = "95"
    SYSTEM_ERROR = "96"
    MAC_FAILED = "A0"


class Mti(StrEnum):
    AUTHORISATION = "0100"
    FINANCIAL = "0200"
    FINANCIAL_ADVICE = "0220"
    REVERSAL = "0400"
    REVERSAL_ADVICE = "0420"
    RECONCILIATION = "0500"
    NETWORK = "0800"


def answer_mti(mti: str) -> str:
    """The answer's MTI: the request's plus 10 (0200 -> 0210)."""
    return f"{int(mti) + 10:04d}"


class ProcessingCode(StrEnum):
    BALANCE_INQUIRY = "310000"
    PURCHASE = "000000"
    PURCHASE_STORED_VALUE = "006000"
    REDEMPTION = "900000"
    LOTTERY = "910000"             # a points lottery draw (1.2)
    RETURN = "200000"
    STORED_VALUE_LOAD = "210000"
    POINTS_TO_STORED_VALUE = "400060"
    RECONCILIATION = "920000"


class NetworkCode(StrEnum):
    SIGN_ON = "001"
    SIGN_OFF = "002"
    KEY_CHANGE = "101"
    ECHO = "301"


CURRENCY_FEN = "156"
CURRENCY_POINTS = "999"
