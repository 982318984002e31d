"""What a run counted: answers by kind, errors by code, latency, and a few failed answers in full.

One Tally is shared by every terminal of a run (one event loop, so no locks). Throughput and
latency count the answers that arrived inside the measured window; errors count everywhere
(warm-up and drain too), so a run reports "0 errors" only if no answer at all was wrong.
"""

from __future__ import annotations

from collections import Counter

import msgspec

from loadtest.latency import LatencyRecorder
from loadtest.mix import Kind
from proto.codes import ResponseCode
from proto.errors import IsoDecodeError
from proto.iso_codec import decode_iso
from proto.pan import mask_pan

# Failed answers kept in full for the report; past these, only counts.
ERROR_SAMPLES_MAX = 5
APPROVED = ResponseCode.APPROVED.encode()
NEVER_NS = 2**63


class ErrorReason:
    """Errors that are not a response code."""

    NO_ANSWER = "no answer"             # still unanswered when the drain ended
    CONNECTION_LOST = "connection lost"  # pending when the front closed the connection
    UNMATCHED = "unmatched"             # an answer whose MTI + 11 no request of ours had
    WRONG_TERMINAL = "wrong 41"         # matched by MTI + 11, but another terminal's 41
    GARBLED = "garbled"                 # not decodable up to field 41, or a bad frame
    BACKLOG = "not sent"                # open loop: too many unanswered, so not sent


class ErrorSample(msgspec.Struct, frozen=True):
    terminal_code: str
    kind: str
    reason: str
    answer: dict[str, str] | None      # decoded, card number masked; None for no answer


class Tally:
    def __init__(self, kinds: list[Kind]) -> None:
        self.kinds = kinds
        self.expected_codes = [frozenset(code.encode() for code in kind.expected_codes)
                               for kind in kinds]
        self.window_start_ns = NEVER_NS
        self.window_end_ns = NEVER_NS
        self.sent = 0
        self.answered = 0
        self.approved_total = 0          # every phase: for the progress line
        self.correct_in_window = [0] * len(kinds)
        self.approved_in_window = [0] * len(kinds)
        self.errors: Counter[tuple[str, str]] = Counter()    # (kind, code or reason) -> count
        self.error_samples: list[ErrorSample] = []
        self.latency = LatencyRecorder()

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def answer(self, kind_index: int, code: bytes, sent_ns: int, received_ns: int) -> bool:
        """Count one matched answer; False when its code is not one the kind expects."""
        self.answered += 1
        if code == APPROVED:
            self.approved_total += 1
        if code not in self.expected_codes[kind_index]:
            self.errors[self.kinds[kind_index].name, code.decode(errors="replace")] += 1
            return False
        if self.window_start_ns <= received_ns < self.window_end_ns:
            self.correct_in_window[kind_index] += 1
            if code == APPROVED:
                self.approved_in_window[kind_index] += 1
            self.latency.record_us((received_ns - sent_ns) // 1000)
        return True

    def error(self, kind: str, reason: str, count: int = 1) -> None:
        self.errors[kind, reason] += count

    def wants_sample(self) -> bool:
        return len(self.error_samples) < ERROR_SAMPLES_MAX

    def sample(self, terminal_code: str, kind: str, reason: str, body: bytes | None) -> None:
        if not self.wants_sample():
            return
        answer = None
        if body is not None:
            try:
                answer = decode_iso(body)
            except IsoDecodeError:
                answer = {"raw": body[:200].decode("ascii", errors="replace")}
            if "2" in answer:
                answer["2"] = mask_pan(answer["2"])
        self.error_samples.append(ErrorSample(terminal_code, kind, reason, answer))
