"""The shape of a transaction kind: one module per kind, each exporting a TransactionKind."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from account_host.context import ApplyContext
from account_host.state import Card
from proto.codes import ResponseCode
from proto.frames import Answer, Request

Handler = Callable[[ApplyContext, Request, "Card | None"], Answer]
"""Decide one request and, when approved, apply it to the state and the batch. It checks
everything first and writes after; past the write it must not fail."""


class TransactionKind(msgspec.Struct, frozen=True):
    name: str
    handler: Handler
    # Whether the card check (14, 41, 43, 05, 54) comes before the handler; the handler then
    # gets the card, else None.
    needs_card: bool


def decline(request: Request, code: ResponseCode) -> Answer:
    return Answer(request.correlation_id, code)
