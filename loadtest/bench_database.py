"""The database a benchmark runs on: $JIFEN_DATABASE_URL's as it is, else a database of the
benchmark's own on the embedded server under its --data-dir (kept for its next run)."""

from __future__ import annotations

import os


def bench_database_url(data_dir: str, name: str) -> str:
    url = os.environ.get("JIFEN_DATABASE_URL")
    if url:
        return url
    from database.embedded import EmbeddedPostgres
    return EmbeddedPostgres(data_dir).ensure_database(name)
