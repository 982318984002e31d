"""Where the batch statement's server time goes, table by table: `commit_bench --explain N`
runs every Nth measured batch's statement once more under EXPLAIN ANALYZE, in a transaction it
rolls back, before committing it as usual. Each written table's figure is its insert's or
update's time (indexes and checks included) per request of the batch; "(execution)" is the
whole statement's, without planning, parsing and the commit's WAL flush. A figure is the
median over the batches explained; the batches explained do their work twice, so the bench's
own figures of that run are not comparable with a run without --explain."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from typing import Any

from account_host.database import WriterDatabase
from account_host.journal import BATCH_SQL, BatchArguments, BatchWrite

# Tables that no purchase writes are left out below this (µs per request).
SHOWN_US_MIN = 0.5


class ExplainingDatabase(WriterDatabase):
    """The writer's database, explaining every `every`-th batch into `times`."""

    every = 0
    times: dict[str, list[float]] = defaultdict(list)
    _seen = 0

    async def commit(self, batch: BatchWrite, arguments: BatchArguments) -> float:
        cls = type(self)
        cls._seen += 1
        if cls.every and cls._seen % cls.every == 0:
            await self._explain(len(batch.requests[0]), arguments)
        return await super().commit(batch, arguments)

    async def _explain(self, requests: int, arguments: BatchArguments) -> None:
        assert self.connection is not None
        transaction = self.connection.transaction()
        await transaction.start()
        try:
            plan = json.loads(await self.connection.fetchval(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + BATCH_SQL, *arguments))[0]
        finally:
            await transaction.rollback()
        per_request = 1000.0 / max(requests, 1)
        for table, ms in _modified_tables(plan["Plan"]):
            self.times[table].append(ms * per_request)
        self.times["(execution)"].append(plan["Execution Time"] * per_request)


def _modified_tables(node: dict[str, Any]) -> list[tuple[str, float]]:
    found = []
    if node.get("Node Type") == "ModifyTable":
        found.append((node["Relation Name"], node["Actual Total Time"]))
    for child in node.get("Plans", []):
        found.extend(_modified_tables(child))
    return found


def render_explained(times: dict[str, list[float]]) -> str:
    medians = sorted(((statistics.median(values), table, len(values))
                      for table, values in times.items()), reverse=True)
    lines = ["server time per request (EXPLAIN ANALYZE, median over the batches explained)",
             "| table | µs per request | batches |", "|---|---:|---:|"]
    lines += [f"| {table} | {median:.1f} | {count} |" for median, table, count in medians
              if median >= SHOWN_US_MIN]
    return "\n".join(lines)
