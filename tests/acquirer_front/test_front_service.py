"""The front over real TCP, against a fake switch and a real PostgreSQL: the order of checks,
the echo, sign-on state, 91, and a bug ending the front."""

from __future__ import annotations

import anyio
import asyncpg
import msgspec
import pytest
from prometheus_client import REGISTRY

from acquirer_front import DatabaseUnavailableError, pipeline, run_front
from acquirer_front.sign_on import SignOnHandler
from acquirer_front.steps import ValidateMessage
from tests.acquirer_front.front_testkit import (
    MERCHANT_INACTIVE,
    PAN,
    T_NEW,
    T_OF_INACTIVE,
    T_SIGNED,
    T_UNKNOWN,
    TEST_CONFIG,
    TPDU,
    WAIT_S,
    TerminalClient,
    fetch_value,
    network,
    purchase,
    running_front,
)

pytestmark = pytest.mark.anyio


async def answer_to(database_url: str, fields: dict[str, str], **front: object) -> dict[str, str]:
    async with running_front(database_url, **front) as running:
        async with TerminalClient.connect(running.port) as terminal:
            return await terminal.request(fields)


class TestMessageKind:
    async def test_unknown_processing_code_is_12(self, database_url: str) -> None:
        answer = await answer_to(database_url, purchase() | {"3": "123456"})
        assert answer["t"] == "0210"
        assert answer["39"] == "12"

    async def test_unknown_mti_is_12(self, database_url: str) -> None:
        answer = await answer_to(database_url, purchase() | {"t": "0300"})
        assert (answer["t"], answer["39"]) == ("0310", "12")

    async def test_unknown_network_code_is_12(self, database_url: str) -> None:
        answer = await answer_to(database_url, network("999"))
        assert (answer["t"], answer["39"], answer["70"]) == ("0810", "12", "999")

    async def test_missing_processing_code_is_30(self, database_url: str) -> None:
        fields = purchase()
        del fields["3"]
        assert (await answer_to(database_url, fields))["39"] == "30"


class TestFields:
    async def test_missing_amount_is_30(self, database_url: str) -> None:
        fields = purchase()
        del fields["4"]
        answer = await answer_to(database_url, fields)
        assert answer["39"] == "30"
        assert "4" not in answer

    async def test_non_digit_amount_is_30(self, database_url: str) -> None:
        answer = await answer_to(database_url, purchase(amount="00000000100A"))
        assert answer["39"] == "30"
        assert answer["4"] == "00000000100A"

    async def test_wrong_currency_is_30(self, database_url: str) -> None:
        assert (await answer_to(database_url, purchase() | {"49": "999"}))["39"] == "30"

    async def test_impossible_transmission_time_is_30(self, database_url: str) -> None:
        assert (await answer_to(database_url, purchase() | {"7": "1301120000"}))["39"] == "30"

    async def test_malformed_tlv_is_30(self, database_url: str) -> None:
        assert (await answer_to(database_url, purchase() | {"48": "GC01"}))["39"] == "30"


class TestTerminal:
    async def test_unknown_terminal_is_58(self, database_url: str) -> None:
        assert (await answer_to(database_url, purchase(terminal=T_UNKNOWN)))["39"] == "58"

    async def test_terminal_not_signed_on_is_58(self, database_url: str) -> None:
        assert (await answer_to(database_url, purchase(terminal=T_NEW)))["39"] == "58"

    async def test_wrong_merchant_is_03(self, database_url: str) -> None:
        answer = await answer_to(database_url, purchase(merchant="M00000000000777"))
        assert answer["39"] == "03"

    async def test_inactive_merchant_is_03(self, database_url: str) -> None:
        fields = purchase(terminal=T_OF_INACTIVE, merchant=MERCHANT_INACTIVE)
        assert (await answer_to(database_url, fields))["39"] == "03"


