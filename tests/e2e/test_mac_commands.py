"""`jifen terminal set-mac` and `create` (MAC by default), and what the front makes of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jifen.cli import main
from tests.e2e.system import TERMINAL
from tests.e2e.test_mac import KEK_HEX, MAC_TERMINAL, TMK


@pytest.fixture
def jifen(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys,
          run_async):
    """`jifen(*argv)` -> (exit code, stdout, stderr) on the test's seeded database."""
    from tests.e2e.system import seed
    from tests.e2e.test_mac import add_mac_terminal

    run_async(seed, database_url)
    run_async(add_mac_terminal, database_url)
    config = tmp_path / "jifen.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n[front]\nkek_env = "T_KEK"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JIFEN_DATABASE_URL", raising=False)
    monkeypatch.setenv("T_KEK", KEK_HEX)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--config", str(config), *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_set_mac_on_and_off(jifen) -> None:
    code, out, _ = jifen("terminal", "set-mac", "--code", MAC_TERMINAL, "--off", "--json")
    assert code == 0 and json.loads(out)["requires_mac"] is False
    code, out, _ = jifen("terminal", "set-mac", "--code", MAC_TERMINAL, "--on")
    assert code == 0 and "requires MAC from its next sign-on" in out


def test_set_mac_refuses_a_terminal_without_tmk_or_unknown(jifen) -> None:
    code, _, err = jifen("terminal", "set-mac", "--code", TERMINAL, "--on")
    assert code == 2 and "has no TMK" in err
    code, _, err = jifen("terminal", "set-mac", "--code", "NOPE0001", "--off")
    assert code == 2 and "no terminal NOPE0001" in err


def test_create_seals_under_the_kek_named_in_config(jifen) -> None:
    Path("tmk.hex").write_text(TMK.hex())
    code, out, err = jifen("terminal", "create", "--code", "TERMMAC2", "--merchant",
                           "MERCHANT0000001", "--tmk-file", "tmk.hex", "--json")
    assert code == 0, err
    assert json.loads(out)["requires_mac"] is True
    assert not Path("var/kek.hex").exists()  # the variable named by kek_env was used
