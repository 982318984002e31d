"""Fixtures of the queries' tests: a journal made over TCP as terminals make it, and the
`jifen` command on it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import msgspec
import pytest

from jifen.cli import main
from proto.keys import load_kek
from tests.e2e.system import (
    CARDS,
    SECOND_ALLIANCE_TERMINAL,
    SECOND_CARDS,
    SECOND_MERCHANT,
    SECOND_TERMINAL,
    running_system,
)


class Run(msgspec.Struct):
    exit_code: int
    out: str
    err: str


class Journal(msgspec.Struct):
    """What the terminals did, and what the host answered."""

    business_date: date
    purchase_rrn: str             # CARDS[0]'s plain purchase
    transactions: int             # approvals that posted
    declined_terminal: str        # where the 51 was answered


async def make_journal(database_url: str) -> Journal:
    """CARDS[0] at TERM0001: a load of 100.00, a stored-value purchase of 60.00 (+60 points),
    a purchase of 123.45 (+123), a redemption of 50 points, and a redemption of 100,000
    points declined 51; CARDS[1] at TERM0002: a purchase of 50.00 (+50); SECOND_CARDS[0] at
    the second alliance's merchant: a purchase of 30.00 (+30)."""
    async with running_system(database_url) as system:
        async with system.terminal() as terminal:
            await terminal.sign_on()
            assert (await terminal.load_stored_value(CARDS[0], 10_000))["39"] == "00"
            assert (await terminal.purchase_stored_value(CARDS[0], 6_000))["39"] == "00"
            purchase = await terminal.purchase(CARDS[0], 12_345)
            assert purchase["39"] == "00"
            assert (await terminal.redeem(CARDS[0], 50))["39"] == "00"
            assert (await terminal.redeem(CARDS[0], 100_000))["39"] == "51"
        async with system.terminal(SECOND_TERMINAL) as terminal:
            await terminal.sign_on()
            assert (await terminal.purchase(CARDS[1], 5_000))["39"] == "00"
        async with system.terminal(SECOND_ALLIANCE_TERMINAL, SECOND_MERCHANT) as terminal:
            await terminal.sign_on()
            assert (await terminal.purchase(SECOND_CARDS[0], 3_000))["39"] == "00"
        business_date = await system.fetchval("SELECT max(business_date) FROM transactions")
        count = await system.fetchval("SELECT count(*) FROM transactions")
    return Journal(business_date, purchase["37"], count, "TERM0001")


@pytest.fixture
def journal(database_url: str, run_async: Callable[..., object]) -> Journal:
    made = run_async(make_journal, database_url)
    assert isinstance(made, Journal)
    return made


@pytest.fixture
def jifen(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., Run]:
    """`jifen("txn", "find")`: exit code and output, on this test's database, with the KEK
    the cards were sealed under."""
    config = tmp_path / "jifen.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n')
    monkeypatch.delenv("JIFEN_DATABASE_URL", raising=False)
    monkeypatch.setenv("JIFEN_KEK", load_kek().hex())

    def run(*argv: str) -> Run:
        capsys.readouterr()
        exit_code = main(["--config", str(config), *argv])
        captured = capsys.readouterr()
        return Run(exit_code, captured.out, captured.err)

    return run


# `jifen audit` after every test of a database, as in the end-to-end tests.
from tests.e2e.conftest import audited_database  # noqa: E402,F401
