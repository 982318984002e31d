"""Idempotent retransmission (host interface §4): the key, the content digest, the memory.

A request's key is (terminal, MTI, STAN, transmission time). Within the window, the same key
with the same content digest gets the first answer again, and with different content 94. The
memory holds every recorded request of the window (loaded from host_requests at start); it is
evicted an hour at a time, oldest first, since requests are remembered in time order. The same
key finds the original of a reversal (field 90), with what it posted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from hashlib import blake2b

import msgspec

from account_host.movements import Posted
from proto.frames import Answer, Request
from proto.retransmission import retransmission_key

# 16 bytes: collisions between two contents of one key are out of reach (2^-64 birthday bound
# over billions of keys), and the digest stays small in memory and in host_requests.
DIGEST_SIZE = 16
# Eviction granularity: one list of keys per hour keeps the bookkeeping to a pointer a request.
_BUCKET_S = 3_600
# `keys_since` walks from the newest key and stops at the first one this much older than asked:
# keys are remembered in the writer's clock order (a load in received_at order), so only a
# clock step back could put an older key after a newer one.
KEYS_SINCE_SLACK_S = 300

_encoder = msgspec.msgpack.Encoder()
_answer_decoder = msgspec.msgpack.Decoder(Answer)


def request_key(request: Request) -> str:
    return retransmission_key(request.terminal_code, request.mti, request.stan,
                              request.transmission_time)


def content_digest(request: Request) -> bytes:
    """Digest of the compared fields 2, 3, 4, 37, 42, 48, 49, 60 and 90."""
    content = (
        request.pan, request.processing_code, request.amount, request.rrn,
        request.merchant_code, request.additional_data, request.currency,
        request.batch_number, request.original_data,
    )
    return blake2b(_encoder.encode(content), digest_size=DIGEST_SIZE).digest()


def encode_answer(answer: Answer) -> bytes:
    return _encoder.encode(answer)


def replay_answer(stored: bytes, correlation_id: int) -> Answer:
    """The first answer, re-stamped for the retransmission that asks for it again."""
    return msgspec.structs.replace(_answer_decoder.decode(stored), correlation_id=correlation_id)


def stored_response_code(stored: bytes) -> str:
    """Field 39 of a remembered answer (a reversal asks whether its original was approved)."""
    return _answer_decoder.decode(stored).response_code


class Remembered(msgspec.Struct, gc=False, frozen=True):
    received_at_s: int
    digest: bytes
    answer: bytes
    # What the request posted, while a reversal may still name it (approved requests that
    # move value; None for the others).
    posted: Posted | None = None


class RetransmissionMemory:
    """Recorded requests of the last `window_s` seconds, by key."""

    def __init__(self, window_s: int) -> None:
        assert window_s > 0
        self.window_s = window_s
        self._entries: dict[str, Remembered] = {}
        self._buckets: deque[tuple[int, list[str]]] = deque()

    def __len__(self) -> int:
        return len(self._entries)

    def remembers(self, key: str) -> bool:
        """Whether `key` is held, within the window or not yet evicted (at load: whether a
        posting has a request to attach to)."""
        return key in self._entries

    def lookup(self, key: str, now_s: int) -> Remembered | None:
        """The remembered first request of `key`, if it was received within the window."""
        entry = self._entries.get(key)
        if entry is None or entry.received_at_s <= now_s - self.window_s:
            return None
        return entry

    def remember(
        self, key: str, digest: bytes, answer: bytes, received_at_s: int,
        posted: Posted | None = None,
    ) -> None:
        self._entries[key] = Remembered(received_at_s, digest, answer, posted)
        bucket = received_at_s // _BUCKET_S
        if not self._buckets or self._buckets[-1][0] < bucket:
            self._buckets.append((bucket, []))
        self._buckets[-1][1].append(key)

    def attach_posted(self, key: str, posted: Posted) -> bool:
        """Attach what a remembered request posted (at load); False if it is not remembered."""
        entry = self._entries.get(key)
        if entry is None:
            return False
        self._entries[key] = msgspec.structs.replace(entry, posted=posted)
        return True

    def evict(self, now_s: int) -> int:
        """Forget buckets wholly outside the window; returns how many keys were forgotten."""
        horizon_s = now_s - self.window_s
        forgotten = 0
        while self._buckets and (self._buckets[0][0] + 1) * _BUCKET_S <= horizon_s:
            _, keys = self._buckets.popleft()
            for key in keys:
                entry = self._entries.get(key)
                # A key recorded again after the window lives on in a newer bucket.
                if entry is not None and entry.received_at_s <= horizon_s:
                    del self._entries[key]
                    forgotten += 1
        return forgotten

    def keys_since(self, since_s: int) -> Iterator[tuple[str, int]]:
        """The keys received from `since_s` on, newest first, with when (a switch restarted
        with several hosts asks for them: docs/plans/partitions.md §4); a key remembered twice
        may come twice. The caller may pause between keys while the writer remembers and
        evicts: the walk goes back over the buckets' lists as they were when it began."""
        stop_s = since_s - KEYS_SINCE_SLACK_S
        entries = self._entries
        for keys in reversed([keys for _, keys in self._buckets]):
            for at in range(len(keys) - 1, -1, -1):
                key = keys[at]
                entry = entries.get(key)
                if entry is None:
                    continue
                if entry.received_at_s < stop_s:
                    return
                if entry.received_at_s >= since_s:
                    yield key, entry.received_at_s
