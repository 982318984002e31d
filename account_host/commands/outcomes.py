"""Where the writer's answers to commands go: the outcome is already in the database when a
batch is answered (its statement wrote it), so an answer is only logged; a 96 (the batch did
not land, the state was reloaded) has the listener read the pending commands again."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from proto.codes import ResponseCode
from proto.frames import Answer

log = structlog.get_logger("account_host.commands")


class CommandOutcomes:
    """The writer's peer for commands, as a link's peer is for requests."""

    def __init__(self, read_again: Callable[[], None]) -> None:
        self._read_again = read_again
        # Commands queued for the writer and not answered yet: the listener does not queue
        # them again when it reads the pending ones anew (a file of 10^5 would be queued
        # again at every notification). Bounded by the writer's queue and its batches.
        self.queued: set[int] = set()

    async def send_answers(self, answers: list[Answer]) -> None:
        queued = self.queued
        for answer in answers:
            queued.discard(answer.correlation_id)
        failed = [answer.correlation_id for answer in answers
                  if answer.response_code == ResponseCode.SYSTEM_ERROR]
        if failed:
            log.warning("commands_not_applied", commands=failed, retry="read again")
            self._read_again()
