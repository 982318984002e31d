"""TMK files: how a clear TMK reaches an operator or a test terminal without passing on argv
(a command line is readable by every user of the machine, through /proc and `ps`).

A TMK file holds either one TMK (32 hex digits on a line) or a CSV with the columns
`terminal_code,tmk` (what the demo writes, one row per terminal). A file that would hold TMKs
is created with mode 0600, never over an existing file or through a symbolic link
(O_EXCL | O_NOFOLLOW), and appears whole or not at all (written aside, then linked in).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from back_office.provisioning.errors import ConflictError, InvalidValueError
from back_office.provisioning.validate import tmk_hex

TMK_COLUMNS = ("terminal_code", "tmk")
# A TMK file is small: one line, or a row per terminal of an installation. This bound keeps
# a wrong path (a log, a disk image) from being read whole.
TMK_FILE_SIZE_BYTES_MAX = 10_000_000


def parse_tmk_text(text: str, terminal_code: str | None, source: str) -> bytes | None:
    """The TMK in `text`: its single hex line, or the row of `terminal_code` in a TMK CSV
    (None when the CSV has no such row). InvalidValueError when malformed."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) == 1 and "," not in lines[0]:
        return tmk_hex(lines[0])
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not set(TMK_COLUMNS) <= set(reader.fieldnames):
        raise InvalidValueError(
            f"{source} holds neither one TMK (32 hex digits) nor the CSV columns"
            f" {','.join(TMK_COLUMNS)}")
    for row in reader:
        if row["terminal_code"] == terminal_code:
            return tmk_hex(row["tmk"].strip())
    return None


def read_tmk_file(path: str | Path, terminal_code: str | None = None) -> bytes | None:
    """The TMK in the file at `path` (see parse_tmk_text); InvalidValueError when it cannot
    be read."""
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(TMK_FILE_SIZE_BYTES_MAX + 1)
    except OSError as exc:
        raise InvalidValueError(f"cannot read the TMK file {path}: {exc.strerror}") from exc
    if len(data) > TMK_FILE_SIZE_BYTES_MAX:
        raise InvalidValueError(f"{path} is too large to be a TMK file")
    return parse_tmk_text(data.decode("utf-8", "replace"), terminal_code, str(path))


def write_tmk_csv(path: str | Path, tmks: Iterable[tuple[str, bytes]]) -> None:
    """A new TMK CSV at `path`, mode 0600; ConflictError when `path` exists already (it is
    never overwritten: it may hold the only copy of other terminals' keys)."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.with_name(f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    descriptor = os.open(staging, flags, 0o600)
    try:
        with os.fdopen(descriptor, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(TMK_COLUMNS)
            writer.writerows((code, tmk.hex().upper()) for code, tmk in tmks)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(staging, final)  # atomic, and refuses an existing name or link
        except FileExistsError as exc:
            raise ConflictError(
                f"{final} exists already: move it away (it may hold the TMKs of terminals"
                " still in use) and run again") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()
