"""Store-and-forward at the front (issue 8), against a scripted switch: real TCP, real
PostgreSQL. What is owed, when, and how the host's answers settle it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import asyncpg
import msgspec
import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from acquirer_front import run_front
from acquirer_front.connection import TerminalConnection
from acquirer_front.saf import Origin, SafStore, reversal_of
from acquirer_front.saf.entries import (
    decode_request,
    open_request,
    owed_reconciliation,
    seal_request,
    terminal_advice,
)
from acquirer_front.saf.sender import SafSender, outcome
from proto.codes import ResponseCode
from proto.fields import OriginalData, encode_original_data
from proto.frames import Answer, Request
from proto.keys import Purpose, load_kek, open_data_keys
from proto.links import LinkPeer, serve_links
from tests.acquirer_front.front_testkit import (
    MERCHANT,
    PAN,
    T_NEW,
    T_SIGNED,
    TEST_CONFIG,
    WAIT_S,
    TerminalClient,
    fetch_value,
    frame,
    purchase,
    running_front,
    seed,
)
from tests.pki_kit import server_tls

pytestmark = pytest.mark.anyio

# SafStore's own tests seal under a key of their own; the front's come from data_keys.
_SEAL_KEY = bytes(range(32))


async def _saf_seal_key(database_url: str) -> bytes:
    """The saf_seal data key the front opened (under the KEK the harness's front uses)."""
    connection = await asyncpg.connect(database_url)
    try:
        keys = await open_data_keys(connection, load_kek(), [Purpose.SAF_SEAL], create=False)
    finally:
        await connection.close()
    return keys[Purpose.SAF_SEAL]


FAST_SAF = {"saf_backoff_s_min": 0.05, "saf_backoff_s_max": 0.1, "saf_poll_interval_s": 0.05,
            "undelivered_check_s": 0.5}


def advice_of(original: dict[str, str], transmission_time: str = "0101120500") -> dict:
    """A terminal's own 0420 of `original`."""
    fields = {name: value for name, value in original.items() if name not in ("t", "7")}
    original_data = encode_original_data(OriginalData("0200", original["11"], original["7"]))
    return {**fields, "t": "0420", "7": transmission_time, "39": "68", "90": original_data}


class ScriptedSwitch:
    """Answers each request with `answer(request)`'s code (None: no answer); records all."""

    def __init__(self, answer: Callable[[Request], str | None]) -> None:
        self.answer = answer
        self.seen: list[Request] = []
        self._seen_more = anyio.Event()

    async def _on_requests(self, peer: LinkPeer, requests: list[Request]) -> None:
        self.seen.extend(requests)
        self._seen_more.set()
        self._seen_more = anyio.Event()
        answers = [Answer(request.correlation_id, code) for request in requests
                   if (code := self.answer(request)) is not None]
        if answers:
            await peer.send_answers(answers)

    def of_mti(self, mti: str) -> list[Request]:
        return [request for request in self.seen if request.mti == mti]

    async def wait_for(self, mti: str, count: int) -> list[Request]:
        with anyio.fail_after(WAIT_S):
            while len(self.of_mti(mti)) < count:
                await self._seen_more.wait()
        return self.of_mti(mti)


@asynccontextmanager
async def front_with(
    database_url: str, answer: Callable[[Request], str | None], *, seeded: bool = True,
    **changes: object,
) -> AsyncIterator[tuple[int, ScriptedSwitch]]:
    if seeded:
        await seed(database_url)
    switch = ScriptedSwitch(answer)
    async with anyio.create_task_group() as group:
        switch_port = await group.start(
            lambda *, task_status: serve_links("127.0.0.1", 0, switch._on_requests,
                                               name="scripted-switch",
                                               tls=server_tls("switch", ("front",)),
                                               task_status=task_status))
        config = msgspec.structs.replace(
            TEST_CONFIG, switch_address=f"127.0.0.1:{switch_port}", **{**FAST_SAF, **changes})
        port = await group.start(lambda *, task_status: run_front(
            config, database_url, task_status=task_status))
        yield port, switch
        group.cancel_scope.cancel()


async def rows(database_url: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetch("SELECT * FROM front_saf ORDER BY id")
    finally:
        await connection.close()


async def until_rows(database_url: str, check: Callable[[list], bool]) -> list[asyncpg.Record]:
    with anyio.fail_after(WAIT_S):
        while not check(found := await rows(database_url)):
            await anyio.sleep(0.02)
    return found


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class TestWhatIsOwed:
    async def test_no_answer_in_time_is_91_and_a_stable_0420_is_resent(self, database_url):
        answer = {"0200": None, "0420": ResponseCode.HOST_UNAVAILABLE}.get
        async with front_with(database_url, lambda r: answer(r.mti),
                              answer_timeout_s=0.3) as (port, switch):
            async with TerminalClient.connect(port) as terminal:
                assert (await terminal.request(purchase(stan="000007")))["39"] == "91"
            first, second = (await switch.wait_for("0420", 2))[:2]
        assert msgspec.structs.replace(first, correlation_id=0) == \
            msgspec.structs.replace(second, correlation_id=0)   # one advice, retransmitted
        assert (first.stan, first.reason_code, first.terminal_code, first.pan) == \
            ("000007", "68", T_SIGNED, PAN)
        assert first.original_data == "0200" + "000007" + "0101120000" + "0" * 22
        [row] = await rows(database_url)
        assert (row["origin"], row["state"], row["last_response_code"]) == \
            ("no_answer", "pending", "91")
        assert row["attempts"] >= 2 and row["pan_masked"] == "621700******7894"

    async def test_the_owed_0420_keeps_its_originals_request_id_in_the_row_and_the_log(
        self, database_url
    ):
        """Followed by one id: the 0200, its 0420 (sealed in the row, sent again and again)
        and the lines about both; a row stored before request ids opens with none."""
        answer = {"0200": None, "0420": ResponseCode.APPROVED}.get
        with capture_logs() as logs:
            async with front_with(database_url, lambda r: answer(r.mti),
                                  answer_timeout_s=0.3) as (port, switch):
                async with TerminalClient.connect(port) as terminal:
                    assert (await terminal.request(purchase(stan="000008")))["39"] == "91"
                (original,) = switch.of_mti("0200")
                (advice,) = await switch.wait_for("0420", 1)
                await until_rows(database_url, lambda found: found[0]["state"] == "acknowledged")
        assert original.request_id and advice.request_id == original.request_id
        [row] = await rows(database_url)
        stored = open_request(await _saf_seal_key(database_url), row["request"],
                              row["terminal_code"], row["original_data"], 0)
        assert stored.request_id == original.request_id
        events = {line["event"]: line for line in logs if "request_id" in line}
        assert events["reversal_owed"]["request_id"] == original.request_id
        assert events["saf_acknowledged"]["request_id"] == original.request_id
        before_ids = Request.__struct_fields__.index("request_id")
        older = msgspec.msgpack.encode(msgspec.msgpack.decode(
            msgspec.msgpack.encode(stored))[:before_ids])   # as sealed before the field existed
        assert decode_request(older, 0).request_id == ""

    async def test_a_request_that_never_left_the_front_is_not_reversed(self, database_url):
        async with running_front(database_url, switch="absent") as running:
            async with TerminalClient.connect(running.port) as terminal:
                assert (await terminal.request(purchase()))["39"] == "91"
        assert await rows(database_url) == []

    async def test_answered_requests_write_nothing(self, database_url):
        async with running_front(database_url) as running:
            async with TerminalClient.connect(running.port) as terminal:
                for number in range(1, 21):
                    assert (await terminal.request(purchase(stan=f"{number:06d}")))["39"] == "00"
        assert await rows(database_url) == []

    async def test_advices_and_inquiries_are_never_reversed(self, database_url):
        async with front_with(database_url, lambda r: None, answer_timeout_s=0.2) as (port, _):
            async with TerminalClient.connect(port) as terminal:
                advice = purchase(stan="000002") | {"t": "0220"}
                assert (await terminal.request(advice))["39"] == "91"
        assert await rows(database_url) == []


class TestUndelivered:
    async def test_terminal_that_closed_gets_its_approval_reversed(self, database_url):
        async with front_with(database_url, lambda r: "00") as (port, switch):
            async with TerminalClient.connect(port) as terminal:
                await terminal.send(purchase(stan="000003"))
            [reversal] = await switch.wait_for("0420", 1)
            [row] = await until_rows(database_url, lambda found: found and
                                     found[0]["state"] == "acknowledged")
        assert (row["origin"], reversal.stan) == ("undelivered", "000003")

    async def test_answers_due_when_we_close_are_not_written_but_reversed(self, database_url):
        async with front_with(database_url, lambda r: "00") as (port, switch):
            async with TerminalClient.connect(port) as terminal:
                await terminal.stream.send(frame(purchase(stan="000004")) + b"\x0b\xb8")
                with anyio.fail_after(WAIT_S), pytest.raises(
                        (anyio.EndOfStream, anyio.BrokenResourceError, OSError)):
                    await terminal.stream.receive()   # closed, and no 0210 before the end
            [row] = await until_rows(database_url, lambda found: found and
                                     found[0]["state"] == "acknowledged")
        assert (row["origin"], row["stan"]) == ("undelivered", "000004")
        assert [request.stan for request in switch.of_mti("0420")] == ["000004"]

    async def test_terminal_that_does_not_read_is_dropped_and_its_approvals_reversed(
        self, database_url, monkeypatch
    ):
        """Its answers fill the socket buffers (made small here, so that a few hundred
        answers do): past answer_write_timeout_s the front drops the connection, and the
        approvals that never drained to the kernel are reversed."""
        original = TerminalConnection.connection_made

        def small_send_buffer(self, transport):
            transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            original(self, transport)

        monkeypatch.setattr(TerminalConnection, "connection_made", small_send_buffer)
        count = 400
        requests = b"".join(frame(purchase(stan=f"{serial:06d}"))
                            for serial in range(1, count + 1))
        open_before = REGISTRY.get_sample_value("jifen_front_open_connections") or 0.0
        async with front_with(database_url, lambda r: "00", answer_write_timeout_s=0.3,
                              pipelined_requests_max=count) as (port, switch):
            with socket.socket() as terminal:   # reads nothing, with a small window
                terminal.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                terminal.connect(("127.0.0.1", port))
                await anyio.to_thread.run_sync(terminal.sendall, requests)
                reversals = await switch.wait_for("0420", 1)
                with anyio.fail_after(WAIT_S):
                    while (REGISTRY.get_sample_value("jifen_front_open_connections")
                           or 0.0) > open_before:
                        await anyio.sleep(0.01)
            found = await until_rows(database_url, lambda found: len(found) >= len(reversals))
        assert 0 < len(reversals) < count   # the first answers did drain
        assert {row["origin"] for row in found} == {"undelivered"}

    async def test_half_closed_terminal_gets_its_answer_and_nothing_is_owed(self, database_url):
        async with front_with(database_url, lambda r: "00") as (port, switch):
            async with TerminalClient.connect(port) as terminal:
                await terminal.send(purchase())
                await terminal.stream.send_eof()
                assert (await terminal.receive())[1]["39"] == "00"
        assert await rows(database_url) == []


class TestTerminalAdvice:
    async def test_own_0420_is_00_once_durable_and_one_row_for_its_retransmission(
        self, database_url
    ):
        async with front_with(database_url, lambda r: ResponseCode.HOST_UNAVAILABLE
                              ) as (port, switch):
            async with TerminalClient.connect(port) as terminal:
                advice = advice_of(purchase(stan="000005"))
                for _ in range(2):
                    answer = await terminal.request(advice)
                    assert (answer["t"], answer["39"], answer["11"]) == ("0430", "00", "000005")
            sent = await switch.wait_for("0420", 3)   # two forwarded live, then the queue's
        [row] = await rows(database_url)
        assert (row["origin"], row["state"]) == ("terminal", "pending")
        assert sent[0].pan is not None and sent[0].pan.encode() not in row["request"]
        stored = open_request(await _saf_seal_key(database_url), row["request"],
                              row["terminal_code"], row["original_data"], 0)
        assert msgspec.structs.replace(sent[0], correlation_id=0, received_at_ns=0) == \
            msgspec.structs.replace(stored, received_at_ns=0)   # exactly the terminal's

    async def test_own_0420_without_a_store_write_is_91(self, database_url):
        async with front_with(database_url, lambda r: "91") as (port, _):
            connection = await asyncpg.connect(database_url)
            try:
                await connection.execute("DROP TABLE front_saf")
                async with TerminalClient.connect(port) as terminal:
                    answer = await terminal.request(advice_of(purchase(stan="000006")))
                    assert answer["39"] == "91"
            finally:
                await connection.close()


class TestSettling:
    @pytest.mark.parametrize(("code", "state"), [
        ("00", "acknowledged"), ("25", "acknowledged"), ("12", "refused"), ("51", "refused"),
    ])
    async def test_host_answers_settle_a_row(self, database_url, code, state):
        settled_before = metric("jifen_front_saf_settled_total", outcome=state)
        answers = {"0200": "91", "0420": code}
        async with front_with(database_url, lambda r: answers[r.mti]) as (port, switch):
            async with TerminalClient.connect(port) as terminal:
                assert (await terminal.request(purchase()))["39"] == "91"
            [row] = await until_rows(database_url, lambda found: found and
                                     found[0]["state"] != "pending")
            # The sender counts a row once its settling statement returns: the commit is
            # visible here a moment before that.
            with anyio.fail_after(WAIT_S):
                while metric("jifen_front_saf_settled_total", outcome=state) == settled_before:
                    await anyio.sleep(0.01)
        assert (row["state"], row["last_response_code"], row["attempts"]) == (state, code, 1)
        assert row["settled_at"] is not None
        assert metric("jifen_front_saf_settled_total", outcome=state) == settled_before + 1

    def test_outcome(self):
        assert outcome(None) == "pending"
        for code, state in (("00", "acknowledged"), ("25", "acknowledged"), ("91", "pending"),
                            ("96", "pending"), ("94", "refused"), ("A0", "refused")):
            assert outcome(Answer(1, code)) == state

    def test_outcome_of_a_reconciliation(self):
        assert outcome(None, "0500") == "pending"
        for code, state in (("00", "acknowledged"), ("95", "acknowledged"), ("91", "pending"),
                            ("96", "pending"), ("12", "refused"), ("25", "refused")):
            assert outcome(Answer(1, code), "0500") == state

    async def test_backlog_metrics_and_resume_after_restart(self, database_url):
        answers = {"0200": "91", "0420": "91"}
        async with front_with(database_url, lambda r: answers[r.mti]) as (port, switch):
            async with TerminalClient.connect(port) as terminal:
                for number in (1, 2):
                    assert (await terminal.request(purchase(stan=f"00000{number}")))["39"] \
                        == "91"
            await switch.wait_for("0420", 4)
            with anyio.fail_after(WAIT_S):
                while metric("jifen_front_saf_pending") != 2:
                    await anyio.sleep(0.02)
            assert metric("jifen_front_saf_oldest_age_seconds") > 0
        answers["0420"] = "00"
        async with front_with(database_url, lambda r: answers[r.mti], seeded=False):
            await until_rows(database_url, lambda found: all(
                row["state"] == "acknowledged" for row in found))


class FakeLink:
    """The upstream, answering every 0420 with 00; records what it was sent."""

    is_up = True

    def __init__(self) -> None:
        self.sent: list[Request] = []

    async def send_batch(self, requests: list[Request], deadline: float) -> list[Answer | None]:
        self.sent.extend(requests)
        return [Answer(request.correlation_id, "00") for request in requests]


class ScriptedLink(FakeLink):
    """The upstream, answering each MTI with its next scripted code."""

    def __init__(self, codes: dict[str, list[str]]) -> None:
        super().__init__()
        self._codes = {mti: iter(answers) for mti, answers in codes.items()}

    async def send_batch(self, requests: list[Request], deadline: float) -> list[Answer | None]:
        self.sent.extend(requests)
        return [Answer(request.correlation_id, next(self._codes[request.mti]))
                for request in requests]

    def take(self) -> list[Request]:
        sent, self.sent = self.sent, []
        return sent


class TestUnreadableRows:
    async def test_a_row_that_does_not_open_is_refused_logged_and_the_rest_sent(
        self, database_url,
    ):
        """A stored 0420 sealed under another key, or damaged, never stops the sender: it is
        refused (no response code) with a logged reason, and the batch's others go out."""
        await seed(database_url)
        front_key = bytes(range(1, 33))
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        try:
            for key, stan in ((_SEAL_KEY, "000001"), (front_key, "000002"),
                              (front_key, "000003")):
                await _store(pool, key, reversal_of(_request(stan), Origin.NO_ANSWER))
            await pool.execute("UPDATE front_saf SET request = '\\x01deadbeef'::bytea"
                               " WHERE stan = '000003'")
            link = FakeLink()
            config = msgspec.structs.replace(TEST_CONFIG, **FAST_SAF)
            sender = SafSender(pool, link, config, seal_key=front_key)
            refused_before = metric("jifen_front_saf_settled_total", outcome="refused")
            with capture_logs() as logs:
                assert await sender.send_due() == 3
                assert await sender.send_due() == 0   # nothing left pending, nothing retried
        finally:
            await pool.close()
        assert [request.stan for request in link.sent] == ["000002"]
        settled = {row["stan"]: (row["state"], row["last_response_code"])
                   for row in await rows(database_url)}
        assert settled == {"000001": ("refused", None), "000002": ("acknowledged", "00"),
                           "000003": ("refused", None)}
        unreadable = [event for event in logs if event["event"] == "saf_refused_unreadable"]
        assert sorted(event["original"][4:10] for event in unreadable) == ["000001", "000003"]
        assert all("KeyStoreError" in event["reason"] for event in unreadable)
        assert all(event["log_level"] == "error" for event in unreadable)
        assert metric("jifen_front_saf_settled_total", outcome="refused") == refused_before + 2

    async def test_the_sender_loop_survives_an_unreadable_row(self, database_url):
        await seed(database_url)
        front_key = bytes(range(1, 33))
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        try:
            await _store(pool, _SEAL_KEY, reversal_of(_request("000001"), Origin.NO_ANSWER))
            link = FakeLink()
            config = msgspec.structs.replace(TEST_CONFIG, **FAST_SAF)
            sender = SafSender(pool, link, config, seal_key=front_key)
            async with anyio.create_task_group() as group:
                group.start_soon(sender.run)
                await until_rows(database_url, lambda found: found[0]["state"] == "refused")
                await _store(pool, front_key, reversal_of(_request("000002"), Origin.NO_ANSWER))
                sender.wake()
                await until_rows(database_url, lambda found: len(found) == 2
                                 and found[1]["state"] == "acknowledged")
                group.cancel_scope.cancel()
        finally:
            await pool.close()
        assert [request.stan for request in link.sent] == ["000002"]


async def _store(pool: asyncpg.Pool, seal_key: bytes, entry) -> None:
    """One row written by a SafStore sealing under `seal_key`."""
    store = SafStore(pool, seal_key=seal_key, batch_max=10, queue_max=10, timeout_s=WAIT_S)
    async with anyio.create_task_group() as group:
        group.start_soon(store.run)
        assert await store.put(entry)
        group.cancel_scope.cancel()


class TestStore:
    async def test_puts_commit_in_batches_and_one_pending_row_per_original(
        self, database_url
    ):
        await seed(database_url)
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
        stored = anyio.Event()
        store = SafStore(pool, seal_key=_SEAL_KEY, batch_max=100, queue_max=1_000, timeout_s=WAIT_S,
                         on_stored=stored.set)
        originals = [_request(f"{number:06d}") for number in range(50)]
        results: list[bool] = []
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(store.run)

                async def put(entry) -> None:
                    results.append(await store.put(entry))

                async with anyio.create_task_group() as puts:
                    for request in originals:
                        puts.start_soon(put, reversal_of(request, Origin.NO_ANSWER))
                    # The terminal's own 0420 of the first: the same debt, no second row.
                    advice = reversal_of(originals[0], Origin.NO_ANSWER).request
                    puts.start_soon(put, terminal_advice(advice))
                group.cancel_scope.cancel()
        finally:
            await pool.close()
        assert results == [True] * 51 and stored.is_set()
        assert await fetch_value(database_url, "SELECT count(*) FROM front_saf") == 50

    async def test_a_row_the_database_refused_is_stored_once_it_is_back(self, database_url):
        """The caller hears False at once (its terminal gets 91), but the reversal is still
        owed: the store keeps it and inserts it when the table takes rows again."""
        await seed(database_url)
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
        store = SafStore(pool, seal_key=_SEAL_KEY, batch_max=100, queue_max=1_000, timeout_s=WAIT_S,
                         backoff_s_min=0.05, backoff_s_max=0.1)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(store.run)
                await pool.execute("ALTER TABLE front_saf RENAME TO front_saf_away")
                assert not await store.put(reversal_of(_request("000001"), Origin.NO_ANSWER))
                assert store.unstored_count == 1
                await pool.execute("ALTER TABLE front_saf_away RENAME TO front_saf")
                with anyio.fail_after(WAIT_S):
                    while store.unstored_count:
                        await anyio.sleep(0.02)
                group.cancel_scope.cancel()
        finally:
            await pool.close()
        assert await fetch_value(database_url, "SELECT count(*) FROM front_saf") == 1


def _request(stan: str) -> Request:
    return Request(
        correlation_id=9, mti="0200", terminal_code=T_SIGNED, merchant_code="M00000000000001",
        stan=stan, transmission_time="0101120000", received_at_ns=1, processing_code="000000",
        pan=PAN, amount=1000, currency="156", batch_number=1, entry_mode="051",
    )


def reconciliation(stan: str = "000009") -> dict[str, str]:
    totals = {field: "0" * 10 for field in ("74", "75", "76", "77")}
    totals |= {field: "0" * 16 for field in ("86", "87", "88", "89")}
    return {"t": "0500", "3": "920000", "7": "0101120000", "11": stan, "41": T_SIGNED,
            "42": MERCHANT, "60": "000001", **totals, "74": "0000000002",
            "86": "0000000000003500"}


class TestReconciliationOwed:
    """A 0500 answered 91 or not at all is sent again until its batch closes in every
    partition (docs/plans/partitions.md §3): parts that closed replay, the others close."""

    async def test_a_0500_answered_91_is_resent_as_itself_until_its_batch_closes(
        self, database_url,
    ):
        answers = {"0500": "91"}
        async with front_with(database_url, lambda r: answers[r.mti]) as (port, switch):
            async with TerminalClient.connect(port) as terminal:
                assert (await terminal.request(reconciliation()))["39"] == "91"
            first, again = (await switch.wait_for("0500", 2))[:2]
            [row] = await rows(database_url)
            assert (row["origin"], row["state"], row["reason_code"]) == (
                "reconciliation", "pending", None)
            answers["0500"] = "95"
            [row] = await until_rows(database_url, lambda found: found[0]["state"] != "pending")
        assert msgspec.structs.replace(first, correlation_id=0) == \
            msgspec.structs.replace(again, correlation_id=0)   # one 0500, retransmitted
        assert (again.stan, again.transmission_time, again.batch_number) == (
            "000009", "0101120000", 1)
        assert again.totals is not None and again.totals.purchases_fen == 3_500
        assert row["original_data"] == "0500" + "000009" + "0101120000" + "0" * 22
        assert (row["state"], row["last_response_code"]) == ("acknowledged", "95")
        assert row["pan_masked"] is None

    async def test_a_0500_not_answered_in_time_is_owed_and_one_row_for_its_retry(
        self, database_url,
    ):
        async with front_with(database_url, lambda r: None, answer_timeout_s=0.2,
                              saf_backoff_s_min=30.0, saf_backoff_s_max=30.0) as (port, _):
            async with TerminalClient.connect(port) as terminal:
                assert (await terminal.request(reconciliation()))["39"] == "91"
                assert (await terminal.request(reconciliation()))["39"] == "91"
            [row] = await until_rows(database_url, lambda found: len(found) == 1)
        assert (row["origin"], row["state"]) == ("reconciliation", "pending")

    async def test_a_decided_0500_owes_nothing(self, database_url):
        answers = iter(["00", "95", "12"])
        async with front_with(database_url, lambda r: next(answers)) as (port, _):
            async with TerminalClient.connect(port) as terminal:
                for number in range(1, 4):
                    answer = await terminal.request(reconciliation(stan=f"{number:06d}"))
                    assert answer["39"] in ("00", "95", "12")
        assert await rows(database_url) == []

    async def test_a_0500_waits_for_its_terminals_older_rows_only(self, database_url):
        """A reversal of the batch answered 91 keeps its terminal's owed 0500 back (sent
        first, the 0500 would close the batch and the reversal get 12); another terminal's
        0500 goes at once."""
        await seed(database_url)
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        link = ScriptedLink({"0420": ["91", "00"], "0500": ["00", "00"]})
        try:
            await _store(pool, _SEAL_KEY, reversal_of(_request("000001"), Origin.NO_ANSWER))
            for terminal, stan in ((T_SIGNED, "000002"), (T_NEW, "000003")):
                await _store(pool, _SEAL_KEY, owed_reconciliation(Request(
                    0, "0500", terminal, MERCHANT, stan, "0101120000", 1,
                    processing_code="920000", batch_number=1)))
            config = msgspec.structs.replace(TEST_CONFIG, **FAST_SAF)
            sender = SafSender(pool, link, config, seal_key=_SEAL_KEY)
            rounds = []
            for _ in range(3):
                await pool.execute("UPDATE front_saf SET next_attempt_at = now()")
                await sender.send_due()
                rounds.append([(r.terminal_code, r.mti) for r in link.take()])
        finally:
            await pool.close()
        assert rounds == [[(T_SIGNED, "0420"), (T_NEW, "0500")],   # 0420 answered 91
                          [(T_SIGNED, "0420")],                    # 00: now settled
                          [(T_SIGNED, "0500")]]
        assert {row["state"] for row in await rows(database_url)} == {"acknowledged"}

    def test_a_0500s_row_is_keyed_by_itself_and_its_seal_opens(self):
        request = Request(0, "0500", T_SIGNED, MERCHANT, "000009", "0101120000", 1,
                          processing_code="920000", batch_number=1, card_password=b"x")
        entry = owed_reconciliation(request)
        assert entry.origin is Origin.RECONCILIATION and entry.request.card_password is None
        assert entry.original_data == "0500000009" + "0101120000" + "0" * 22
        sealed = seal_request(_SEAL_KEY, entry.request)
        assert open_request(_SEAL_KEY, sealed, T_SIGNED, entry.original_data, 7) == \
            msgspec.structs.replace(entry.request, correlation_id=7)
