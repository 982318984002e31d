"""Hostile input against the whole system over TCP (issue 8): the front never crashes, never
posts from a malformed message, and answers 12 or 30 or closes the connection.

The oracle (loadtest/fuzz_oracle.py) says, for every frame, exactly which: it runs the
front's own first checks (framing and `decode_iso`, then `ValidateMessage`), so a frame is
either a framing error (the connection must close, without a byte more), or a decodable
request with a kind error (12) or a format error (30), which must be answered with that code,
the request's MTI + 10, field 41, field 11 and the TPDU swapped. Mutants that are still valid
requests are not sent: every frame sent is malformed, so no table of the database may gain or
lose a row (SQL counts of every table), and `jifen audit` must pass. After the traffic, a good
terminal is still served, and the front has logged no error.
"""

from __future__ import annotations

import random
import socket
import struct

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from loadtest.fuzz_cases import KINDS, Case, framed, make_case, raw_body, raw_fields, seed_messages
from loadtest.fuzz_drive import FuzzDriver, Tally
from tests.e2e.system import CARDS, RunningSystem
from tests.fuzz.fuzz_kit import STATION, assert_audit_clean, table_counts

pytestmark = pytest.mark.anyio

SEEDS = seed_messages(STATION)
MUTATED_MESSAGES = 11_000   # about 10,000 sent: those still valid (~9 %) are not
CONNECTIONS = 8
FUZZ_SEED = 20261123
TIMEOUT_S = 10.0
RESETTING_PEERS = 300


async def assert_good_terminal_served(system: RunningSystem) -> None:
    async with system.terminal() as terminal:
        assert (await terminal.sign_on())["39"] == "00"
        assert (await terminal.echo())["39"] == "00"
        assert (await terminal.inquiry(CARDS[1]))["39"] == "00"
        assert (await terminal.purchase(CARDS[1], 1_000))["39"] == "00"


def report(tally: Tally) -> str:
    return (f"frames {tally.frames}, answered {tally.answered}, closed {tally.closed} "
            f"{tally.closed_by_reason}, not sent (valid) {tally.skipped_valid}, connections "
            f"{tally.connections}, {tally.frames_per_s:.0f} frames/s, failures "
            f"{tally.failures}: {tally.failure_examples}")


def test_the_seeds_are_valid_requests() -> None:
    """Mutants of valid requests reach deepest; the oracle must call the seeds valid."""
    from loadtest.fuzz_oracle import expect
    for message in SEEDS:
        assert expect(framed(random.Random(0), raw_body(message["t"].encode(),
                                                         raw_fields(message)))).valid, message


# About 15 s on an idle 2-core box; several times that while other suites load it.
@pytest.mark.timeout(180)
async def test_ten_thousand_mutated_messages(
    system: RunningSystem, front_errors: list[str]
) -> None:
    before = await table_counts(system)
    tally = Tally()
    cases = (make_case(rng, SEEDS) for rng in [random.Random(FUZZ_SEED)]
             for _ in range(MUTATED_MESSAGES))
    await FuzzDriver(("127.0.0.1", system.front_port), tally, timeout_s=TIMEOUT_S).run(
        cases, CONNECTIONS)
    print(f"\nfuzz: {report(tally)}")
    assert tally.failures == 0, report(tally)
    assert tally.frames >= 10_000
    assert set(tally.answered) <= {"12", "30"}, report(tally)
    assert tally.closed > 0 and tally.answered, report(tally)
    assert await table_counts(system) == before
    assert front_errors == []
    await assert_good_terminal_served(system)
    await assert_audit_clean(system.database_url)


# ---- hypothesis: the same oracle, cases shrunk to the smallest failing one -----------------

_seed_messages = st.sampled_from(SEEDS)


@st.composite
def field_changes(draw: st.DrawFn) -> Case:
    """A seed with one field's bytes replaced by anything (its length prefix recomputed)."""
    message = draw(_seed_messages)
    fields = raw_fields(message)
    field = draw(st.sampled_from(sorted(fields)))
    fields[field] = draw(st.binary(max_size=40))
    return Case("hypothesis_field", framed(random.Random(0),
                                           raw_body(message["t"].encode(), fields)))


@st.composite
def bitmaps(draw: st.DrawFn) -> Case:
    message = draw(_seed_messages)
    bitmap = draw(st.text("0123456789ABCDEFabcdefGZ ", max_size=34)).encode()
    return Case("hypothesis_bitmap", framed(random.Random(0), raw_body(
        message["t"].encode(), raw_fields(message), bitmap=bitmap)))


@st.composite
def generated(draw: st.DrawFn) -> Case:
    """Any of the generators of the long form, from a drawn random seed."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    return make_case(rng, SEEDS, kind=draw(st.sampled_from(KINDS)))


HYPOTHESIS_CASES = st.one_of(
    generated(), field_changes(), bitmaps(),
    st.binary(min_size=1, max_size=300).map(lambda data: Case("hypothesis_bytes", data)),
)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=HYPOTHESIS_CASES)
async def test_hypothesis_cases_follow_the_oracle(
    system: RunningSystem, front_errors: list[str], case: Case
) -> None:
    tally = Tally()
    await FuzzDriver(("127.0.0.1", system.front_port), tally, timeout_s=TIMEOUT_S).run(
        iter([case]), 1)
    event("valid, not sent" if tally.skipped_valid else
          f"closed {list(tally.closed_by_reason)}" if tally.closed else
          f"answered {sorted(tally.answered)}")
    assert tally.failures == 0, tally.failure_examples
    assert set(tally.answered) <= {"12", "30"}
    assert front_errors == []


async def test_every_kind_on_a_fresh_system_posts_nothing(
    system: RunningSystem,
) -> None:
    """The hypothesis test shares one system across examples; this one checks the same
    property on a fresh system for a fixed sample, with the table counts."""
    before = await table_counts(system)
    tally = Tally()
    rng = random.Random(FUZZ_SEED + 1)
    cases = [make_case(rng, SEEDS, kind=kind) for kind in KINDS for _ in range(50)]
    await FuzzDriver(("127.0.0.1", system.front_port), tally).run(iter(cases), 4)
    assert tally.failures == 0, report(tally)
    assert await table_counts(system) == before
    await assert_good_terminal_served(system)
    await assert_audit_clean(system.database_url)


async def test_peers_resetting_at_once_are_not_logged_as_failures(
    system: RunningSystem, front_errors: list[str]
) -> None:
    """A scanner connects and resets (RST) before the front takes the connection: nothing to
    serve, and nothing worth a traceback in the log (that would be one per hostile SYN)."""
    for _ in range(RESETTING_PEERS):
        with socket.socket() as peer:
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            peer.connect(("127.0.0.1", system.front_port))
    await assert_good_terminal_served(system)
    assert front_errors == []
