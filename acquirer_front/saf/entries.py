"""What goes into the store-and-forward queue: a 0420 reversal advice and why it is owed, or a
0500 whose batch must still close.

The front reverses a 0200 that could have posted and whose outcome the terminal did not learn
(host interface §1, §4): 39 = 68 (timeout, the spec's reason for a reversal of an answer not
delivered), 90 = the original's MTI, STAN and field 7, the other fields as the original's, and
its own field 7, fixed once, so that every resend is a retransmission of one advice. A
terminal's own 0420 is kept exactly as the terminal sent it: the host then sees the terminal's
retransmission and the front's delivery as one request (same MTI, 41, 11, 7 and content).

A 0500 that went to the host and got 91 or no answer is owed too: "0500 closes it, whatever
it answers" (host interface §4), and with several partitions some of its parts may have closed
while one did not (docs/plans/partitions.md §3, "Closing atomically enough"). It is stored as
the terminal sent it and resent as a retransmission of itself (same MTI, 41, 11 and 7): parts
that closed answer their first answer, the others close. Its row's identity in place of field
90 is its own MTI, STAN and field 7, in field 90's form.

At rest the 0420 (which holds the full PAN) is sealed under the saf_seal data key, bound to
its row's identity (terminal, original data: one pending row each), so a dump of front_saf
holds no card number; `pan_masked` beside it is what operators list.
"""

from __future__ import annotations

import time
from enum import StrEnum

import msgspec

from proto.codes import Mti
from proto.fields import OriginalData, encode_original_data
from proto.frames import Request
from proto.keys.sealing import open_sealed, seal
from proto.pan import mask_pan

# Only financial requests that could have posted are reversed. Not 0220: its terminal resends
# the advice until answered, and reversing it would undo a sale that happened offline. Not
# 0100 or 0800 (they move nothing) nor 0500 (it closes a batch whatever it answers).
REVERSED_MTIS = frozenset({Mti.FINANCIAL})
REVERSAL_REASON_TIMEOUT = "68"

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Request)


class Origin(StrEnum):
    UNDELIVERED = "undelivered"   # the front could not deliver the approval to the terminal
    NO_ANSWER = "no_answer"       # no answer in time (or 91): the host may have posted
    TERMINAL = "terminal"         # the terminal's own 0420, taken while the host was away
    RECONCILIATION = "reconciliation"   # a 0500 answered 91 or not at all: its batch must close


class SafEntry(msgspec.Struct, frozen=True):
    """One row to store: the 0420 to send and the columns operators list it by."""

    origin: Origin
    request: Request

    @property
    def pan_masked(self) -> str | None:
        return mask_pan(self.request.pan) if self.request.pan else None

    @property
    def original_data(self) -> str:
        """The row's identity: field 90 of a 0420; a 0500's own MTI, STAN and field 7."""
        return owed_key(self.request)


def owed_key(request: Request) -> str:
    """What front_saf.original_data holds for `request` (one pending row each)."""
    if request.original_data is not None:
        return request.original_data
    return encode_original_data(OriginalData(request.mti, request.stan,
                                             request.transmission_time))


def is_reversible(request: Request) -> bool:
    return request.mti in REVERSED_MTIS


def reversal_of(original: Request, origin: Origin, now_s: float | None = None) -> SafEntry:
    """The front's 0420 of `original` (a 0200), stamped now (field 7, UTC)."""
    assert is_reversible(original), original.mti
    stamp = time.gmtime(time.time() if now_s is None else now_s)
    advice = msgspec.structs.replace(
        original,
        correlation_id=0,
        mti=Mti.REVERSAL_ADVICE,
        transmission_time=time.strftime("%m%d%H%M%S", stamp),
        received_at_ns=time.time_ns(),
        reason_code=REVERSAL_REASON_TIMEOUT,
        original_data=encode_original_data(OriginalData(
            original.mti, original.stan, original.transmission_time)),
        card_password=None,   # a reversal never needs one (§4): nothing of it is stored
    )
    return SafEntry(origin, advice)


def terminal_advice(request: Request) -> SafEntry:
    """A terminal's own 0420, kept as it came (only the link's correlation id is not)."""
    assert request.mti == Mti.REVERSAL_ADVICE and request.original_data is not None
    return SafEntry(Origin.TERMINAL, msgspec.structs.replace(request, correlation_id=0))


def owed_reconciliation(request: Request) -> SafEntry:
    """A 0500 to send again until the host decides it, kept as the terminal sent it."""
    assert request.mti == Mti.RECONCILIATION and request.original_data is None
    return SafEntry(Origin.RECONCILIATION, msgspec.structs.replace(
        request, correlation_id=0, card_password=None))


def encode_request(request: Request) -> bytes:
    return _encoder.encode(request)


SAF_SEAL_PURPOSE = b"jifen/saf/v1"


def saf_associated_data(terminal_code: str, original_data: str | None) -> bytes:
    return b"/".join((SAF_SEAL_PURPOSE, terminal_code.encode(), (original_data or "").encode()))


def seal_request(seal_key: bytes, request: Request) -> bytes:
    """The 0420 (or 0500) as stored in front_saf.request."""
    return seal(seal_key, encode_request(request),
                saf_associated_data(request.terminal_code, owed_key(request)))


def open_request(
    seal_key: bytes, sealed: bytes, terminal_code: str, original_data: str, correlation_id: int,
) -> Request:
    """A stored 0420; KeyStoreError when it does not open (another row's, or another key)."""
    data = open_sealed(seal_key, sealed, saf_associated_data(terminal_code, original_data))
    return decode_request(data, correlation_id)


def decode_request(data: bytes, correlation_id: int) -> Request:
    return msgspec.structs.replace(_decoder.decode(data), correlation_id=correlation_id)
