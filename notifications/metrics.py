"""Prometheus metrics of the notification sender (prefix jifen_notify_), by partition (the
name of the partition whose outbox holds the events: `main` alone on a single-partition
system)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

PENDING = Gauge("jifen_notify_pending_events",
                "Outbox events neither delivered nor skipped, at the last read", ["partition"])
# While a partition cannot be read its backlog is unknown: the age is then the time since its
# last good read, or the oldest event then pending, whichever is older, so that
# JifenNotificationsStuck fires for a partition out of reach as for a gateway that refuses.
OLDEST_PENDING_AGE = Gauge("jifen_notify_oldest_pending_age_seconds",
                           "Age of the oldest pending event (0: none pending)", ["partition"])
PARTITION_UP = Gauge("jifen_notify_partition_up",
                     "1 while the sender reads the partition's outbox (and central's opt-outs)",
                     ["partition"])
DELIVERED = Counter("jifen_notify_delivered", "Events the webhook accepted (2xx)",
                    ["partition"])
SKIPPED = Counter("jifen_notify_skipped", "Events of a kind their member opted out of",
                  ["partition"])
FAILED = Counter("jifen_notify_failed_attempts",
                 "Attempts the webhook refused or did not answer (each is retried)",
                 ["partition"])
