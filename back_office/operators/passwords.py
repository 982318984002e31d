"""Operator passwords: checked, read from a private file, and turned into the SCRAM-SHA-256
verifier PostgreSQL stores, here in the client, so that the clear password never reaches the
server (nor its logs) when an operator is created or its password set.

A password file is either one line, the password, or a CSV with a header naming the columns
`operator` and `password` (as var/demo-operators.csv): then the operator's row. Either way it
must be ours and not open to group or others (as database/passwords.py requires of the
services' files), and it is never followed through a symbolic link.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import os
import secrets
from pathlib import Path

from back_office.operators.errors import OperatorPasswordError
from database.errors import PasswordFileError
from database.passwords import read_private_file

PASSWORD_LENGTH_MIN = 12
# PostgreSQL's own limit on a password is about 1 KiB.
PASSWORD_LENGTH_MAX = 1000
# A password file of many operators (the demo's) stays small; a bigger file is a mistake.
PASSWORD_FILE_SIZE_MAX = 64 * 1024
# PostgreSQL's default (scram_iterations): about 4 ms a login on this machine.
SCRAM_ITERATIONS = 4096
SCRAM_SALT_BYTES = 16
# A generated password: 24 bytes, 32 URL-safe characters.
GENERATED_PASSWORD_BYTES = 24


def check_password(password: str) -> str:
    """The password if it is usable: printable ASCII (PostgreSQL's SASLprep leaves it as it
    is, so our verifier and the server's check agree), 12-1000 characters."""
    if not PASSWORD_LENGTH_MIN <= len(password) <= PASSWORD_LENGTH_MAX:
        raise OperatorPasswordError(
            f"an operator password has {PASSWORD_LENGTH_MIN}-{PASSWORD_LENGTH_MAX} characters")
    if not (password.isascii() and password.isprintable()):
        raise OperatorPasswordError("an operator password is printable ASCII characters")
    return password


def generate_password() -> str:
    return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (RFC 5802, 7677), the form
    PostgreSQL accepts in CREATE/ALTER ROLE ... PASSWORD and stores as it is."""
    salt = salt if salt is not None else secrets.token_bytes(SCRAM_SALT_BYTES)
    salted = hashlib.pbkdf2_hmac("sha256", check_password(password).encode(), salt,
                                 SCRAM_ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return (f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}"
            f"${b64(stored_key)}:{b64(server_key)}")


def read_password_file(path: str | os.PathLike[str], operator: str) -> str:
    """The operator's password from a private file (see above)."""
    try:
        content = read_private_file(path, PASSWORD_FILE_SIZE_MAX, "password file")
    except PasswordFileError as exc:
        raise OperatorPasswordError(str(exc)) from exc
    text = content.decode(errors="replace")
    lines = text.splitlines()
    if len(lines) == 1 and lines[0]:
        return check_password(lines[0])
    rows = list(csv.DictReader(io.StringIO(text)))
    if rows and {"operator", "password"} <= set(rows[0]):
        for row in rows:
            if row["operator"] == operator:
                return check_password(row["password"])
        raise OperatorPasswordError(f"password file {path} has no row for operator {operator}")
    raise OperatorPasswordError(f"password file {path} must hold one line, the password, or a "
                                f"CSV with columns operator and password")


def write_password_csv(path: str | Path, rows: list[tuple[str, str, str, str]]) -> None:
    """(operator, role, merchant code or '', password) rows to a new 0600 file: never over
    an existing file, never through a symbolic link."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("operator", "role", "merchant", "password"))
        writer.writerows(rows)
