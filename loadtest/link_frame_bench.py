"""Microseconds and bytes of the internal frames a request costs on the links.

    python -m loadtest.link_frame_bench [--number 20000] [--repeat 7]

A request crosses four link messages (front -> switch -> host and back): its `Request` is
encoded twice and decoded twice, its `Answer` too, and the switch re-stamps both with its own
correlation id (`msgspec.structs.replace`). Each step is timed alone, for a frame alone in its
message (moderate load) and per frame of a batch of BATCH_FRAMES (a loaded link); "a request"
sums what one request costs in the three processes, with the id it is given at the front
where the frames carry one (`request_id`) and the host's stamping of that id on its answer.

The figures are the minimum over the repeats of timeit's mean (the least disturbed run: other
processes share the two cores). To compare with code without request ids, run this file with
that tree first on the path: `PYTHONPATH=/other/tree python loadtest/link_frame_bench.py`.
"""

from __future__ import annotations

import argparse
import itertools
import timeit
from collections.abc import Callable

import msgspec

import proto
from proto.frames import Answer, AnswerBatch, Balances, Request, RequestBatch
from proto.link_codec import encode_link_message_into, take_link_messages

# Frames per message of a loaded link (the writer's batches at 5,000/s hold dozens).
BATCH_FRAMES = 64
HAS_REQUEST_ID = "request_id" in Request.__struct_fields__
# The ids' counter after a day at the target rate: how long the ids in the frames are.
STEADY_COUNTER = 5_000 * 86_400


def _request(correlation_id: int, request_id: str) -> Request:
    """A 0200 purchase as the front's normalise makes it."""
    request = Request(
        correlation_id=correlation_id, mti="0200", terminal_code="TERM0001",
        merchant_code="MERCHANT0000001", stan="000042", transmission_time="1123101500",
        received_at_ns=1_795_000_000_123_456_789, processing_code="000000",
        pan="6221880000000018", amount=12_345, currency="156", batch_number=1,
        entry_mode="021")
    return msgspec.structs.replace(request, request_id=request_id) if HAS_REQUEST_ID \
        else request


def _answer(correlation_id: int, request_id: str) -> Answer:
    """Its approval, as the host's `approved` makes it."""
    answer = Answer(correlation_id, "00", rrn="332810000042", auth_code="A00042",
                    balances=Balances(1_999, 1_234, 12), additional_data="PT004+012")
    return msgspec.structs.replace(answer, request_id=request_id) if HAS_REQUEST_ID \
        else answer


def _microseconds(function: Callable[[], object], number: int, repeat: int) -> float:
    return min(timeit.repeat(function, number=number, repeat=repeat)) / number * 1e6


def _encoded(message: RequestBatch | AnswerBatch) -> bytes:
    buffer = bytearray()
    encode_link_message_into(message, buffer)
    return bytes(buffer)


def _codec_figures(
    message: RequestBatch | AnswerBatch, frames: int, number: int, repeat: int,
) -> tuple[float, float, float]:
    """(encode µs, decode µs, bytes) per frame of `message`."""
    encoded = _encoded(message)
    assert take_link_messages(encoded)[0] == [message], "the codec round-trips"

    def encode() -> None:
        encode_link_message_into(message, bytearray())

    encode_us = _microseconds(encode, number, repeat) / frames
    decode_us = _microseconds(lambda: take_link_messages(encoded), number, repeat) / frames
    return encode_us, decode_us, len(encoded) / frames


def _request_ids() -> Callable[[], str]:
    """The front's generator where the frames carry ids, else a stand-in that gives ""."""
    if not HAS_REQUEST_ID:
        return lambda: ""
    from acquirer_front.request_ids import RequestIds
    return RequestIds().next


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000, help="calls per repeat")
    parser.add_argument("--repeat", type=int, default=7, help="repeats (the minimum is kept)")
    arguments = parser.parse_args()
    number, repeat = arguments.number, arguments.repeat
    next_id = _request_ids()
    # An id as they are after a day of traffic (a counter in the millions), not the first.
    request_id = next_id()[:-1] + format(STEADY_COUNTER, "x") if HAS_REQUEST_ID else ""
    print(f"proto from {proto.__file__}; request_id in the frames: {HAS_REQUEST_ID}"
          f" (e.g. {request_id!r})")
    print(f"{'frame':<10}{'batch':>6}{'encode µs':>11}{'decode µs':>11}{'bytes':>8}")
    per_request = 0.0
    for frames in (1, BATCH_FRAMES):
        messages: list[tuple[str, RequestBatch | AnswerBatch]] = [
            ("Request", RequestBatch([_request(index, request_id)
                                      for index in range(1, frames + 1)])),
            ("Answer", AnswerBatch([_answer(index, request_id)
                                    for index in range(1, frames + 1)])),
        ]
        both_us = 0.0
        for name, message in messages:
            encode_us, decode_us, size = _codec_figures(
                message, frames, number // frames or 1, repeat)
            print(f"{name:<10}{frames:>6}{encode_us:>11.3f}{decode_us:>11.3f}{size:>8.1f}")
            both_us += encode_us + decode_us
        if frames == 1:
            per_request = 2 * both_us
    request, answer = _request(7, request_id), _answer(7, request_id)
    counter = itertools.count(1)
    restamp_request_us = _microseconds(
        lambda: msgspec.structs.replace(request, correlation_id=next(counter)), number, repeat)
    restamp_answer_us = _microseconds(
        lambda: msgspec.structs.replace(answer, correlation_id=next(counter)), number, repeat)
    id_us = _microseconds(next_id, number, repeat)
    host_stamp_us = 0.0
    if HAS_REQUEST_ID:
        bare = _answer(7, "")
        host_stamp_us = _microseconds(
            lambda: msgspec.structs.replace(bare, request_id=request_id), number, repeat)
    print(f"switch re-stamp: Request {restamp_request_us:.3f} µs, Answer "
          f"{restamp_answer_us:.3f} µs; request id {id_us:.3f} µs; host's stamp of the id on "
          f"its answer {host_stamp_us:.3f} µs")
    total_us = per_request + restamp_request_us + restamp_answer_us + id_us + host_stamp_us
    print(f"a request, frames alone on their links: {total_us:.2f} µs of CPU in the three "
          "processes (2 x encode and decode of its Request and its Answer, the switch's two "
          "re-stamps, its id and the host's stamp)")


if __name__ == "__main__":
    main()
