"""Where the writer's answers to commands go: the outcome is already in the database when a
batch is answered (its statement wrote it), so an answer is only logged; a 96 (the batch did
not land, the state was reloaded) has the listener read the pending commands again.

It also keeps which commands are queued for the writer and not answered yet: the listener
does not queue them twice, and queues at most QUEUED_COMMANDS_MAX at a time, so that a
merchant's file of 10^5 lines never stands between a terminal's request and the writer for
more than about a second; once half of them are answered, it reads the rest."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from proto.codes import ResponseCode
from proto.frames import Answer

log = structlog.get_logger("account_host.commands")

# Commands queued for the writer and not answered yet: two full batches (batch_size_max
# 2,000), enough to keep the group commits full, about a second of the writer's time at the
# rate it posts them, so a terminal's request queued behind them still gets its answer well
# inside the front's 10 s.
QUEUED_COMMANDS_MAX = 4_000


class CommandOutcomes:
    """The writer's peer for commands, as a link's peer is for requests."""

    def __init__(self, read_again: Callable[[], None]) -> None:
        self._read_again = read_again
        # Commands queued for the writer and not answered yet (at most QUEUED_COMMANDS_MAX):
        # the listener does not queue them again when it reads the pending ones anew.
        self.queued: set[int] = set()
        # The listener left pending commands unread for want of room: it reads again once
        # half the room is free.
        self.starved = False

    @property
    def room(self) -> int:
        """How many more commands the listener may queue now."""
        return max(0, QUEUED_COMMANDS_MAX - len(self.queued))

    async def send_answers(self, answers: list[Answer]) -> None:
        queued = self.queued
        for answer in answers:
            queued.discard(answer.correlation_id)
        failed = [answer.correlation_id for answer in answers
                  if answer.response_code == ResponseCode.SYSTEM_ERROR]
        if failed:
            log.warning("commands_not_applied", commands=failed, retry="read again")
            self._read_again()
        elif self.starved and len(queued) <= QUEUED_COMMANDS_MAX // 2:
            self.starved = False
            self._read_again()
