"""The purchase file's check alone (sans I/O): each bad line rejected with its reason, the
file refused whole only when it does not read as one, amounts read as digits."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from back_office.purchase_imports import Alliance, ImportFileError, Line, Rejected, read_file
from back_office.purchase_imports.file_format import _luhn_valid
from proto.pan import luhn_valid
from proto.purchase_imports import AMOUNT_FEN_MAX
from tests.e2e.system import CARDS

SHANGHAI = Alliance(ZoneInfo("Asia/Shanghai"), time(23, 0))
# 2026-12-08 10:00 in Shanghai: the open business date is 2026-12-08.
NOW = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)


def _read(*rows: str, header: str = "line_id,pan,amount_yuan,business_date"):
    return read_file("\n".join([header, *rows]).encode(), SHANGHAI, NOW)


def test_a_good_line_in_yuan_and_one_in_fen():
    lines, rejected = _read(f"A1,{CARDS[0]},123.4,2026-12-07")
    assert rejected == []
    assert lines == [Line(2, "A1", CARDS[0], 12340, date(2026, 12, 7), "")]
    lines, _ = _read(f"A1,{CARDS[0]},12345,2026-12-08,S,R",
                     header="line_id,pan,amount_fen,business_date,shop,receipt")
    assert lines[0].amount_fen == 12345 and lines[0].receipt == "S R"


def test_a_time_takes_the_alliances_business_date():
    lines, rejected = _read(f"T1,{CARDS[0]},1,2026-12-07 23:30:00",
                            f"T2,{CARDS[0]},1,2026-12-08 09:59",
                            f"T3,{CARDS[0]},1,2026-12-08 10:01:00",
                            header="line_id,pan,amount_fen,time")
    assert [line.business_date for line in lines] == [date(2026, 12, 8), date(2026, 12, 8)]
    assert rejected == [Rejected(3 + 1, "T3", "time 2026-12-08 10:01:00 is in the future",
                                 pan_masked="622188******" + CARDS[0][-4:])]


@pytest.mark.parametrize(("row", "reason"), [
    (f"A 1,{CARDS[0]},1,2026-12-08", "line_id is 1 to 40 letters, digits or . _ / -"),
    ("A1,62218800000000,1,2026-12-08", "the card number is not 16 to 19 digits"),
    ("A1,6221880000000014,1,2026-12-08", "the card number 622188******0014 fails its check"
                                         " digit (Luhn)"),
    (f"A1,{CARDS[0]},0,2026-12-08", "an amount of 0"),
    (f"A1,{CARDS[0]},-1,2026-12-08", "amount_yuan '-1' is not yuan with at most 2 decimals"),
    (f"A1,{CARDS[0]},1e3,2026-12-08", "amount_yuan '1e3' is not yuan with at most 2 decimals"),
    (f"A1,{CARDS[0]},10000000000.00,2026-12-08",
     "amount_yuan '10000000000.00' is not yuan with at most 2 decimals"),
    (f"A1,{CARDS[0]},1,2026-12-09", "business date 2026-12-09 is after today's (2026-12-08)"),
    (f"A1,{CARDS[0]},1,08/12/2026", "business_date '08/12/2026' is not a date YYYY-MM-DD"),
    (f"A1,{CARDS[0]},1", "3 cells where the header names 4"),
])
def test_each_bad_line_is_rejected_with_its_reason(row, reason):
    lines, rejected = _read(f"OK,{CARDS[1]},1,2026-12-08", row)
    assert [line.line_id for line in lines] == ["OK"]
    assert [entry.reason for entry in rejected] == [reason]


def test_a_line_id_twice_rejects_the_second():
    lines, rejected = _read(f"A1,{CARDS[0]},1,2026-12-08", "", f"A1,{CARDS[1]},2,2026-12-08")
    assert [line.line_number for line in lines] == [2]
    assert [(entry.line_number, entry.reason) for entry in rejected] == [
        (4, "line id A1 is also on line 2")]


@pytest.mark.parametrize(("data", "message"), [
    (b"", "the file is empty"),
    (b"line_id,pan,amount,business_date\n", "unknown columns amount"),
    (b"line_id,amount_fen,business_date\n", "the header lacks pan"),
    (b"line_id,pan,amount_fen,amount_yuan,business_date\n", "one of amount_fen or amount_yuan"),
    (b"line_id,pan,amount_fen\n", "one of business_date or time"),
    (b"line_id,pan,amount_fen,time\n\xff", "not UTF-8"),
])
def test_a_file_that_does_not_read_is_refused_whole(data, message):
    with pytest.raises(ImportFileError, match=message):
        read_file(data, SHANGHAI, NOW)


def test_a_bom_is_allowed():
    lines, _ = read_file(f"\ufeffline_id,pan,amount_fen,business_date\nA,{CARDS[0]},1,"
                         "2026-12-08\n".encode(), SHANGHAI, NOW)
    assert len(lines) == 1


@given(st.integers(min_value=1, max_value=AMOUNT_FEN_MAX), st.sampled_from([0, 1, 2]))
def test_yuan_read_as_digits_are_the_fen_they_write(fen, decimals):
    """Any amount written with 0, 1 or 2 decimals (trailing zeros dropped where they can be)
    reads back as the same fen, never through a float."""
    yuan, cents = divmod(fen, 100)
    if decimals == 0 and not cents:
        text = str(yuan)
    elif decimals == 1 and not cents % 10:
        text = f"{yuan}.{cents // 10}"
    else:
        text = f"{yuan}.{cents:02d}"
    lines, rejected = _read(f"A1,{CARDS[0]},{text},2026-12-08")
    assert rejected == [] and lines[0].amount_fen == fen


@given(st.text(alphabet="0123456789", min_size=16, max_size=19))
def test_the_files_luhn_check_is_protos(pan):
    assert _luhn_valid(pan) == luhn_valid(pan)
