"""connect() and the URL helpers."""

from __future__ import annotations

import socket

import pytest

from database import DatabaseUnavailableError, connect, redact_url, with_database


@pytest.mark.anyio
class TestConnect:
    async def test_connects(self, database_url):
        connection = await connect(database_url, timeout_s=10)
        try:
            assert await connection.fetchval("SELECT 1") == 1
        finally:
            await connection.close()

    async def test_unknown_database_is_unavailable(self, postgres_server_url):
        url = with_database(postgres_server_url, "jifen_no_such_database")
        with pytest.raises(DatabaseUnavailableError, match="jifen_no_such_database"):
            await connect(url, timeout_s=10)

    async def test_refused_port_is_unavailable(self):
        with socket.socket() as probe:  # a port that was free a moment ago: nobody listens
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with pytest.raises(DatabaseUnavailableError, match="cannot connect"):
            await connect(f"postgresql://u:secret@127.0.0.1:{port}/x", timeout_s=5)

    async def test_silent_server_times_out(self):
        with socket.socket() as listener:  # accepts (kernel backlog) but never answers
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            port = listener.getsockname()[1]
            with pytest.raises(DatabaseUnavailableError, match=r"within 0\.2 s"):
                await connect(f"postgresql://u@127.0.0.1:{port}/x", timeout_s=0.2)


class TestUrls:
    def test_with_database_keeps_the_rest(self):
        url = "postgresql://u:p@db.example:5433/jifen?sslmode=require"
        expected = "postgresql://u:p@db.example:5433/other?sslmode=require"
        assert with_database(url, "other") == expected

    def test_redact_hides_the_password(self):
        assert redact_url("postgresql://u:p%40ss@h:1/d") == "postgresql://u:***@h:1/d"
        assert redact_url("postgresql://u@h:1/d") == "postgresql://u@h:1/d"
