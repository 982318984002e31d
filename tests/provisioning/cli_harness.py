"""What the tests of CLI commands share: the KEK they run with, a run's result, and the
`jifen` command bound to a test's database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import msgspec
import pytest

from jifen.cli import main
from tests.keys_kit import front_keystore

TEST_KEK_HEX = "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"


class Run(msgspec.Struct):
    exit_code: int
    out: str
    err: str


def jifen_on(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], *, in_tmp_path: bool = True,
) -> Callable[..., Run]:
    """`run("alliance", "list")`: the command's exit code and output, on this test's DB, with
    a fixed KEK; with `in_tmp_path` the working directory is tmp_path (var/ files land
    there). In an anyio test call it through `anyio.to_thread.run_sync`: the command runs its
    own event loop."""
    config = tmp_path / "jifen.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n')
    if in_tmp_path:
        monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JIFEN_DATABASE_URL", raising=False)
    monkeypatch.setenv("JIFEN_KEK", TEST_KEK_HEX)
    # An installation under this KEK: the front's key pair is this KEK's.
    anyio.run(front_keystore, database_url, bytes.fromhex(TEST_KEK_HEX))

    def run(*argv: str) -> Run:
        capsys.readouterr()
        exit_code = main(["--config", str(config), *argv])
        captured = capsys.readouterr()
        return Run(exit_code, captured.out, captured.err)

    return run
