"""Internal frames: what crosses the links between front, switch and account host.

A terminal's ISO message is decoded once, at the front, into a `Request`; the host answers with
an `Answer`, and the front alone turns that back into ISO. Field numbers are in comments. The
structs are array-like, so that msgpack carries values without field names.

`request_id` is last in both, with a default, for three reasons: a peer of the release before
reads the frame (msgspec ignores trailing elements it does not know) and its frames read here
(the missing element takes the default); the 0420s stored sealed in front_saf before it
existed still open; and the host's remembered answers (host_requests) are stored without it.
A field added later goes after it, with a default, for the same reasons
(`Request.reconciliation_parts`). A new link message (`KeysWanted`, `KeyDigests`) is one a peer
of the release before cannot read: the switch sends it only with several hosts configured, a
set-up of this release, so the hosts are upgraded before their switch.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

# Request ids named in one log line about many requests (a link lost with the requests on it, a
# batch that failed, requests past their deadline); the line's count says how many there were.
# 20 ids are about 300 characters: a line stays readable, and a storm of them stays small.
REQUEST_IDS_LOGGED_MAX = 20
# A request id's length: the front's are 14-20 characters (acquirer_front.request_ids); a
# longer one is a malformed frame, so that a peer cannot put a long string in every log line.
REQUEST_ID_LENGTH_MAX = 32
RequestId = Annotated[str, msgspec.Meta(max_length=REQUEST_ID_LENGTH_MAX)]
# Parts of a reconciliation the switch fans out: one per partition, whose numbers are 8 bits
# (migration 029); a larger count is a malformed frame.
RECONCILIATION_PARTS_MAX = 256
ReconciliationParts = Annotated[int, msgspec.Meta(ge=0, le=RECONCILIATION_PARTS_MAX)]


class Totals(msgspec.Struct, array_like=True, frozen=True):
    """Reconciliation totals of one terminal batch (fields 74-77 and 86-89)."""

    purchases_count: int = 0     # 74
    purchases_fen: int = 0       # 86
    returns_count: int = 0       # 75
    returns_fen: int = 0         # 87
    redemptions_count: int = 0   # 76
    redemptions_points: int = 0  # 88
    loads_count: int = 0         # 77
    loads_fen: int = 0           # 89


class Request(msgspec.Struct, array_like=True, frozen=True):
    """A validated terminal request, normalised. Absent ISO fields are None."""

    correlation_id: int            # set by whoever sends it over a link, unique on that link
    mti: str                       # "0200"
    terminal_code: str             # 41
    merchant_code: str             # 42
    stan: str                      # 11
    transmission_time: str         # 7, MMDDhhmmss UTC
    received_at_ns: int            # wall clock at the front, ns since the epoch
    processing_code: str | None = None   # 3
    pan: str | None = None               # 2
    amount: int | None = None            # 4, fen (currency 156) or points (999)
    currency: str | None = None          # 49
    rrn: str | None = None               # 37: the original's, in a return
    reason_code: str | None = None       # 39: reversal reason in 0400/0420
    additional_data: str | None = None   # 48, raw TLV
    batch_number: int | None = None      # 60
    original_data: str | None = None     # 90
    network_code: str | None = None      # 70
    entry_mode: str | None = None        # 22
    totals: Totals | None = None         # 74-77, 86-89 of a 0500
    # 52, never as sent: the front's security module turns the PIN block into the password's
    # verification value (proto.card_password); b"" for a block that is not well formed, None
    # when no password was offered (or the request needs none, or the terminal need not MAC).
    card_password: bytes | None = None
    # The front's id of the terminal request this is (acquirer_front.request_ids), for the
    # logs of all three processes; a reversal the front owes keeps its original's. Not ISO.
    request_id: RequestId = ""
    # A 0500 the switch sent to every partition: how many parts it asked for (0: the one host
    # has the whole batch). A part closes its own share of the batch and answers its own totals
    # whatever its code, for the switch to sum (docs/plans/partitions.md §3). Not ISO.
    reconciliation_parts: ReconciliationParts = 0

    def key_text(self) -> str:
        """The request's key for logs: MTI/41/11."""
        return f"{self.mti}/{self.terminal_code}/{self.stan}"

    def __repr__(self) -> str:
        # Never the password's verification value, whoever prints a request.
        return f"Request({self.key_text()}, card_password={self.card_password is not None})"


class Balances(msgspec.Struct, array_like=True, frozen=True):
    """What field 54 carries: balances after the transaction and the points it moved."""

    points: int
    stored_value_fen: int
    points_moved: int = 0


class Answer(msgspec.Struct, array_like=True, frozen=True):
    """The host's answer; the front echoes the request's fields around it."""

    correlation_id: int
    response_code: str                   # 39
    rrn: str | None = None               # 37
    auth_code: str | None = None         # 38
    balances: Balances | None = None     # 54
    additional_data: str | None = None   # 48, TLV
    batch_number: int | None = None      # 60
    # 74-77, 86-89: the host's, in a 0510 with 95; a reconciliation part's whatever its code
    totals: Totals | None = None
    # Its request's request_id, stamped on by the host as the answer leaves (not stored).
    request_id: RequestId = ""


class RequestBatch(msgspec.Struct, tag="rq", array_like=True):
    requests: list[Request]


class AnswerBatch(msgspec.Struct, tag="an", array_like=True):
    answers: list[Answer]


class Ping(msgspec.Struct, tag="pi", array_like=True):
    nonce: int


class Pong(msgspec.Struct, tag="po", array_like=True):
    nonce: int


class Closing(msgspec.Struct, tag="cl", array_like=True):
    """Server to client: this server is stopping (a drain). Send no more requests on this
    connection; those already sent are answered, then the server closes it."""


class ClosingSeen(msgspec.Struct, tag="cs", array_like=True):
    """Client to server, after a `Closing`: nothing more follows on this connection. Every
    request sent before it has arrived before it (one TCP stream), so the server knows which
    answers it still owes."""


# Digests in one `KeyDigests`: 32 KiB, under the smallest link_message_size_max (64 KiB) of
# any peer, and about 5 ms of a host's loop to compute between two messages.
KEY_DIGESTS_PER_MESSAGE_MAX = 4_096


class KeysWanted(msgspec.Struct, tag="kw", array_like=True):
    """Switch to host, when its link comes up after the switch started with several hosts: the
    digests of the retransmission keys this host remembers from `since_s` (Unix seconds) on,
    so that a retransmission goes where its original went (switch/key_memory.py)."""

    since_s: int


class KeyDigests(msgspec.Struct, tag="kd", array_like=True):
    """Host to switch, the answer to `KeysWanted`, in as many messages as it takes:
    `digests` is KEY_DIGESTS_PER_MESSAGE_MAX 8-byte digests at most
    (proto.retransmission.key_digest_bytes, concatenated), none received after
    `received_at_s`; `done` on the last message, which may carry none."""

    digests: Annotated[bytes, msgspec.Meta(max_length=8 * KEY_DIGESTS_PER_MESSAGE_MAX)]
    received_at_s: int
    done: bool = False


LinkMessage = (RequestBatch | AnswerBatch | Ping | Pong | Closing | ClosingSeen | KeysWanted
               | KeyDigests)
