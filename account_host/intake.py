"""From the links to the writer: every request of a link batch goes into the bounded queue.
When the queue is full the link's reader waits, so back-pressure reaches the switch."""

from __future__ import annotations

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from account_host.queue_items import QueueItem
from proto.frames import Request
from proto.links import LinkPeer


class Intake:
    def __init__(self, queue: MemoryObjectSendStream[QueueItem]) -> None:
        self._queue = queue

    async def on_requests(self, peer: LinkPeer, requests: list[Request]) -> None:
        queue = self._queue
        for request in requests:
            try:
                queue.send_nowait((peer, request))
            except anyio.WouldBlock:
                await queue.send((peer, request))
