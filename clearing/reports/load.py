"""Reading a cleared date's report from the clearing tables (never from the journal, except
the terminal batches): the first run and its adjustments, summed per merchant and category.

One REPEATABLE READ READ ONLY transaction, so that an adjustment written meanwhile is either
wholly in the report or wholly out of it. The terminal batches are in every partition's
journal: each other partition is read on a connection of its own (as jifen_clearing), and one
that cannot be reached refuses the report, as it refuses clearing.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import UTC, date, datetime

import asyncpg

from clearing.alliance import find_alliance, find_merchant
from clearing.errors import NotClearedError, NotSealedError
from clearing.partitions import PartitionSetup, find_partitions, partition_connections
from clearing.reports.model import (
    CATEGORY_ORDER,
    HQ_LINES,
    Amounts,
    ClearingReport,
    HqSummary,
    Line,
    MerchantDetail,
    RunRef,
    instruction_for,
)
from clearing.reports.terminals import batch_issues
from clearing.sealing import sealed_at

_RUNS_SQL = """
SELECT id, kind, adjusts_run_id, reason, created_at, created_by, journal_entries
FROM clearing_runs WHERE alliance_id = $1 AND business_date = $2 ORDER BY id
"""
# Per party and category: the first run's figures and the adjustments' (summed).
_POSITIONS_SQL = """
SELECT p.merchant_id, p.category, r.kind = 'run' AS original,
       sum(p.points)::bigint AS points, sum(p.amount_fen)::bigint AS amount_fen,
       sum(p.count)::bigint AS count
FROM clearing_positions p JOIN clearing_runs r ON r.id = p.run_id
WHERE r.alliance_id = $1 AND r.business_date = $2
GROUP BY p.merchant_id, p.category, r.kind = 'run'
"""
_NETS_SQL = """
SELECT n.merchant_id, r.kind = 'run' AS original, sum(n.net_fen)::bigint AS net_fen
FROM clearing_nets n JOIN clearing_runs r ON r.id = n.run_id
WHERE r.alliance_id = $1 AND r.business_date = $2
GROUP BY n.merchant_id, r.kind = 'run'
"""

Party = int | None                       # merchant id, None for HQ


class _Figures:
    """Positions and nets of all runs of the date, split into original and adjustments."""

    def __init__(self, positions: list[asyncpg.Record], nets: list[asyncpg.Record]) -> None:
        # (party, category) -> [points, count, original fen, adjustments fen]
        self.lines: dict[tuple[Party, str], list[int]] = {}
        for row in positions:
            line = self.lines.setdefault((row["merchant_id"], row["category"]), [0, 0, 0, 0])
            line[0] += row["points"]
            line[1] += row["count"]
            line[2 if row["original"] else 3] += row["amount_fen"]
        self.nets: dict[Party, list[int]] = {}
        for row in nets:
            net = self.nets.setdefault(row["merchant_id"], [0, 0])
            net[0 if row["original"] else 1] += row["net_fen"]

    def parties(self) -> set[int]:
        return {party for party, _ in self.lines if party is not None} | \
            {party for party in self.nets if party is not None}

    def lines_of(self, party: Party) -> list[Line]:
        found = [(category, figures) for (owner, category), figures in self.lines.items()
                 if owner == party]
        found.sort(key=lambda item: CATEGORY_ORDER.get(item[0], len(CATEGORY_ORDER)))
        return [_line(category, figures) for category, figures in found]

    def line(self, party: Party, category: str) -> Line:
        return _line(category, self.lines.get((party, category), [0, 0, 0, 0]))

    def net(self, party: Party) -> Amounts:
        original, adjustments = self.nets.get(party, [0, 0])
        return Amounts.of(original, adjustments)


def _line(category: str, figures: list[int]) -> Line:
    points, count, original, adjustments = figures
    return Line(category, points, count, Amounts.of(original, adjustments))


async def build_report(
    conn: asyncpg.Connection, alliance_code: str, day: date, merchant_code: str | None = None,
    now: datetime | None = None, partitions: PartitionSetup | None = None,
) -> ClearingReport:
    """The report of a cleared date; UnknownError, NotSealedError or NotClearedError else.
    `partitions`: how to reach the other partitions (None: none is configured, so only
    central's batches are read, and any other partition in its table is refused)."""
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(
            conn.transaction(isolation="repeatable_read", readonly=True))
        found = await find_partitions(conn, partitions)
        others = await stack.enter_async_context(partition_connections(found))
        alliance = await find_alliance(conn, alliance_code)
        merchant_id = None
        if merchant_code is not None:
            merchant_id = await find_merchant(conn, alliance, merchant_code)
        sealed = await sealed_at(conn, alliance.id, day)
        if sealed is None:
            raise NotSealedError(
                f"{day} of alliance {alliance.code} is not sealed, so not cleared: "
                f"`jifen clearing close-day` then `jifen clearing run` first "
                f"(`jifen clearing status --alliance {alliance.code}` lists the dates)")
        runs = [RunRef(*row) for row in await conn.fetch(_RUNS_SQL, alliance.id, day)]
        if not runs:
            raise NotClearedError(
                f"{day} of alliance {alliance.code} is sealed but not cleared: "
                f"`jifen clearing run --alliance {alliance.code} --date {day}` first")
        figures = _Figures(await conn.fetch(_POSITIONS_SQL, alliance.id, day),
                           await conn.fetch(_NETS_SQL, alliance.id, day))
        names = {row["id"]: (row["merchant_code"], row["name"]) for row in await conn.fetch(
            "SELECT id, merchant_code, name FROM merchants WHERE alliance_id = $1",
            alliance.id)}
        batches = await batch_issues(conn, alliance, day, merchant_id, others)
    parties = figures.parties() if merchant_id is None else {merchant_id} & figures.parties()
    merchants = sorted((_detail(figures, party, *names[party]) for party in parties),
                       key=lambda detail: detail.merchant)
    summary = None if merchant_id is not None else _summary(figures, merchants)
    return ClearingReport(
        alliance=alliance.code, business_date=day, merchant_filter=merchant_code,
        sealed_at=sealed, generated_at=now or datetime.now(UTC), runs=runs, summary=summary,
        merchants=merchants, terminal_batches=batches)


def _detail(figures: _Figures, party: int, code: str, name: str) -> MerchantDetail:
    net = figures.net(party)
    return MerchantDetail(code, name, figures.lines_of(party),
                          figures.line(party, "commission").amount, net,
                          instruction_for(net.final_fen))


def _summary(figures: _Figures, merchants: list[MerchantDetail]) -> HqSummary:
    totals: dict[str, list[int]] = {}
    for (party, category), (points, count, original, adjustments) in figures.lines.items():
        if party is None:
            continue
        summed = totals.setdefault(category, [0, 0, 0, 0])
        for index, value in enumerate((points, count, original, adjustments)):
            summed[index] += value
    categories = [_line(category, totals[category])
                  for category in sorted(totals, key=lambda c: CATEGORY_ORDER.get(c, 99))]
    paying = [detail for detail in merchants if detail.net.final_fen < 0]
    paid = [detail for detail in merchants if detail.net.final_fen > 0]
    return HqSummary(
        categories=categories, hq_net=figures.net(None),
        hq_lines=[figures.line(None, category) for category in HQ_LINES],
        merchants_paying_hq=len(paying), merchants_paid_by_hq=len(paid),
        paid_to_hq_fen=-sum(detail.net.final_fen for detail in paying),
        paid_by_hq_fen=sum(detail.net.final_fen for detail in paid))
