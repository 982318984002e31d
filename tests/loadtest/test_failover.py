"""loadtest.failover's own parts; the tool's run on a real cluster is the long form of
tests/failover/test_failover_under_load.py (docs/reliability.md, "Fail-over")."""

from __future__ import annotations

import pytest

from loadtest.crash_record import SentRequest
from loadtest.failover import _without_approvals_s, parse_options


def answered(at: float, code: str = "00") -> SentRequest:
    return SentRequest({"t": "0200", "11": "000001", "7": "1207120000", "41": "TERM0001"},
                       answer_code=code, answered_at=at)


def test_time_without_approvals_spans_the_kill():
    requests = [answered(1.0), answered(2.0), answered(2.5, "96"), answered(5.5),
                answered(5.6), answered(9.0, None)]
    # Killed at 2.2: the approvals at 2.0 and 5.5 are the wait; the 96 is no approval.
    assert _without_approvals_s(requests, killed_at=2.2) == pytest.approx(3.5)
    # An answer after the kill to a batch committed before it counts as an approval.
    assert _without_approvals_s(requests, killed_at=1.9) == pytest.approx(3.5)
    assert _without_approvals_s([answered(1.0)], killed_at=2.0) == 0.0


def test_options():
    options = parse_options(["--rounds", "3", "--rate", "100", "--set", "host.batch_size_max=64"])
    assert (options.rounds, options.rate_per_s, options.overrides) == (
        3, 100.0, ["host.batch_size_max=64"])
    with pytest.raises(SystemExit):
        parse_options(["--rounds", "0"])
