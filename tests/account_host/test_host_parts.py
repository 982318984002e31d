"""The host's parts on their own: business date, identifiers, retransmission memory, digest,
and the batch statement against a real database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
import pytest

from account_host.config import HostConfig
from account_host.database import WriterDatabase, batch_landed
from account_host.earning.counters import EarnCounters
from account_host.idempotency import RetransmissionMemory, content_digest
from account_host.identifiers import (
    AUTH_CODE_PERIOD,
    PER_REQUEST_MAX,
    RRN,
    TRANSACTION,
    Identifiers,
    auth_code_text,
)
from account_host.journal import BatchWrite
from proto.business_date import business_date
from proto.frames import Request

SHANGHAI = ZoneInfo("Asia/Shanghai")
CUTOVER = time(23, 0)


class TestBusinessDate:
    def test_before_cutover_is_the_local_date(self) -> None:
        # 14:59 UTC is 22:59 in Shanghai.
        now = datetime(2026, 3, 1, 14, 59, 59, tzinfo=UTC)
        assert business_date(now, SHANGHAI, CUTOVER) == date(2026, 3, 1)

    def test_at_cutover_is_the_next_day(self) -> None:
        now = datetime(2026, 3, 1, 15, 0, 0, tzinfo=UTC)
        assert business_date(now, SHANGHAI, CUTOVER) == date(2026, 3, 2)

    def test_local_date_may_differ_from_the_utc_date(self) -> None:
        # 17:00 UTC on 28 Feb is 01:00 on 1 March in Shanghai.
        now = datetime(2026, 2, 28, 17, 0, tzinfo=UTC)
        assert business_date(now, SHANGHAI, CUTOVER) == date(2026, 3, 1)

    def test_midnight_cutover_keeps_the_local_date(self) -> None:
        now = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
        assert business_date(now, ZoneInfo("UTC"), time(0, 0)) == date(2027, 1, 1)
        assert business_date(now, ZoneInfo("UTC"), time(23, 59, 59)) == date(2026, 12, 31)


class TestAuthCode:
    def test_six_base36_upper_case_characters(self) -> None:
        assert auth_code_text(0) == "000000"
        assert auth_code_text(35) == "00000Z"
        assert auth_code_text(36) == "000010"
        assert auth_code_text(AUTH_CODE_PERIOD - 1) == "ZZZZZZ"

    def test_wraps_after_its_period(self) -> None:
        assert auth_code_text(AUTH_CODE_PERIOD + 7) == auth_code_text(7)


class TestRetransmissionMemory:
    def test_remembers_within_the_window_only(self) -> None:
        memory = RetransmissionMemory(window_s=7 * 86_400)
        memory.remember("key", b"d", b"a", received_at_s=1_000_000)
        assert memory.lookup("key", 1_000_000 + 7 * 86_400 - 1) is not None
        assert memory.lookup("key", 1_000_000 + 7 * 86_400) is None

    def test_eviction_forgets_old_keys_and_keeps_recorded_again(self) -> None:
        memory = RetransmissionMemory(window_s=86_400)
        memory.remember("old", b"d", b"a", received_at_s=0)
        memory.remember("again", b"d", b"a", received_at_s=10)
        memory.remember("again", b"d", b"b", received_at_s=90_000)
        assert memory.evict(now_s=86_400 + 3_600) == 1
        assert len(memory) == 1
        remembered = memory.lookup("again", 90_001)
        assert remembered is not None and remembered.answer == b"b"


class TestContentDigest:
    REQUEST = Request(
        correlation_id=1, mti="0200", terminal_code="TERM0001", merchant_code="M" * 15,
        stan="000001", transmission_time="0101120000", received_at_ns=1,
        processing_code="000000", pan="6221880000000013", amount=100, currency="156",
        batch_number=1)

    @pytest.mark.parametrize(("field", "value"), [
        ("pan", "6221880000000021"), ("processing_code", "006000"), ("amount", 101),
        ("rrn", "000000000001"), ("merchant_code", "N" * 15), ("additional_data", "GC003ABC"),
        ("currency", "999"), ("batch_number", 2), ("original_data", "0" * 42),
    ])
    def test_each_compared_field_changes_it(self, field: str, value: object) -> None:
        changed = msgspec.structs.replace(self.REQUEST, **{field: value})
        assert content_digest(changed) != content_digest(self.REQUEST)

    def test_other_fields_do_not(self) -> None:
        changed = msgspec.structs.replace(
            self.REQUEST, correlation_id=9, received_at_ns=9, entry_mode="071")
        assert content_digest(changed) == content_digest(self.REQUEST)


@pytest.mark.anyio
async def test_identifier_blocks_never_overlap_across_restarts(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        first = Identifiers(block_size=10)
        await first.reserve_for(connection, 4, timeout_s=5.0)
        taken = [first.next_id(TRANSACTION) for _ in range(3)]
        restarted = Identifiers(block_size=10)   # the rest of the first block is skipped
        await restarted.reserve_for(connection, 4, timeout_s=5.0)
        after = restarted.next_id(TRANSACTION)
        # A batch larger than a block gets a block of its own size.
        await restarted.reserve_for(connection, 20, timeout_s=5.0)
        rrns = [restarted.next_rrn() for _ in range(20 * PER_REQUEST_MAX[RRN])]
    finally:
        await connection.close()
    assert taken == [1, 2, 3]
    assert after >= 11
    assert len(set(rrns)) == 20 and all(len(rrn) == 12 and rrn.isdigit() for rrn in rrns)


@pytest.mark.anyio
async def test_a_committed_batch_is_found_by_its_marker(database_url: str) -> None:
    config = HostConfig(name="parts")
    database = WriterDatabase(database_url, config)
    request = TestContentDigest.REQUEST
    committed, lost = (BatchWrite(datetime.now(UTC), config.name) for _ in range(2))
    committed.add_request(request, content_digest(request), b"answer")
    lost.add_request(msgspec.structs.replace(request, stan="000002"),
                     content_digest(request), b"answer")
    try:
        connection = await database.open()
        await database.commit(committed, committed.arguments({}, {}, 1, EarnCounters()))
        assert await batch_landed(connection, committed, timeout_s=5.0)
        assert not await batch_landed(connection, lost, timeout_s=5.0)
    finally:
        database.close()
