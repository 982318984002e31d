"""The context one request carries through the steps (jPOS's Context, but typed)."""

from __future__ import annotations

from typing import Protocol

import msgspec

from acquirer_front.registry import Terminal
from proto.codes import ResponseCode
from proto.framing import Tpdu
from proto.iso_codec import IsoMessage


class Exchange(msgspec.Struct):
    """One terminal request from decoding to its answer. Steps fill in what they learn."""

    tpdu: Tpdu
    message: IsoMessage        # decoded once; "t" is the MTI
    body: bytes                # the ISO body as received: what a MAC is computed over
    received_at_ns: int        # wall clock, for the Request
    arrived_at: float          # anyio clock, for the answer latency
    deadline: float            # anyio clock: the answer is due by then (answer_timeout_s)
    # Given as it is read (acquirer_front.request_ids): in its Request and its log lines.
    request_id: str = ""
    # Set by validation: the key of proto.messages.REQUIRED_FIELDS.
    kind: tuple[str, str | None] | None = None
    # Set by identification: the registered terminal named by field 41.
    terminal: Terminal | None = None
    # Set by TranslatePassword: field 52 as the password's verification value (never the
    # PIN block itself), for Request.card_password.
    card_password: bytes | None = None

    @property
    def mti(self) -> str:
        return self.message["t"]

    def key_text(self) -> str:
        """The request's key for logs: MTI/41/11."""
        return f"{self.mti}/{self.message.get('41')}/{self.message.get('11')}"


class Step(Protocol):
    """A check of the order of checks: None to go on, or the response code to answer with."""

    def __call__(self, exchange: Exchange) -> ResponseCode | None: ...
