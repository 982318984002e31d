"""The account host's group commits and approvals during the window, from its Prometheus
/metrics.

The host observes `jifen_host_batch_size` (requests per group commit) and
`jifen_host_commit_seconds` once per batch, and counts its answers in `jifen_host_requests`
by MTI and response code (account_host/metrics.py). Scraped at the window's start and end,
the difference is the window's alone: with several partitions, each host's approvals are its
partition's rate.
"""

from __future__ import annotations

import math
import urllib.request

import anyio
import msgspec
from prometheus_client.parser import text_string_to_metric_families

BATCH_SIZE = "jifen_host_batch_size"
COMMIT_SECONDS = "jifen_host_commit_seconds"
REQUESTS = "jifen_host_requests"
# An approval as the load test counts one: an authorisation (0100, a balance inquiry) or a
# financial request (0200) answered 00, by the request's MTI as the host labels it; sign-ons,
# echoes, reconciliations and reversals are not authorisations.
APPROVED_MTIS = ("0100", "0200")
APPROVED_CODE = "00"
# A /metrics page is a few KB, served by a thread of the host; slow means the host is stuck.
SCRAPE_TIMEOUT_S = 5.0


class Histogram(msgspec.Struct, frozen=True):
    buckets: list[tuple[float, float]]   # (upper bound, cumulative count), +Inf last
    count: float
    sum: float

    def minus(self, earlier: Histogram) -> Histogram:
        before = dict(earlier.buckets)
        return Histogram([(bound, count - before.get(bound, 0.0)) for bound, count in
                          self.buckets], self.count - earlier.count, self.sum - earlier.sum)

    def quantile_bound(self, quantile: float) -> float | None:
        """The upper bound of the bucket holding this quantile (None: no observations)."""
        if self.count <= 0:
            return None
        rank = quantile * self.count
        for bound, cumulative in self.buckets:
            if cumulative >= rank:
                return bound
        return math.inf


class Snapshot(msgspec.Struct, frozen=True):
    batch_size: Histogram | None
    commit_seconds: Histogram | None
    approvals: float = 0.0   # financial requests answered 00 since the host started


class BatchStats(msgspec.Struct, frozen=True):
    """The window's group commits (bounds are the histogram's buckets: "at most")."""

    url: str
    batches: int
    requests: int
    mean_batch_size: float
    p50_batch_size_max: float | None
    p99_batch_size_max: float | None
    mean_commit_ms: float
    p99_commit_ms_max: float | None


def parse_snapshot(text: str) -> Snapshot:
    found: dict[str, Histogram] = {}
    approvals = 0.0
    for family in text_string_to_metric_families(text):
        if family.name == REQUESTS:
            approvals += sum(sample.value for sample in family.samples
                             if sample.name == REQUESTS + "_total"
                             and sample.labels.get("response_code") == APPROVED_CODE
                             and sample.labels.get("mti") in APPROVED_MTIS)
            continue
        if family.name not in (BATCH_SIZE, COMMIT_SECONDS):
            continue
        buckets, count, total = [], 0.0, 0.0
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                buckets.append((float(sample.labels["le"]), sample.value))
            elif sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                total = sample.value
        found[family.name] = Histogram(sorted(buckets), count, total)
    return Snapshot(found.get(BATCH_SIZE), found.get(COMMIT_SECONDS), approvals)


async def scrape(url: str) -> Snapshot | None:
    """The host's histograms, or None when its /metrics cannot be read (then no batch stats)."""
    def fetch() -> str:
        with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT_S) as response:  # noqa: S310
            return response.read().decode()

    try:
        return parse_snapshot(await anyio.to_thread.run_sync(fetch))
    except (OSError, ValueError):
        return None


def batch_stats(url: str, before: Snapshot | None, after: Snapshot | None) -> BatchStats | None:
    if before is None or after is None or before.batch_size is None \
            or after.batch_size is None:
        return None
    sizes = after.batch_size.minus(before.batch_size)
    commits = None
    if before.commit_seconds is not None and after.commit_seconds is not None:
        commits = after.commit_seconds.minus(before.commit_seconds)
    batches = int(sizes.count)
    p99_commit = commits.quantile_bound(0.99) if commits else None
    return BatchStats(
        url=url, batches=batches, requests=int(sizes.sum),
        mean_batch_size=sizes.sum / batches if batches else 0.0,
        p50_batch_size_max=sizes.quantile_bound(0.5),
        p99_batch_size_max=sizes.quantile_bound(0.99),
        mean_commit_ms=(commits.sum / commits.count * 1000) if commits and commits.count else 0.0,
        p99_commit_ms_max=p99_commit * 1000 if p99_commit is not None else None,
    )


def approvals_per_s(before: Snapshot | None, after: Snapshot | None,
                    window_s: float) -> float | None:
    """The host's approvals per second over the window (None: a scrape failed)."""
    if before is None or after is None or window_s <= 0:
        return None
    return (after.approvals - before.approvals) / window_s
