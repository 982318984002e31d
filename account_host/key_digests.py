"""A switch's `KeysWanted`, answered from the retransmission memory (no query): the digests of
the keys this host remembers from `since_s` on, in `KeyDigests` messages of
KEY_DIGESTS_PER_MESSAGE_MAX, the last one `done`. A switch restarted with several hosts asks,
so that a retransmission still goes where its original went (docs/plans/partitions.md §4).

Each message is computed between two turns of the loop (about 5 ms of digests) and sent
before the next is computed, so that the writer and the links go on meanwhile and one message
at a time is held. The keys of PAN-less requests (sign-on, 0500) come too: the switch never
looks them up, and they are a few of many.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from account_host.idempotency import RetransmissionMemory
from proto.frames import KEY_DIGESTS_PER_MESSAGE_MAX, KeyDigests, KeysWanted
from proto.links import LinkPeer
from proto.retransmission import key_digest_bytes

log = structlog.get_logger("account_host.key_digests")


async def send_key_digests(
    memory: Callable[[], RetransmissionMemory | None], peer: LinkPeer, wanted: KeysWanted,
) -> None:
    """serve_links' on_keys_wanted; `memory` is the writer's current one (None before the
    state is loaded: then none are sent, only `done`)."""
    current = memory()
    keys = current.keys_since(wanted.since_s) if current is not None else iter(())
    chunk: list[bytes] = []
    newest_s = wanted.since_s
    sent = 0
    for key, received_at_s in keys:
        chunk.append(key_digest_bytes(key))
        newest_s = max(newest_s, received_at_s)
        if len(chunk) == KEY_DIGESTS_PER_MESSAGE_MAX:
            if not await peer.send_message(KeyDigests(b"".join(chunk), newest_s)):
                log.info("key_digests_abandoned", link=peer.name, digests=sent)
                return
            sent += len(chunk)
            chunk = []
            newest_s = wanted.since_s
    if await peer.send_message(KeyDigests(b"".join(chunk), newest_s, done=True)):
        log.info("key_digests_sent", link=peer.name, since_s=wanted.since_s,
                 digests=sent + len(chunk))
