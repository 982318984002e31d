"""A merchant's purchase file, read and checked line by line, sans I/O (docs/back-office.md,
"Importing purchases"): a bad line is rejected with a precise reason, never the file; only a
file that cannot be read as one (encoding, header, size) is refused whole.

    line_id,pan,amount_yuan,business_date,shop,receipt
    R-0001,6221880000000012,123.45,2026-12-01,Shop 3,000123

Columns by name, in any order: `line_id`, `pan`, one of `amount_fen` (an integer) or
`amount_yuan` (at most 2 decimals, read as digits, never as a float), one of `business_date`
(YYYY-MM-DD) or `time` (YYYY-MM-DD HH:MM[:SS], local time in the alliance's time zone, whose
business date follows the alliance's cutover), and optionally `shop` and `receipt`.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import msgspec

from back_office.purchase_imports.errors import ImportFileError
from proto.business_date import business_date
from proto.pan import mask_pan
from proto.purchase_imports import AMOUNT_FEN_MAX, LINE_ID_PATTERN, RECEIPT_LENGTH_MAX

# Lines of one file: a month of a large shop's trade is 10^5; ten times that still reads in
# seconds, and bounds the memory one run takes.
FILE_LINES_MAX = 1_000_000
# A card number's digits (ISO 7812, as the host accepts them in field 2).
PAN_LENGTH_MIN, PAN_LENGTH_MAX = 16, 19
_FEN = re.compile(r"[0-9]{1,12}")
_YUAN = re.compile(r"([0-9]{1,10})(?:\.([0-9]{1,2}))?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[ T]([0-9]{2}:[0-9]{2}(?::[0-9]{2})?)")
_REQUIRED = ("line_id", "pan")
_KNOWN = frozenset({"line_id", "pan", "amount_fen", "amount_yuan", "business_date", "time",
                    "shop", "receipt"})


class Line(msgspec.Struct, frozen=True):
    """A line that reads well: what the card lookup and the host decide next."""

    line_number: int        # in the file, the header being 1
    line_id: str
    pan: str
    amount_fen: int
    business_date: date
    receipt: str


class Rejected(msgspec.Struct, frozen=True):
    """A line refused before it reached the host: why, and the code a terminal would get
    (None when the line does not read)."""

    line_number: int
    line_id: str | None
    reason: str
    result_code: str | None = None
    pan_masked: str | None = None


class Alliance(msgspec.Struct, frozen=True):
    """What dates need of the merchant's alliance."""

    timezone: ZoneInfo
    cutover_local_time: time


