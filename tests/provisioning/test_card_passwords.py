"""`jifen card password set|reset|show`: the password from stdin or a 0600 file, never argv;
kept only as its verification value; a reset clears the wrong tries."""

from __future__ import annotations

import io
import os

import asyncpg
import pytest

from proto.card_password import verification_value
from proto.keys import Purpose, open_data_keys
from tests.provisioning.cli_harness import TEST_KEK_HEX
from tests.provisioning.test_cards import create_alliance, issue, pans_of

PASSWORD = "2468"


@pytest.fixture
def card(jifen, database_url) -> tuple[int, str]:
    """One card issued by the command: its id and number."""
    create_alliance(jifen)
    assert issue(jifen, "--bin", "622188", "--count", "1").exit_code == 0
    return next(iter(pans_of(database_url).items()))


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


class TestCardPasswordCommands:
    def test_set_show_reset(self, jifen, card, sql, database_url, monkeypatch,
                            run_async) -> None:
        card_id, number = card
        _stdin(monkeypatch, f"{PASSWORD}\n")
        run = jifen("card", "password", "set", "--pan", number, "--password-stdin")
        assert run.exit_code == 0, run.err
        assert number not in run.out and PASSWORD not in run.out and "password set" in run.out
        row = sql("SELECT password_verification, password_version FROM cards WHERE id = $1",
                  card_id)[0]
        assert row["password_version"] == 1

        async def expected() -> bytes:
            connection = await asyncpg.connect(database_url)
            try:
                keys = await open_data_keys(connection, bytes.fromhex(TEST_KEK_HEX),
                                            [Purpose.PIN_VERIFICATION], create=False)
            finally:
                await connection.close()
            return verification_value(keys[Purpose.PIN_VERIFICATION], number, PASSWORD)

        assert row["password_verification"] == run_async(expected)
        shown = jifen("card", "password", "show", "--pan", number)
        assert shown.exit_code == 0 and "password set, 0 wrong tries" in shown.out
        _stdin(monkeypatch, "1357\n")
        again = jifen("card", "password", "set", "--pan", number, "--password-stdin")
        assert again.exit_code == 2 and "has a password already: reset it" in again.err
        sql("INSERT INTO card_password_tries VALUES ($1, 1, 3, now())", card_id)
        assert "locked (75)" in jifen("card", "password", "show", "--pan", number).out
        _stdin(monkeypatch, "135790\n")
        reset = jifen("card", "password", "reset", "--pan", number, "--password-stdin")
        assert reset.exit_code == 0 and "unlocked" in reset.out, reset.err
        assert "0 wrong tries" in jifen("card", "password", "show", "--pan", number).out

    def test_the_password_never_on_the_command_line(self, jifen, card) -> None:
        _, number = card
        with pytest.raises(SystemExit):
            jifen("card", "password", "set", "--pan", number, "--password", PASSWORD)

    def test_a_password_file_must_be_0600(self, jifen, card, tmp_path) -> None:
        _, number = card
        secret = tmp_path / "password.txt"
        secret.write_text(f"{PASSWORD}\n")
        os.chmod(secret, 0o644)
        run = jifen("card", "password", "set", "--pan", number, "--password-file", str(secret))
        assert run.exit_code == 2 and "chmod 600" in run.err
        os.chmod(secret, 0o600)
        run = jifen("card", "password", "set", "--pan", number, "--password-file", str(secret))
        assert run.exit_code == 0, run.err

    @pytest.mark.parametrize("password", ["123", "1234567", "12a4", ""])
    def test_4_to_6_digits(self, jifen, card, monkeypatch, password) -> None:
        _, number = card
        _stdin(monkeypatch, f"{password}\n")
        run = jifen("card", "password", "set", "--pan", number, "--password-stdin")
        assert run.exit_code == 2 and "4-6 digits" in run.err

    def test_reset_of_a_card_without_password(self, jifen, card,
                                              monkeypatch) -> None:
        _, number = card
        _stdin(monkeypatch, f"{PASSWORD}\n")
        run = jifen("card", "password", "reset", "--pan", number, "--password-stdin")
        assert run.exit_code == 2 and "has no password: set one" in run.err
