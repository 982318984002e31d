"""A back-office command as it travels through the writer's queue: the row's payload, and
what the host read beside it to check it (the approval, the cards' PAN hashes and statuses)."""

from __future__ import annotations

from typing import ClassVar

import msgspec

from proto.host_commands import CommandKind, CommandPayload, GiftPayload, SweepPayload
from proto.purchase_imports import PurchasePayload


class Command(msgspec.Struct, frozen=True):
    # The command's id: the writer answers it like a request, by correlation id.
    correlation_id: int
    kind: CommandKind
    # None when the row's payload did not decode or did not fit its kind (`invalid` says why).
    payload: CommandPayload | None
    invalid: str | None
    # An approved request for the same action and payload, decided by someone else.
    approved: bool
    card_hmac: bytes        # b"" for a gift command
    card_status: str        # "" for a gift command
    other_hmac: bytes | None = None
    other_status: str | None = None
    # A gift command's payload (proto.host_commands.GIFT_KINDS); `payload` is then None.
    gift: GiftPayload | None = None
    # A sweep's (proto.host_commands.SWEEP_KINDS): its payload, and the PAN hashes of the
    # cards it names that exist, by card id (the host finds its cards by them).
    sweep: SweepPayload | None = None
    sweep_cards: tuple[tuple[int, bytes], ...] = ()
    # An imported purchase's (proto.host_commands.IMPORT_KINDS): the line of the file.
    purchase: PurchasePayload | None = None
    # A transfer's step (proto.host_commands.TRANSIT_KINDS): its transfer, and what its debit
    # carried as this partition's copy of the debit's row says (None: not decided there yet).
    transfer_id: int | None = None
    carried: bytes | None = None
    # The alliances of the row's two cards, as the cards' rows say (a step's other card is
    # another partition's: only its row is here).
    card_alliance_id: int | None = None
    other_alliance_id: int | None = None

    # What the writer's metrics and failure log read of a request.
    mti: ClassVar[str] = "command"
    pan: ClassVar[None] = None
    request_id: ClassVar[str] = ""   # no terminal's request: the command id names it

    def key_text(self) -> str:
        return f"command/{self.correlation_id}"
