"""What the crash test's terminals remember: every request they sent, the answer each got (or
that none came), and whether the terminal reversed it. The record lives in the generator's
memory, which no kill touches, and is what the journal is checked against at the end.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from proto.codes import ResponseCode

Fields = dict[str, str]

# Answers to a reversal that acknowledge it (host interface §4): done, or original never seen.
REVERSAL_ACKNOWLEDGED = frozenset({ResponseCode.APPROVED.value,
                                   ResponseCode.ORIGINAL_NOT_FOUND.value})


@dataclass(slots=True)
class SentRequest:
    """One financial request as it went on the wire (fields 7 and 11 included)."""

    fields: Fields
    answer_code: str | None = None       # field 39 of its answer; None: no answer in time
    answered_at: float | None = None     # time.monotonic() when the answer came
    reversal_code: str | None = None     # the answer that acknowledged the terminal's reversal
    reversal_attempts: int = 0

    @property
    def terminal_code(self) -> str:
        return self.fields["41"]

    @property
    def key(self) -> tuple[str, str, str, str]:
        """The journal's idempotency key: terminal (41), MTI, STAN (11), field 7."""
        return (self.fields["41"], self.fields["t"], self.fields["11"], self.fields["7"])

    @property
    def approved(self) -> bool:
        return self.answer_code == ResponseCode.APPROVED

    @property
    def reversed_by_terminal(self) -> bool:
        return self.reversal_code is not None


@dataclass(slots=True)
class Ledger:
    """Every request of the run, in the order sent, and the counters the run prints."""

    requests: list[SentRequest] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)    # field 39 -> count
    approvals: int = 0
    no_answer: int = 0
    reversal_requests: int = 0       # 0400s sent, retries included
    reversal_answers: Counter[str] = field(default_factory=Counter)   # field 39 -> count
    reversals_acknowledged: int = 0

    def sent(self, fields: Fields) -> SentRequest:
        request = SentRequest(fields)
        self.requests.append(request)
        return request

    def withdrawn(self, request: SentRequest) -> None:
        """A request that never went on the wire (its connection had been closed): not sent."""
        for position in range(len(self.requests) - 1, -1, -1):   # it is one of the last
            if self.requests[position] is request:
                del self.requests[position]
                return

    def answered(self, request: SentRequest, code: str) -> None:
        request.answer_code = code
        request.answered_at = time.monotonic()
        self.answers[code] += 1
        if code == ResponseCode.APPROVED:
            self.approvals += 1

    def unanswered(self) -> None:
        self.no_answer += 1

    def reversal_answered(self, request: SentRequest, code: str) -> bool:
        """Whether `code` acknowledges the reversal (then the request counts as reversed)."""
        request.reversal_attempts += 1
        self.reversal_requests += 1
        self.reversal_answers[code] += 1
        if code not in REVERSAL_ACKNOWLEDGED:
            return False
        request.reversal_code = code
        self.reversals_acknowledged += 1
        return True
