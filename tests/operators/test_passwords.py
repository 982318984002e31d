"""Operator passwords: the private file (one line, or the demo's CSV), the SCRAM verifier
PostgreSQL accepts, and the demo's operators."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
import uuid

import asyncpg
import pytest

from back_office.operators import (
    OperatorPasswordError,
    OperatorRole,
    read_password_file,
    scram_verifier,
)
from back_office.operators.demo import create_demo_operators
from back_office.provisioning.errors import DuplicateError
from tests.operators.conftest import MERCHANT_A


def _private(path, text: str, mode: int = 0o600):
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.write(descriptor, text.encode())
    os.close(descriptor)
    os.chmod(path, mode)
    return path


class TestPasswordFile:
    def test_one_line(self, tmp_path):
        path = _private(tmp_path / "pw", "correct-horse-battery\n")
        assert read_password_file(path, "alice") == "correct-horse-battery"

    @pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
    def test_open_to_others_is_refused(self, tmp_path, mode):
        path = _private(tmp_path / "pw", "correct-horse-battery\n", mode)
        with pytest.raises(OperatorPasswordError, match="chmod 600"):
            read_password_file(path, "alice")

    def test_a_link_is_not_followed(self, tmp_path):
        target = _private(tmp_path / "pw", "correct-horse-battery\n")
        (tmp_path / "link").symlink_to(target)
        with pytest.raises(OperatorPasswordError, match="cannot read"):
            read_password_file(tmp_path / "link", "alice")

    def test_the_operators_row_of_a_csv(self, tmp_path):
        path = _private(tmp_path / "ops.csv", "operator,role,merchant,password\n"
                                              "alice,auditor,,alices-password-1\n"
                                              "bob,hq_admin,,bobs-password-22\n")
        assert read_password_file(path, "bob") == "bobs-password-22"
        with pytest.raises(OperatorPasswordError, match="no row for operator carol"):
            read_password_file(path, "carol")

    def test_anything_else_is_refused(self, tmp_path):
        path = _private(tmp_path / "pw", "two\nlines\n")
        with pytest.raises(OperatorPasswordError, match="one line"):
            read_password_file(path, "alice")


class TestVerifier:
    def test_rfc_7677_shape_and_keys(self):
        salt = bytes(range(16))
        verifier = scram_verifier("pencil-pencil-pencil", salt)
        method, rest = verifier.split("$", 1)
        iterations_salt, keys = rest.split("$")
        iterations, salt_b64 = iterations_salt.split(":")
        stored_key, server_key = (base64.b64decode(part) for part in keys.split(":"))
        assert (method, iterations, base64.b64decode(salt_b64)) == (
            "SCRAM-SHA-256", "4096", salt)
        salted = hashlib.pbkdf2_hmac("sha256", b"pencil-pencil-pencil", salt, 4096)
        assert stored_key == hashlib.sha256(
            hmac.digest(salted, b"Client Key", "sha256")).digest()
        assert server_key == hmac.digest(salted, b"Server Key", "sha256")
        assert "pencil" not in verifier

    def test_each_verifier_has_its_own_salt(self):
        assert scram_verifier("pencil-pencil-pencil") != scram_verifier("pencil-pencil-pencil")


class TestDemoOperators:
    def test_one_of_each_role_in_a_private_file(
            self, jifen, database_url, run_async, execute_sql, tmp_path):
        suffix = uuid.uuid4().hex[:8]
        names = [f"demo{suffix}_{role.value}" for role in OperatorRole]
        operators = tuple((name, role, MERCHANT_A if role is OperatorRole.MERCHANT_ADMIN
                           else None) for name, role in zip(names, OperatorRole, strict=True))
        path = tmp_path / "var" / "demo-operators.csv"

        async def create() -> str:
            conn = await asyncpg.connect(database_url)
            try:
                return (await create_demo_operators(conn, path, operators)).describe()
            finally:
                await conn.close()

        try:
            described = run_async(create)
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert f"jifen --operator {names[1]} --operator-password-file {path}" in described
            assert "\n" not in described
            for name in names:
                password = read_password_file(path, name)
                assert password not in described
                result = jifen("--operator", name, "--operator-password-file", str(path),
                               "operator", "list", "--json")
                assert result.exit_code == 0, result.err
                assert password not in result.out + result.err
            # Never over an existing file: nothing is created then.
            with pytest.raises(FileExistsError):
                run_async(create)
        finally:
            for name in names:
                execute_sql(database_url, f"DROP ROLE IF EXISTS {name}")

    def test_a_taken_name_creates_none(self, operator_of, database_url, run_async, tmp_path,
                                       sql_as):
        taken = operator_of("auditor")
        fresh = f"demo{uuid.uuid4().hex[:8]}_hq"
        path = tmp_path / "ops.csv"

        async def create() -> None:
            conn = await asyncpg.connect(database_url)
            try:
                await create_demo_operators(conn, path, (
                    (fresh, OperatorRole.HQ_ADMIN, None),
                    (taken.name, OperatorRole.AUDITOR, None)))
            finally:
                await conn.close()

        with pytest.raises(DuplicateError):
            run_async(create)
        assert not path.exists()
        assert sql_as(database_url, "SELECT count(*) FROM pg_roles WHERE rolname = $1",
                      fresh)[0][0] == 0


class TestNoPasswordInTheServerLog:
    def test_created_refused_and_changed(self, jifen, operator_of, monkeypatch):
        if os.environ.get("JIFEN_DATABASE_URL"):
            pytest.skip("the server's log is the embedded test server's")
        from database import settings
        from tests.conftest import TEST_DATA_DIR

        log = TEST_DATA_DIR / settings.LOG_FILE_NAME
        password = f"marker-{uuid.uuid4().hex}"
        monkeypatch.setenv("MARKED", password)
        taken = operator_of("auditor")
        for argv in (("operator", "create", "--name", taken.name, "--role", "auditor",
                      "--password-env", "MARKED"),          # refused: the name is taken
                     ("operator", "passwd", "--name", taken.name, "--password-env", "MARKED")):
            jifen(*argv)
        monkeypatch.setenv("JIFEN_OPERATOR_PASSWORD", "wrong-" + password)
        assert "could not log in" in jifen("--operator", taken.name, "operator", "list").err
        text = "".join(path.read_text(errors="replace")
                       for path in (log.with_name(log.name + ".1"), log) if path.exists())
        # The refused create is logged, with its statement: without the password.
        assert "SELECT operator_create($1, $2, $3, $4)" in text
        assert password not in text
