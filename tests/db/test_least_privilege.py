"""Least privilege (docs/security.md): no connection without a password, a server that does
not inherit our environment, a role per service with only its grants, an append-only journal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from database import EmbeddedPostgres
from database.passwords import password_path
from database.roles import Role
from database.settings import HBA_FILE_NAME, hba_trusts

KEK = "deadbeef" * 8
TRUST_HBA = "local all all trust\nhost all all 127.0.0.1/32 trust\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """A server of its own (one initdb for the module)."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("least") / "pg")
    server.ensure_running()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fetch_values(run_async: Callable[..., Any]) -> Callable[[str, str], list[object]]:
    """`fetch_values(url, query)`: the first column of each row."""

    def fetch_values(url: str, query: str) -> list[object]:
        async def fetch() -> list[object]:
            connection = await asyncpg.connect(url, timeout=10)
            try:
                return [row[0] for row in await connection.fetch(query)]
            finally:
                await connection.close()

        result: list[object] = run_async(fetch)
        return result

    return fetch_values


def _connect(run_async: Callable[..., Any], url: str) -> None:
    async def probe() -> None:
        connection = await asyncpg.connect(url, timeout=10)
        await connection.close()

    run_async(probe)


class TestNoTrust:
    def test_a_connection_without_password_is_refused(self, server, run_async, monkeypatch):
        monkeypatch.delenv("PGPASSWORD", raising=False)
        monkeypatch.setenv("PGPASSFILE", "/nonexistent")
        port = server.status().port
        with pytest.raises((asyncpg.InvalidPasswordError, asyncpg.InterfaceError)):
            _connect(run_async, f"postgresql://postgres@127.0.0.1:{port}/postgres")
        with pytest.raises(asyncpg.InvalidPasswordError):
            _connect(run_async, f"postgresql://postgres:wrong@127.0.0.1:{port}/postgres")
        _connect(run_async, server.dsn())

    def test_only_loopback_and_passwords(self, server, fetch_values):
        dsn = server.dsn()
        assert fetch_values(dsn, "SHOW listen_addresses") == ["127.0.0.1"]
        assert fetch_values(dsn, "SHOW unix_socket_permissions") == ["0700"]
        assert set(fetch_values(dsn, "SELECT auth_method FROM pg_hba_file_rules")) == {
            "scram-sha-256"}

    def test_password_file_is_private(self, server):
        path = password_path(server.data_dir, "postgres")
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.parent.stat().st_mode & 0o777 == 0o700
        assert server.data_dir not in path.parents

    def test_trust_data_dir_is_converted(self, server, run_async, monkeypatch):
        """A data directory of an earlier Jifen: trust, and no password file."""
        monkeypatch.delenv("PGPASSWORD", raising=False)
        server.stop()
        (server.data_dir / HBA_FILE_NAME).write_text(TRUST_HBA)
        password_path(server.data_dir, "postgres").unlink()
        assert hba_trusts(server.data_dir)
        dsn = server.ensure_running()
        assert not hba_trusts(server.data_dir)
        _connect(run_async, dsn)
        port = server.status().port
        with pytest.raises(asyncpg.InvalidPasswordError):
            _connect(run_async, f"postgresql://postgres:wrong@127.0.0.1:{port}/postgres")


class TestServerEnvironment:
    def test_postmaster_does_not_inherit_our_environment(self, server, monkeypatch):
        server.stop()
        monkeypatch.setenv("JIFEN_KEK", KEK)
        monkeypatch.setenv("PGPASSWORD", "not-for-the-server")
        server.ensure_running()
        pid = server.status().pid
        assert pid is not None
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        names = {entry.partition(b"=")[0].decode() for entry in environ if entry}
        assert "JIFEN_KEK" not in names
        assert "PGPASSWORD" not in names
        assert KEK.encode() not in b"\0".join(environ)
        assert names <= {"PATH", "LANG", "TZ", "HOME", "PGDATA", "PG_GRANDPARENT_PID",
                         "PGLOCALEDIR", "PGSYSCONFDIR", "PWD"} | {n for n in names
                                                           if n.startswith("LC_")}


