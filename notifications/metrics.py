"""Prometheus metrics of the notification sender (prefix jifen_notify_)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

PENDING = Gauge("jifen_notify_pending_events",
                "Outbox events neither delivered nor skipped, at the last read")
OLDEST_PENDING_AGE = Gauge("jifen_notify_oldest_pending_age_seconds",
                           "Age of the oldest pending event (0: none pending)")
DELIVERED = Counter("jifen_notify_delivered", "Events the webhook accepted (2xx)")
SKIPPED = Counter("jifen_notify_skipped", "Events of a kind their member opted out of")
FAILED = Counter("jifen_notify_failed_attempts",
                 "Attempts the webhook refused or did not answer (each is retried)")
