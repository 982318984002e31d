"""The batch statement's array literals read back by PostgreSQL as exactly what was written:
any text (quotes, backslashes, braces, commas, spaces, the word NULL), NULLs, bigint limits,
bytes, dates and aware datetimes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from account_host.array_literals import (
    bytea_array,
    date_array,
    int_array,
    text_array,
    timestamp_array,
)

# PostgreSQL text holds any character but NUL; surrogates are not UTF-8.
_TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))
_TRICKY = st.sampled_from(['"', "\\", "{", "}", ",", " ", "NULL", "null", "", '\\"', "a b"])
_BIGINT = st.integers(-(2 ** 63), 2 ** 63 - 1)
_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-3))])
_DATETIMES = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1),
                          timezones=_ZONES)

_CASES = st.fixed_dictionaries({
    "text": st.lists(st.one_of(st.none(), _TEXT, _TRICKY), max_size=20),
    "bigint": st.lists(st.one_of(st.none(), _BIGINT), max_size=20),
    "bytea": st.lists(st.binary(max_size=40), max_size=10),
    "date": st.lists(st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
                     max_size=10),
    "timestamptz": st.lists(st.one_of(st.none(), _DATETIMES), max_size=10),
})

_SQL = ("SELECT $1::text::text[], $2::text::bigint[], $3::text::bytea[], $4::text::date[],"
        " $5::text::timestamptz[]")


async def _read_back(url: str, case: dict[str, list]) -> tuple:
    connection = await asyncpg.connect(url)
    try:
        return tuple(await connection.fetchrow(
            _SQL, text_array(case["text"]), int_array(case["bigint"]),
            bytea_array(case["bytea"]), date_array(case["date"]),
            timestamp_array(case["timestamptz"])))
    finally:
        await connection.close()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_CASES)
def test_literals_read_back_exactly(
    postgres_server_url: str, run_async: Callable[..., object], case: dict[str, list],
) -> None:
    texts, bigints, byteas, dates, times = run_async(_read_back, postgres_server_url, case)
    assert texts == case["text"]
    assert bigints == case["bigint"]
    assert byteas == case["bytea"]
    assert dates == case["date"]
    assert times == case["timestamptz"]   # aware datetimes compare by instant


@pytest.mark.parametrize(("values", "literal"), [
    ([], "{}"), ([1, None, -2], "{1,NULL,-2}"), ([7], "{7}"),
])
def test_int_literal(values: list[int | None], literal: str) -> None:
    assert int_array(values) == literal


def test_text_literal_quotes_every_element() -> None:
    assert text_array(["TERM0001", "0200"]) == '{"TERM0001","0200"}'
    assert text_array(['a"b', "c\\d", None]) == '{"a\\"b","c\\\\d",NULL}'
    assert text_array([]) == "{}"
