"""The crash test's verdict: the terminals' record against the journal, by SQL, and `jifen audit`.

Every financial request the terminals sent is looked up in `transactions` by the journal's
idempotency key (terminal, MTI, STAN, field 7), with the reversals that name it. Then:
- an approval the terminal kept (did not reverse) is in the journal exactly once, unreversed:
  else it is a loss (absent, or undone behind the terminal's back);
- an approval the terminal reversed is in the journal once, reversed once;
- a request without an approval (no answer, 91, a decline) is absent, or present and reversed:
  else the member was charged for an answer the terminal never saw ("posted without approval");
- no request is posted twice, and nothing is reversed twice (double posts).
Whoever reversed (the terminal, or the front's own store-and-forward) does not matter: the
journal's reversal rows are counted, not the terminals' messages.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import anyio
import msgspec

from database import connect
from loadtest.crash_record import SentRequest

# Problems described one per line in the report (all are counted).
PROBLEMS_LISTED_MAX = 20
SQL_TIMEOUT_S = 120.0
AUDIT_TIMEOUT_S = 300.0

_CREATE_SENT_SQL = """
CREATE TEMPORARY TABLE crash_sent (
    position int PRIMARY KEY, terminal_code text, mti text, stan text, transmission_time text
) ON COMMIT DROP
"""
_POSTED_SQL = """
SELECT s.position, count(t.id) AS posted, coalesce(sum(r.reversals), 0)::int AS reversals
FROM crash_sent s
LEFT JOIN transactions t
  ON t.terminal_code = s.terminal_code AND t.mti = s.mti AND t.stan = s.stan
 AND t.transmission_time = s.transmission_time AND t.kind <> 'reversal'
LEFT JOIN LATERAL (
    SELECT count(*) AS reversals FROM transactions r
    WHERE r.original_transaction_id = t.id AND r.kind = 'reversal'
) r ON true
GROUP BY s.position
"""


class JournalCheck(msgspec.Struct, frozen=True):
    requests: int
    approvals_checked: int
    reversed_by_terminals: int      # requests whose terminal's reversal was acknowledged
    reversed_in_journal: int        # requests with a reversal row (whoever sent it)
    losses: int
    double_posts: int
    posted_without_approval: int
    problems: list[str]

    @property
    def clean(self) -> bool:
        return not (self.losses or self.double_posts or self.posted_without_approval)


class AuditOutcome(msgspec.Struct, frozen=True):
    exit_code: int
    output: str

    @property
    def clean(self) -> bool:
        return self.exit_code == 0


async def check_journal(database_url: str, requests: Sequence[SentRequest]) -> JournalCheck:
    assert len({request.key for request in requests}) == len(requests), "keys repeat"
    rows = await _posted(database_url, requests)
    problems: list[str] = []
    counts: Counter[str] = Counter()
    approvals = reversed_in_journal = 0
    for position, request in enumerate(requests):
        posted, reversals = rows[position]
        approvals += request.approved
        reversed_in_journal += reversals > 0
        problem = _classify(request, posted, reversals)
        if problem is None:
            continue
        category, text = problem
        counts[category] += 1
        if len(problems) < PROBLEMS_LISTED_MAX:
            problems.append(f"{category}: {_describe(request)}: {text}")
    return JournalCheck(
        requests=len(requests), approvals_checked=approvals,
        reversed_by_terminals=sum(request.reversed_by_terminal for request in requests),
        reversed_in_journal=reversed_in_journal, losses=counts["loss"],
        double_posts=counts["double post"],
        posted_without_approval=counts["posted without approval"], problems=problems,
    )


async def settle_journal(database_url: str, requests: Sequence[SentRequest], timeout_s: float,
                         poll_s: float = 0.5) -> JournalCheck:
    """The journal check, repeated while it is not clean, for at most `timeout_s`: reversals
    the front stored may still be on their way when the terminals are done."""
    journal = await check_journal(database_url, requests)
    with anyio.move_on_after(timeout_s):
        while not journal.clean:
            await anyio.sleep(poll_s)
            journal = await check_journal(database_url, requests)
    return journal


def outcome_lines(answers: dict[str, int], audit: AuditOutcome, journal: JournalCheck,
                  failures: list[str], requests: int, no_answer: int) -> list[str]:
    """A run's closing report lines: answers, audit, problems, failures and the counts."""
    listed = ", ".join(f"{code} {count}" for code, count in sorted(answers.items()))
    return [f"answers: {listed}", f"audit: exit {audit.exit_code}",
            *(f"PROBLEM {problem}" for problem in journal.problems),
            *(f"FAILED: {failure}" for failure in failures),
            f"requests: {requests}", f"without an answer: {no_answer}",
            f"approvals checked: {journal.approvals_checked}", f"losses: {journal.losses}",
            f"posted without approval: {journal.posted_without_approval}",
            f"double posts: {journal.double_posts}"]


def _classify(request: SentRequest, posted: int, reversals: int) -> tuple[str, str] | None:
    """(category, what is wrong), or None when the journal agrees with the terminal."""
    if posted > 1 or reversals > 1:
        return "double post", f"{posted} transactions, {reversals} reversals"
    if request.approved and not request.reversed_by_terminal:
        if posted == 0:
            return "loss", "approved, not in the journal"
        if reversals:
            return "loss", "approved and kept by the terminal, but reversed in the journal"
        return None
    if request.approved and posted == 0:
        return "loss", (f"approved, not in the journal (the terminal's reversal was answered "
                        f"{request.reversal_code})")
    if posted and not reversals:
        return "posted without approval", (
            f"answered {request.answer_code or 'nothing'}, reversed by the terminal "
            f"({request.reversal_code or 'no'}), posted and standing")
    return None


def _describe(request: SentRequest) -> str:
    fields = request.fields
    return (f"terminal {fields['41']} {fields['t']}/{fields['3']} STAN {fields['11']} "
            f"field 7 {fields['7']}")


async def _posted(database_url: str, requests: Sequence[SentRequest]) -> list[tuple[int, int]]:
    """Per request, in order: (transactions with its key, reversal rows naming them)."""
    with anyio.fail_after(SQL_TIMEOUT_S):
        connection = await connect(database_url, SQL_TIMEOUT_S)
        try:
            async with connection.transaction(isolation="repeatable_read", readonly=False):
                await connection.execute(_CREATE_SENT_SQL)
                await connection.copy_records_to_table(
                    "crash_sent", records=[(position, *request.key)
                                           for position, request in enumerate(requests)])
                fetched = await connection.fetch(_POSTED_SQL)
        finally:
            await connection.close()
    rows = [(0, 0)] * len(requests)
    for row in fetched:
        rows[row["position"]] = (row["posted"], row["reversals"])
    return rows


async def run_audit(config_path: Path) -> AuditOutcome:
    """`jifen audit` on the run's database, as an operator would run it: exit 0 is clean."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("JIFEN_DATABASE_URL", "JIFEN_CONFIG")}
    command = [sys.executable, "-m", "jifen.cli", "--config", str(config_path), "audit"]
    with anyio.fail_after(AUDIT_TIMEOUT_S):
        result = await anyio.run_process(command, check=False, env=env)
    output = (result.stdout + result.stderr).decode(errors="replace").strip()
    return AuditOutcome(result.returncode, output)