class TestSignOn:
    async def test_approved_sign_on_marks_the_session_then_allows_purchases(
        self, database_url: str
    ) -> None:
        async with running_front(database_url) as running:
            async with TerminalClient.connect(running.port) as terminal:
                assert (await terminal.request(purchase(terminal=T_NEW)))["39"] == "58"
                answer = await terminal.request(network("001", terminal=T_NEW))
                assert (answer["t"], answer["39"], answer["60"]) == ("0810", "00", "000001")
                # Durable before the answer was written.
                assert await fetch_value(
                    database_url,
                    "SELECT signed_on FROM terminal_sessions WHERE terminal_code = $1", T_NEW,
                ) is True
                assert (await terminal.request(purchase(terminal=T_NEW)))["39"] == "00"

    async def test_approved_sign_off_clears_the_session(self, database_url: str) -> None:
        async with running_front(database_url) as running:
            async with TerminalClient.connect(running.port) as terminal:
                assert (await terminal.request(network("002")))["39"] == "00"
                assert await fetch_value(
                    database_url,
                    "SELECT signed_on FROM terminal_sessions WHERE terminal_code = $1", T_SIGNED,
                ) is False
                assert (await terminal.request(purchase()))["39"] == "58"


class TestAnswer:
    async def test_echo_and_host_fields(self, database_url: str) -> None:
        async with running_front(database_url) as running:
            async with TerminalClient.connect(running.port) as terminal:
                await terminal.send(purchase(stan="000042"))
                tpdu, answer = await terminal.receive()
                forwarded = running.switch.seen[0]
        assert tpdu == TPDU.swapped()
        assert answer == {
            "t": "0210", "2": PAN, "3": "000000", "4": "000000001000", "11": "000042",
            "41": T_SIGNED, "42": "M00000000000001", "49": "156", "39": "00",
            "37": "000000000001", "38": "A00001", "48": "PT003+10",
            "54": "0001999C000000001234" "6001156C000000005000" "0090999C000000000010",
        }
        assert (forwarded.mti, forwarded.amount, forwarded.batch_number) == ("0200", 1000, 1)
        assert (forwarded.terminal_code, forwarded.stan, forwarded.pan) == (
            T_SIGNED, "000042", PAN)

    async def test_refusal_echoes_the_request(self, database_url: str) -> None:
        answer = await answer_to(database_url, purchase(terminal=T_UNKNOWN, stan="000007"))
        assert answer == {
            "t": "0210", "2": PAN, "3": "000000", "4": "000000001000", "11": "000007",
            "41": T_UNKNOWN, "42": "M00000000000001", "49": "156", "39": "58",
        }

    async def test_network_answer_echoes_70(self, database_url: str) -> None:
        answer = await answer_to(database_url, network("301", stan="000009"))
        assert answer == {
            "t": "0810", "11": "000009", "41": T_SIGNED, "42": "M00000000000001",
            "70": "301", "39": "00", "60": "000001",
        }


