"""A tiny fake acquirer front: a real TCP listener that decodes frames and answers.

It answers each request with MTI + 10, echoing 2, 3, 4, 11, 41, 42, 49 and 60 and adding 39,
by default at once. `hold` makes it keep that many requests and answer them in reverse order
(pipelined answers out of order); `silent` makes it never answer; `answer` replaces the
default answer of each request (return None to stay silent).
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from proto.codes import answer_mti
from proto.errors import FramingError
from proto.framing import Tpdu, encode_frame, read_frame
from proto.iso_codec import decode_iso, encode_iso

ECHOED_FIELDS = ("2", "3", "4", "11", "41", "42", "49", "60")


def default_answer(request: dict[str, str]) -> dict[str, str]:
    answer = {name: request[name] for name in ECHOED_FIELDS if name in request}
    answer["t"] = answer_mti(request["t"])
    answer["39"] = "00"
    return answer


class FakeFront:
    def __init__(self) -> None:
        self.port = 0
        self.hold = 1
        self.silent = False
        self.answer: Callable[[dict[str, str]], dict[str, str] | None] = default_answer
        self.requests: list[tuple[Tpdu, dict[str, str]]] = []
        self.bodies: list[bytes] = []
        self.closed_on_error = anyio.Event()

    async def handle(self, stream: SocketStream) -> None:
        receive = BufferedByteReceiveStream(stream)
        held: list[tuple[Tpdu, dict[str, str]]] = []
        async with stream:
            while True:
                try:
                    tpdu, body = await read_frame(receive)
                    request = decode_iso(body)
                except FramingError:
                    self.closed_on_error.set()
                    return  # the spec: close on a framing error
                except (anyio.IncompleteRead, anyio.EndOfStream, OSError):
                    return
                self.requests.append((tpdu, request))
                self.bodies.append(body)
                if self.silent:
                    continue
                held.append((tpdu, request))
                if len(held) < self.hold:
                    continue
                for held_tpdu, held_request in reversed(held):
                    answer = self.answer(held_request)
                    if answer is not None:
                        await stream.send(encode_frame(held_tpdu.swapped(), encode_iso(answer)))
                held.clear()
