"""Answers made readable: response code meanings, balances of field 54, tags of field 48."""

from __future__ import annotations

from datetime import date
from typing import Any

from proto.codes import ResponseCode
from proto.fields import TlvError, parse_balances, parse_tlv
from proto.iso_spec import SPEC
from proto.pan import mask_pan

RESPONSE_MEANINGS: dict[str, str] = {
    ResponseCode.APPROVED: "approved",
    ResponseCode.MERCHANT_INVALID: "merchant unknown, not the terminal's, or not active",
    ResponseCode.DO_NOT_HONOUR: "do not honour",
    ResponseCode.INVALID_TRANSACTION: "invalid transaction",
    ResponseCode.INVALID_AMOUNT: "invalid amount",
    ResponseCode.CARD_UNKNOWN: "card number unknown or not Luhn-valid",
    ResponseCode.ORIGINAL_NOT_FOUND: "original not found",
    ResponseCode.FORMAT_ERROR: "format error",
    ResponseCode.CARD_LOST: "card reported lost",
    ResponseCode.CARD_STOLEN: "card reported stolen",
    ResponseCode.INSUFFICIENT_FUNDS: "not enough points or stored value",
    ResponseCode.CARD_EXPIRED: "card expired",
    ResponseCode.TERMINAL_NOT_ALLOWED: "terminal unknown, not signed on, or not allowed",
    ResponseCode.AMOUNT_LIMIT: "over the amount limit",
    ResponseCode.FREQUENCY_LIMIT: "over the frequency limit",
    ResponseCode.HOST_UNAVAILABLE: "account host unavailable",
    ResponseCode.DUPLICATE_MISMATCH: "duplicate transmission with different content",
    ResponseCode.OUT_OF_BALANCE: "reconciliation out of balance",
    ResponseCode.SYSTEM_ERROR: "system error",
    ResponseCode.MAC_FAILED: "MAC verification failed",
}

# Field 54 blocks by account type + amount type + currency.
BALANCE_NAMES: dict[str, str] = {
    "0001999": "points",
    "0002999": "points_available",
    "6001156": "stored_value_fen",
    "6002156": "stored_value_available_fen",
    "0090999": "points_moved",
}

TAG_NAMES: dict[str, str] = {
    "GC": "gift_code",
    "OA": "order_fen",
    "MK": "mac_key_under_tmk",
    "MV": "mac_key_check_value",
    "PT": "points_signed",
    "TR": "tier",
    "XP": "points_expiring",
    "LD": "lottery_prize",
    "PK": "pin_key_under_tmk",
    "PV": "pin_key_check_value",
}

# The host interface's names where they are shorter than pyiso8583's descriptions.
FIELD_NAMES: dict[str, str] = {
    "t": "message type", "2": "card number", "3": "processing code", "4": "amount",
    "7": "transmission time (UTC)", "11": "STAN", "12": "local time", "13": "local date",
    "22": "entry mode", "25": "condition code", "37": "RRN", "38": "authorisation code",
    "39": "response code", "41": "terminal", "42": "merchant", "48": "additional data",
    "49": "currency", "54": "balances", "60": "batch number", "64": "MAC",
    "70": "network code", "74": "purchases count", "75": "returns count",
    "76": "redemptions count", "77": "loads count", "86": "purchases fen", "87": "returns fen",
    "88": "redemptions points", "89": "loads fen", "90": "original data", "128": "MAC",
}


def field_name(field: str) -> str:
    return FIELD_NAMES.get(field) or (SPEC[field]["desc"] if field in SPEC else f"field {field}")


def response_meaning(code: str | None) -> str:
    if code is None:
        return "no response code"
    return RESPONSE_MEANINGS.get(code, "unknown response code")


def format_yuan(fen: int) -> str:
    """Fen as yuan with two decimals, in integers only: -150 -> '-1.50'."""
    sign = "-" if fen < 0 else ""
    yuan, rest = divmod(abs(fen), 100)
    return f"{sign}{yuan}.{rest:02d}"


def describe_answer(fields: dict[str, str]) -> dict[str, Any]:
    """The answer in readable names: response, identifiers, balances and tags decoded."""
    code = fields.get("39")
    described: dict[str, Any] = {
        "mti": fields.get("t"),
        "response_code": code,
        "response": response_meaning(code),
        "approved": code == ResponseCode.APPROVED,
    }
    for field, name in (("11", "stan"), ("41", "terminal"), ("42", "merchant"), ("37", "rrn"),
                        ("38", "auth_code"), ("70", "network_code")):
        if field in fields:
            described[name] = fields[field]
    if fields.get("60", "").isdigit():
        described["batch_number"] = int(fields["60"])
    if "54" in fields:
        balances = parse_balances(fields["54"])
        described["balances"] = {BALANCE_NAMES.get(key, key): value
                                 for key, value in balances.items()}
    if "48" in fields:
        try:
            tags = parse_tlv(fields["48"])
        except TlvError as exc:
            described["additional_data_error"] = str(exc)
        else:
            described["additional_data"] = {TAG_NAMES.get(tag, tag): value
                                            for tag, value in tags.items()}
            points = decode_points(tags.get("PT"))
            if points is not None:
                described["points_moved_by_this"] = points
            expiring = decode_expiring(tags.get("XP"))
            if expiring is not None:
                described["points_expiring"] = {"last_day": expiring[0].isoformat(),
                                                "points": expiring[1]}
    return described


def decode_expiring(text: str | None) -> tuple[date, int] | None:
    """Tag XP ('YYYYMMDD' then 12 digits) as (the last day they can be spent, points); None
    when absent or malformed."""
    if text is None or len(text) != 20 or not text.isdigit():
        return None
    try:
        last_day = date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None
    return last_day, int(text[8:])


def decode_points(text: str | None) -> int | None:
    """Tag PT ('+100', '-250', '+0') as a signed integer; None when absent or malformed."""
    if text is None or len(text) < 2 or text[0] not in "+-" or not text[1:].isdigit():
        return None
    return int(text)


def _points_text(points: int) -> str:
    if points < 0:
        return f"{-points} points spent"
    return f"{points} points earned" if points else "no points moved"


def format_answer_text(fields: dict[str, str]) -> str:
    """Lines for a person: the response first, then every field by name, balances in yuan."""
    described = describe_answer(fields)
    lines = [f"{described['mti']}  {described['response_code']}  {described['response']}"]
    for field in sorted((name for name in fields if name != "t"), key=_field_order):
        value = mask_pan(fields[field]) if field == "2" else fields[field]
        lines.append(f"  {field:>3}  {field_name(field):<26} {value}")
    for name, amount in described.get("balances", {}).items():
        shown = f"{format_yuan(amount)} yuan" if name.endswith("_fen") else f"{amount} points"
        lines.append(f"  balance  {name.removesuffix('_fen'):<26} {shown}")
    tags = parse_tlv(fields["48"]) if "additional_data" in described else {}
    for tag, value in tags.items():
        points = decode_points(value) if tag == "PT" else None
        shown = value if points is None else f"{value} ({_points_text(points)})"
        expiring = decode_expiring(value) if tag == "XP" else None
        if expiring is not None:
            shown = f"{value} ({expiring[1]} points expire after {expiring[0]})"
        lines.append(f"  tag {tag}   {TAG_NAMES.get(tag, tag):<26} {shown}")
    return "\n".join(lines)


def _field_order(field: str) -> int:
    return int(field) if field.isdigit() else -1