class TestHostUnavailable:
    async def test_switch_absent_is_91(self, database_url: str) -> None:
        assert (await answer_to(database_url, purchase(), switch="absent"))["39"] == "91"

    async def test_a_switch_not_signed_by_our_ca_is_refused(self, database_url: str) -> None:
        """Whoever binds the switch's port (while it restarts) cannot answer in its place."""
        async with running_front(database_url, switch="impostor",
                                 link_startup_wait_s=0.0) as running:
            async with TerminalClient.connect(running.port) as terminal:
                assert (await terminal.request(purchase()))["39"] == "91"
            assert running.switch is not None and running.switch.seen == []

    async def test_switch_silent_is_91_after_the_answer_timeout(self, database_url: str) -> None:
        async with running_front(database_url, switch="silent", answer_timeout_s=0.2) as running:
            async with TerminalClient.connect(running.port) as terminal:
                assert (await terminal.request(purchase()))["39"] == "91"
                assert len(running.switch.seen) == 1

    async def test_sign_on_refused_by_an_absent_switch_changes_nothing(
        self, database_url: str
    ) -> None:
        answer = await answer_to(database_url, network("001", terminal=T_NEW), switch="absent")
        assert answer["39"] == "91"
        assert await fetch_value(
            database_url, "SELECT count(*) FROM terminal_sessions WHERE terminal_code = $1", T_NEW
        ) == 0

    async def test_link_going_down_answers_waiting_requests_91_at_once(
        self, database_url: str
    ) -> None:
        async with running_front(database_url, switch="silent", answer_timeout_s=60) as running:
            async with TerminalClient.connect(running.port) as terminal:
                await terminal.send(purchase())
                await running.switch.wait_seen(1)
                running.switch.stop()
                with anyio.fail_after(WAIT_S):     # well before the 60 s answer timeout
                    assert (await terminal.receive())[1]["39"] == "91"
                assert REGISTRY.get_sample_value("jifen_front_upstream_link_up") == 0

    async def test_full_pending_map_answers_91_at_once(self, database_url: str) -> None:
        async with running_front(   # a SAF batch must fit in the pending map
            database_url, switch="silent", answer_timeout_s=60, upstream_queue_max=1,
            saf_send_batch_max=1,
        ) as running:
            async with TerminalClient.connect(running.port) as terminal:
                await terminal.send(purchase(stan="000001"))
                await running.switch.wait_seen(1)
                assert REGISTRY.get_sample_value("jifen_front_upstream_link_up") == 1
                answer = await terminal.request(purchase(stan="000002"))
                assert (answer["11"], answer["39"]) == ("000002", "91")
                assert len(running.switch.seen) == 1


class TestSignOnStore:
    async def test_sign_on_not_recorded_is_96(self, database_url: str) -> None:
        async with running_front(database_url) as running:
            connection = await asyncpg.connect(database_url)
            try:
                await connection.execute("ALTER TABLE terminal_sessions RENAME TO gone")
            finally:
                await connection.close()
            async with TerminalClient.connect(running.port) as terminal:
                assert (await terminal.request(network("001", terminal=T_NEW)))["39"] == "96"
                # The terminal is still not signed on.
                assert (await terminal.request(purchase(terminal=T_NEW)))["39"] == "58"


async def test_no_database_at_start_is_an_error() -> None:
    config = msgspec.structs.replace(TEST_CONFIG, link_startup_wait_s=0.0)
    with pytest.raises(DatabaseUnavailableError):
        await run_front(config, "postgresql://nobody@127.0.0.1:1/none")


class TestBugEndsTheFront:
    """A bug met while handling a request (an AssertionError here) is not logged and answered
    96, nor left to the event loop's log: run_front raises it, for its supervisor to restart
    the front from the database."""

    @pytest.mark.parametrize("where", ["checks", "host_answer", "sign_on"])
    async def test_an_assertion_ends_run_front(
        self, database_url: str, monkeypatch: pytest.MonkeyPatch, where: str
    ) -> None:
        def broken(*args: object) -> None:
            raise AssertionError("broken invariant")

        async def broken_async(*args: object) -> None:
            broken()

        patch, request = {
            # The hot path, in the connection's data callback.
            "checks": ((ValidateMessage, "__call__", broken), purchase()),
            # The host's answer, delivered on the switch link's reader callback.
            "host_answer": ((pipeline, "answer_fields", broken), purchase()),
            # A sign-on, which waits in a task of the listener.
            "sign_on": ((SignOnHandler, "settle", broken_async), network("001")),
        }[where]
        monkeypatch.setattr(*patch)
        with pytest.RaisesGroup(pytest.RaisesExc(AssertionError, match="broken invariant"),
                                flatten_subgroups=True):
            async with running_front(database_url) as running:
                async with TerminalClient.connect(running.port) as terminal:
                    await terminal.send(request)
                    with anyio.fail_after(WAIT_S):
                        await anyio.sleep_forever()   # until the front's failure cancels this