@pytest.fixture
def as_role(role_url: Callable[[Role], str], run_async: Callable[..., Any]
            ) -> Callable[[Role, str], Any]:
    """`as_role(role, sql)`: run `sql` on this test's database as a login of `role`."""

    def execute(role: Role, sql: str) -> Any:
        async def run() -> Any:
            connection = await asyncpg.connect(role_url(role), timeout=10)
            try:
                return await connection.execute(sql)
            finally:
                await connection.close()

        return run_async(run)

    return execute


JOURNAL_ROW = """
INSERT INTO transactions (id, kind, business_date, posted_at, terminal_code, merchant_id,
                          mti, stan, transmission_time, amount, currency, points)
VALUES (1, 'purchase', '2025-01-02', now(), 'T0000001', 1, '0200', '000001', '0102030405',
        100, '156', 1)
"""


_OUTBOX_ROW = """
INSERT INTO notification_outbox (kind, card_id, points, created_at)
VALUES ('points_earned', 1, 10, now())
"""


class TestRoles:
    @pytest.mark.parametrize("role", list(Role))
    def test_no_role_runs_programs(self, as_role, role):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            as_role(role, "COPY (SELECT 1) TO PROGRAM 'true'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            as_role(role, "CREATE TEMP TABLE t (line text); COPY t FROM PROGRAM 'env'")

    @pytest.mark.parametrize("statement", [
        "UPDATE transactions SET amount = 1", "DELETE FROM transactions",
        "UPDATE postings SET amount = 0", "DELETE FROM journal_entries",
        "TRUNCATE postings",
    ])
    def test_the_host_cannot_change_the_journal(self, as_role, sql_as_owner, statement):
        sql_as_owner(JOURNAL_ROW)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            as_role(Role.HOST, statement)

    @pytest.mark.parametrize("statement", [
        "UPDATE transactions SET amount = 1 WHERE id = 1", "DELETE FROM transactions",
        "TRUNCATE transactions CASCADE", "UPDATE postings SET amount = 0",
        "DELETE FROM journal_entries",
    ])
    def test_not_even_the_owner_can_change_the_journal(self, sql_as_owner, statement):
        sql_as_owner(JOURNAL_ROW)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            sql_as_owner(statement)

    def test_the_host_writes_its_tables(self, as_role):
        as_role(Role.HOST, JOURNAL_ROW)
        as_role(Role.HOST, "UPDATE host_counters SET next_value = next_value + 1")
        as_role(Role.HOST, "INSERT INTO accounts VALUES (1, 'points', 'member_points', 1,"
                           " NULL, NULL, 5) ON CONFLICT (id) DO UPDATE SET balance = 6")

    def test_the_host_cannot_update_terminals(self, as_role):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            as_role(Role.HOST, "UPDATE terminals SET active = false")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            as_role(Role.HOST, "SELECT tmk_encrypted FROM terminals")

    def test_the_front_cannot_post(self, as_role):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            as_role(Role.FRONT, "INSERT INTO postings VALUES (1, 1, 1)")

    def test_the_switch_reads_card_ranges_only(self, as_role):
        as_role(Role.SWITCH, "SELECT * FROM card_ranges")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            as_role(Role.SWITCH, "SELECT * FROM cards")

    def test_the_host_only_inserts_notifications(self, as_role, sql_as_owner):
        as_role(Role.HOST, _OUTBOX_ROW)
        for statement in ("SELECT * FROM notification_outbox",
                          "SELECT * FROM notification_deliveries",
                          "INSERT INTO notification_deliveries VALUES (1, 'delivered', 1, now())"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                as_role(Role.HOST, statement)

    def test_the_sender_reads_the_outbox_and_records_deliveries_only(
            self, as_role, sql_as_owner):
        sql_as_owner(_OUTBOX_ROW)
        as_role(Role.NOTIFY, "SELECT o.*, c.member_id, c.alliance_id FROM notification_outbox o"
                             " LEFT JOIN cards c ON c.id = o.card_id")
        as_role(Role.NOTIFY, "INSERT INTO notification_deliveries"
                             " SELECT id, 'delivered', 1, now() FROM notification_outbox")
        # Which partitions' outboxes to read (migration 039), and central's opt-outs.
        as_role(Role.NOTIFY, "SELECT name, number, state FROM partitions")
        as_role(Role.NOTIFY, "SELECT member_id, kind FROM member_notification_opt_outs")
        for statement in (_OUTBOX_ROW, "UPDATE notification_deliveries SET attempts = 2",
                          "DELETE FROM notification_deliveries", "SELECT pan_hmac FROM cards",
                          "SELECT * FROM accounts", "SELECT * FROM transactions",
                          "SELECT * FROM members"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                as_role(Role.NOTIFY, statement)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            sql_as_owner("UPDATE notification_outbox SET points = 1")

    def test_clearing_seals_and_reads_but_cannot_post(self, as_role):
        as_role(Role.CLEARING, "BEGIN; LOCK TABLE journal_entries IN SHARE MODE; COMMIT")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            as_role(Role.CLEARING, "INSERT INTO postings VALUES (1, 1, 1)")

    @pytest.mark.parametrize("statement", [
        "SELECT * FROM transactions", "SELECT * FROM accounts", "SELECT * FROM operators",
        "INSERT INTO partitions (name, number) VALUES ('p9', 9)", "DELETE FROM cards",
        "UPDATE command_outcomes SET result = 'x'",
    ])
    def test_replication_reads_the_published_tables_only(self, as_role, statement):
        """The subscriptions' login copies what central and the partitions publish (migration
        031) and nothing else: no ledger, no operators, no write."""
        as_role(Role.REPLICATION, "SELECT count(*) FROM cards, command_outcomes, partitions")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            as_role(Role.REPLICATION, statement)

    def test_only_the_front_reads_its_private_key(self, as_role):
        """The back office seals TMKs to the front's public key and cannot open them: it
        cannot read the `tmk` data key, create one, or publish a public key of its own."""
        tmk_row = "SELECT * FROM data_keys WHERE purpose = 'tmk'"
        assert as_role(Role.FRONT, tmk_row) == "SELECT 1"  # the template's key pair
        for role in set(Role) - {Role.FRONT}:
            try:
                assert as_role(role, tmk_row) == "SELECT 0", role  # row-level security
            except asyncpg.InsufficientPrivilegeError:
                pass  # no grant on data_keys at all
        assert as_role(Role.BACK_OFFICE, "SELECT public_key FROM data_key_public") == "SELECT 1"
        with pytest.raises(asyncpg.InsufficientPrivilegeError):  # row-level security
            as_role(Role.BACK_OFFICE, "INSERT INTO data_keys (purpose, version, sealed)"
                                      " VALUES ('tmk', 2, '\\x01')")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            as_role(Role.BACK_OFFICE, "INSERT INTO data_key_public (purpose, version,"
                                      " public_key) VALUES ('tmk', 2, '\\x01')")
        for role in (Role.FRONT, Role.BACK_OFFICE):  # a published key is never replaced
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                as_role(role, "UPDATE data_key_public SET public_key = public_key")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                as_role(role, "DELETE FROM data_key_public")

    def test_the_audit_reads_everything_and_writes_nothing(self, as_role):
        as_role(Role.AUDIT, "SELECT * FROM terminals, front_saf, host_requests LIMIT 1")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            as_role(Role.AUDIT, "INSERT INTO alliances (code, name) VALUES ('X', 'x')")


@pytest.fixture
def sql_as_owner(database_url: str, execute_sql: Callable[..., None]) -> Callable[[str], None]:
    return lambda statement: execute_sql(database_url, statement)

