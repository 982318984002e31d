"""Where an event goes: one narrow seam, `send(event)`, which returns once the receiver has
taken it and raises DeliveryFailed otherwise. Two kinds: the SMS gateway's webhook (an HTTP
POST of the event's JSON, its id, unique over every partition (events.py), also in the
`Idempotency-Key` header, so that the gateway drops a repeat), and standard output
(development: one JSON line per event).

The POST uses the standard library's client in a worker thread (no HTTP client is among the
dependencies); its socket timeout bounds the connect and each read, and the whole attempt is
bounded again from the event loop.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from typing import IO, Protocol

import anyio
import anyio.to_thread

from notifications.errors import DeliveryFailed
from notifications.events import Event, encode_event

IDEMPOTENCY_HEADER = "Idempotency-Key"
# The most of an answer's body read (and logged in part) from a refusal.
_ANSWER_BYTES_MAX = 512


class Transport(Protocol):
    async def send(self, event: Event) -> None: ...


class WebhookTransport:
    def __init__(self, url: str, timeout_s: float) -> None:
        self._url = url
        self._timeout_s = timeout_s

    async def send(self, event: Event) -> None:
        body = encode_event(event)
        # The thread's own timeout fires first; this one only guards a stuck resolver.
        with anyio.fail_after(2 * self._timeout_s + 1):
            await anyio.to_thread.run_sync(self._post, event.id, body, abandon_on_cancel=True)

    def _post(self, event_id: int | str, body: bytes) -> None:
        request = urllib.request.Request(
            self._url, data=body, method="POST",
            headers={"Content-Type": "application/json", IDEMPOTENCY_HEADER: str(event_id)})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as answer:
                answer.read(_ANSWER_BYTES_MAX)
                status = answer.status
        except urllib.error.HTTPError as exc:
            raise DeliveryFailed(f"HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise DeliveryFailed(f"unreachable: {exc}") from exc
        if not 200 <= status < 300:
            raise DeliveryFailed(f"HTTP {status}")


class PrintTransport:
    """Development: the event as a JSON line on standard output, flushed."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream

    async def send(self, event: Event) -> None:
        stream = self._stream or sys.stdout
        stream.write(encode_event(event).decode() + "\n")
        stream.flush()
