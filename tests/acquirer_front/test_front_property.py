"""Property: whatever follows a valid LEN and TPDU, the front closes that connection or answers
it, and keeps serving everyone else."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from proto.errors import FramingError
from proto.framing import read_frame
from proto.iso_codec import decode_iso, encode_iso
from tests.acquirer_front.front_testkit import (
    TPDU,
    WAIT_S,
    RunningFront,
    TerminalClient,
    network,
    purchase,
    running_front,
)

pytestmark = pytest.mark.anyio

# One front serves every example: its state carries over, which is part of the property.
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_MTIS = st.sampled_from([b"0100", b"0200", b"0220", b"0400", b"0500", b"0800", b"0210", b"9999"])
RANDOM_BODIES = st.one_of(
    st.binary(min_size=4, max_size=400),
    st.tuples(_MTIS, st.binary(max_size=400)).map(b"".join),
    st.tuples(_MTIS, st.text("0123456789ABCDEF", min_size=16, max_size=16),
              st.binary(max_size=200)).map(lambda parts: parts[0] + parts[1].encode() + parts[2]),
)


@st.composite
def mutated_messages(draw: st.DrawFn) -> bytes:
    """A valid purchase or sign-on with a few bytes replaced, cut or inserted."""
    body = bytearray(encode_iso(draw(st.sampled_from([purchase(), network("001")]))))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(body) - 1))
        action = draw(st.sampled_from(["replace", "delete", "insert"]))
        byte = draw(st.integers(0, 255))
        if action == "replace":
            body[position] = byte
        elif action == "delete" and len(body) > 4:
            del body[position]
        else:
            body.insert(position, byte)
    return bytes(body)


@pytest.fixture
async def front(database_url: str) -> AsyncIterator[tuple[RunningFront, TerminalClient]]:
    """The front, and a good connection opened before any example runs."""
    async with running_front(database_url, frame_complete_timeout_s=1.0) as running:
        async with TerminalClient.connect(running.port) as good:
            yield running, good


async def send_and_observe(port: int, body: bytes) -> dict[str, str] | None:
    """The answer to LEN + TPDU + body, or None when the front closed the connection."""
    raw = (len(body) + 5).to_bytes(2, "big") + TPDU.encode() + body
    async with TerminalClient.connect(port) as terminal:
        try:
            await terminal.stream.send(raw)
        except (anyio.BrokenResourceError, OSError):
            return None
        with anyio.fail_after(WAIT_S):
            try:
                _, answer_body = await read_frame(terminal._buffered)
            except (anyio.IncompleteRead, anyio.BrokenResourceError, anyio.EndOfStream):
                return None
    try:
        return decode_iso(answer_body)
    except FramingError as exc:
        raise AssertionError(f"the front sent an undecodable answer: {answer_body!r}") from exc


async def assert_good_connection_served(good: TerminalClient, stan: int) -> None:
    answer = await good.request(network("301", stan=f"{stan % 1_000_000:06d}"))
    assert answer["39"] == "00"


_stans = iter(range(1, 10**9))


@PROPERTY_SETTINGS
@given(body=RANDOM_BODIES)
async def test_random_bodies_close_or_get_12_or_30(
    front: tuple[RunningFront, TerminalClient], body: bytes
) -> None:
    running, good = front
    answer = await send_and_observe(running.port, body)
    event("closed" if answer is None else f"answered {answer['39']}")
    if answer is not None:
        assert answer["39"] in ("12", "30"), answer
        assert answer["t"] == f"{int(body[:4]) + 10:04d}"
    await assert_good_connection_served(good, next(_stans))


@PROPERTY_SETTINGS
@given(body=mutated_messages())
async def test_mutated_messages_close_or_get_an_answer(
    front: tuple[RunningFront, TerminalClient], body: bytes
) -> None:
    running, good = front
    answer = await send_and_observe(running.port, body)
    event("closed" if answer is None else f"answered {answer['39']}")
    if answer is not None:
        assert answer["t"] == f"{int(body[:4]) + 10:04d}"
        assert len(answer["39"]) == 2
    await assert_good_connection_served(good, next(_stans))
