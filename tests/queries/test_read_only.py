"""The queries read in READ ONLY transactions: a write inside one fails, whoever connects.
And field 39 as SQL reads it from a stored answer is msgspec's."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

import asyncpg
import msgspec
import pytest

from back_office.queries import (
    CardRef,
    DeclineFilter,
    TransactionFilter,
    card_statement,
    declines,
    find_declines,
    find_transactions,
    statement,
    transactions,
)
from back_office.queries.read_only import read_only
from proto.frames import Answer, Balances

pytestmark = pytest.mark.anyio


async def test_a_write_inside_fails(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)   # a superuser: only READ ONLY stops it
    try:
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            async with read_only(connection):
                await connection.execute(
                    "INSERT INTO alliances (code, name) VALUES ('RO', 'read only')")
        assert await connection.fetchval("SELECT count(*) FROM alliances") == 0
    finally:
        await connection.close()


async def each_query(connection: asyncpg.Connection) -> None:
    await find_transactions(connection, TransactionFilter())
    await find_declines(connection, DeclineFilter())
    await card_statement(connection, CardRef(1, "622188******0001", 1, "active"),
                         date(2026, 1, 1), date(2026, 1, 31))


@pytest.mark.parametrize("module", [transactions, declines, statement])
async def test_each_query_reads_through_read_only(database_url: str, monkeypatch,
                                                  module) -> None:
    """Each query opens its transaction with read_only, which the test above shows refuses
    a write; here read_only is replaced by one that tries a write, and it fails."""

    @asynccontextmanager
    async def writing(connection: asyncpg.Connection) -> AsyncIterator[None]:
        async with read_only(connection):
            await connection.execute("INSERT INTO alliances (code, name) VALUES ('W', 'w')")
            yield

    monkeypatch.setattr(module, "read_only", writing)
    connection = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await each_query(connection)
    finally:
        await connection.close()


async def test_response_code_in_sql_matches_msgspec(database_url: str) -> None:
    encoder = msgspec.msgpack.Encoder()
    generator = random.Random(17)
    correlation_ids = [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2**32 - 1, 2**32, 2**63 - 1]
    correlation_ids += [generator.randrange(2**generator.choice([7, 8, 16, 32, 63]))
                        for _ in range(200)]
    answers = [Answer(correlation_id, generator.choice(["00", "51", "05", "14", "94", "A0"]),
                      rrn=generator.choice([None, "000000000123"]),
                      balances=generator.choice([None, Balances(10, 20, -3)]))
               for correlation_id in correlation_ids]
    connection = await asyncpg.connect(database_url)
    try:
        codes = await connection.fetch(
            "SELECT host_answer_response_code(a) AS code FROM unnest($1::bytea[]) AS a",
            [encoder.encode(answer) for answer in answers])
    finally:
        await connection.close()
    assert [row["code"] for row in codes] == [answer.response_code for answer in answers]


async def test_response_code_of_any_bytes_is_a_code_or_null(database_url: str) -> None:
    """The declines' index evaluates it in the host's INSERT: it must never raise."""
    generator = random.Random(18)
    blobs = [b"", b"\x00", b"\x98", b"\x98\xcf", b"\x98\xcc\x01\xa2\x30"]
    blobs += [bytes(generator.randrange(256) for _ in range(generator.randrange(12)))
              for _ in range(500)]
    connection = await asyncpg.connect(database_url)
    try:
        codes = await connection.fetch(
            "SELECT host_answer_response_code(a) AS code FROM unnest($1::bytea[]) AS a", blobs)
        await connection.execute(
            "INSERT INTO host_requests VALUES ('TERM0001', '0200', '000001', '1207100000',"
            " '\\x00', '\\x00', now())")
    finally:
        await connection.close()
    assert all(row["code"] is None or len(row["code"]) == 2 for row in codes)
    assert [row["code"] for row in codes[:5]] == [None] * 5