def read_file(data: bytes, alliance: Alliance, now: datetime) -> tuple[list[Line], list[Rejected]]:
    """The good lines and the rejected ones, in file order; ImportFileError for a file that is
    not UTF-8 CSV with a header naming the columns above."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"the file is not UTF-8 (byte {exc.start})") from exc
    rows = csv.reader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in next(rows, [])]
    columns = _columns(header)
    today = business_date(now, alliance.timezone, alliance.cutover_local_time)
    lines: list[Line] = []
    rejected: list[Rejected] = []
    seen: dict[str, int] = {}
    for line_number, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue   # a blank line (a trailing one above all) is no purchase
        if line_number - 1 > FILE_LINES_MAX:
            raise ImportFileError(f"more than {FILE_LINES_MAX} lines: split the file")
        outcome = _line(line_number, row, columns, len(header), alliance, today, now)
        if isinstance(outcome, Line):
            first = seen.setdefault(outcome.line_id, line_number)
            if first != line_number:
                outcome = Rejected(line_number, outcome.line_id,
                                   f"line id {outcome.line_id} is also on line {first}",
                                   pan_masked=mask_pan(outcome.pan))
        if isinstance(outcome, Line):
            lines.append(outcome)
        else:
            rejected.append(outcome)
    return lines, rejected


def _columns(header: list[str]) -> dict[str, int]:
    if not header or header == [""]:
        raise ImportFileError("the file is empty: its first line names the columns")
    unknown = sorted(set(header) - _KNOWN)
    if unknown:
        raise ImportFileError(f"unknown columns {', '.join(unknown)}: the columns are "
                              f"{', '.join(sorted(_KNOWN))}")
    if len(set(header)) != len(header):
        raise ImportFileError("a column is named twice in the header")
    missing = [name for name in _REQUIRED if name not in header]
    if missing:
        raise ImportFileError(f"the header lacks {', '.join(missing)}")
    for pair in (("amount_fen", "amount_yuan"), ("business_date", "time")):
        if sum(name in header for name in pair) != 1:
            raise ImportFileError(f"the header names one of {pair[0]} or {pair[1]}")
    return {name: index for index, name in enumerate(header)}


def _line(
    line_number: int, row: list[str], columns: dict[str, int], width: int, alliance: Alliance,
    today: date, now: datetime,
) -> Line | Rejected:
    cells = {name: row[index].strip() if index < len(row) else ""
             for name, index in columns.items()}
    line_id = cells["line_id"]
    if len(row) != width:
        return Rejected(line_number, line_id or None,
                        f"{len(row)} cells where the header names {width}")
    if not LINE_ID_PATTERN.fullmatch(line_id):
        return Rejected(line_number, line_id[:40] or None,
                        "line_id is 1 to 40 letters, digits or . _ / -")
    pan = cells["pan"]
    masked = mask_pan(pan) if pan.isdigit() else None
    problem = _pan_problem(pan)
    if problem is None:
        amount_fen, problem = _amount(cells)
    if problem is None:
        day, problem = _business_date(cells, alliance, today, now)
    receipt = " ".join(part for part in (cells.get("shop", ""), cells.get("receipt", ""))
                       if part)
    if problem is None and len(receipt) > RECEIPT_LENGTH_MAX:
        problem = f"shop and receipt take at most {RECEIPT_LENGTH_MAX} characters"
    if problem is not None:
        return Rejected(line_number, line_id, problem, pan_masked=masked)
    return Line(line_number, line_id, pan, amount_fen, day, receipt)


def _pan_problem(pan: str) -> str | None:
    if not (pan.isascii() and pan.isdigit()) or not PAN_LENGTH_MIN <= len(pan) <= PAN_LENGTH_MAX:
        return f"the card number is not {PAN_LENGTH_MIN} to {PAN_LENGTH_MAX} digits"
    if not _luhn_valid(pan):
        return f"the card number {mask_pan(pan)} fails its check digit (Luhn)"
    return None


# A digit doubled, its digits summed: the Luhn step, as a translation of ASCII digits.
_DOUBLED = bytes.maketrans(b"0123456789", bytes(48 + (2 * d if d < 5 else 2 * d - 9)
                                                for d in range(10)))


def _luhn_valid(pan: str) -> bool:
    """proto.pan.luhn_valid's answer, with no loop in Python: 10^5 lines are a file."""
    digits = pan.encode("ascii")
    kept, doubled = digits[-1::-2], digits[-2::-2].translate(_DOUBLED)
    return (sum(kept) + sum(doubled) - 48 * len(digits)) % 10 == 0


def _amount(cells: dict[str, str]) -> tuple[int, str | None]:
    if "amount_fen" in cells:
        text = cells["amount_fen"]
        if not _FEN.fullmatch(text):
            return 0, f"amount_fen {text!r} is not a whole number of fen"
        fen = int(text)
    else:
        text = cells["amount_yuan"]
        match = _YUAN.fullmatch(text)
        if match is None:
            return 0, f"amount_yuan {text!r} is not yuan with at most 2 decimals"
        fen = int(match[1]) * 100 + int((match[2] or "").ljust(2, "0"))
    if fen <= 0:
        return 0, "an amount of 0"
    if fen > AMOUNT_FEN_MAX:
        return 0, f"an amount above {AMOUNT_FEN_MAX} fen (field 4)"
    return fen, None


def _business_date(
    cells: dict[str, str], alliance: Alliance, today: date, now: datetime,
) -> tuple[date, str | None]:
    if "business_date" in cells:
        text = cells["business_date"]
        try:
            if not _DATE.fullmatch(text):
                raise ValueError(text)
            day = date.fromisoformat(text)
        except ValueError:
            return today, f"business_date {text!r} is not a date YYYY-MM-DD"
    else:
        text = cells["time"]
        match = _TIME.fullmatch(text)
        try:
            if match is None:
                raise ValueError(text)
            local = datetime.fromisoformat(f"{match[1]}T{match[2]}")
        except ValueError:
            return today, f"time {text!r} is not YYYY-MM-DD HH:MM[:SS]"
        moment = local.replace(tzinfo=alliance.timezone)
        if moment > now:
            return today, f"time {text} is in the future"
        day = business_date(moment, alliance.timezone, alliance.cutover_local_time)
    if day > today:
        return today, f"business date {day} is after today's ({today})"
    return day, None
