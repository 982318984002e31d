"""What an audit finds: one CheckResult per check, each naming its violations by their ids."""

from __future__ import annotations

import msgspec


class Violation(msgspec.Struct, frozen=True):
    """One broken invariant: the check's name, the ids of the rows involved (column name ->
    value, e.g. {"entry_id": 17}), and what is wrong, for a person."""

    check: str
    ids: dict[str, int | str | None]
    detail: str

    def describe(self) -> str:
        ids = " ".join(f"{name}={value}" for name, value in self.ids.items())
        return f"{self.check} {ids}: {self.detail}"


class CheckResult(msgspec.Struct, frozen=True):
    name: str
    description: str           # the invariant it checks
    violation_count: int       # all of them; `violations` lists the first few by id
    violations: list[Violation]
    elapsed_s: float
    # A documented deviation, listed for people but not a broken invariant: it does not make
    # the audit unclean (retransmission_key_split, key_split.py).
    warning: bool = False


class RowCounts(msgspec.Struct, frozen=True):
    """What was checked."""

    transactions: int
    entries: int
    postings: int
    accounts: int


class PointsLiability(msgspec.Struct, frozen=True):
    """An alliance's points outstanding: the sum of its members' points postings."""

    alliance: str                   # alliance code
    points: int


class AuditReport(msgspec.Struct, frozen=True):
    clean: bool
    violation_count: int
    counts: RowCounts
    checks: list[CheckResult]
    elapsed_s: float
    # Not a check: the journal's figure of what each alliance owes its members (liability.py).
    liabilities: list[PointsLiability] = msgspec.field(default_factory=list)

    def violations(self) -> list[Violation]:
        return [violation for check in self.checks for violation in check.violations]
