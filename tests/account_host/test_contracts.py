"""The host keeps to the contracts defined once in `proto`: the spec's message kinds, and the
retransmission key as both Python and SQL spell it."""

from __future__ import annotations

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from account_host.transactions import KINDS
from proto.messages import REQUIRED_FIELDS
from proto.retransmission import KEY_COLUMNS, key_sql, retransmission_key


def test_the_host_serves_every_kind_of_the_spec_and_no_other() -> None:
    assert set(KINDS) == set(REQUIRED_FIELDS)


digits = st.text("0123456789", min_size=1, max_size=12)


@pytest.mark.anyio
async def test_the_key_in_sql_is_the_key_in_python(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        for table in ("host_requests", "reversal_tombstones"):
            columns = {row["column_name"] for row in await connection.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1",
                table)}
            assert set(KEY_COLUMNS) <= columns, table
        query = (f"SELECT {key_sql('r')} FROM (VALUES ($1::text, $2::text, $3::text, $4::text))"
                 f" AS r({', '.join(KEY_COLUMNS)})")

        @settings(max_examples=50, deadline=None)
        @given(st.tuples(st.text("ABCDEFGH0123456789", min_size=8, max_size=8),
                         st.sampled_from(["0200", "0220", "0400", "0420"]), digits, digits))
        def same_key(fields: tuple[str, str, str, str]) -> None:
            examples.append(fields)

        examples: list[tuple[str, str, str, str]] = []
        same_key()
        for fields in examples:
            assert await connection.fetchval(query, *fields) == retransmission_key(*fields)
    finally:
        await connection.close()
