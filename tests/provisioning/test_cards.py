"""`jifen card issue`: many unique Luhn-valid cards at once, a CSV of them, clear refusals."""

from __future__ import annotations

import csv
import os
import stat
from pathlib import Path

import anyio

from back_office.provisioning.card_numbers import PanGenerator
from proto.pan import luhn_valid
from tests.keys_kit import card_pans
from tests.provisioning.cli_harness import TEST_KEK_HEX, Run


def create_alliance(jifen) -> None:
    assert jifen("alliance", "create", "--code", "TEA", "--name", "Tea Street").exit_code == 0


def issue(jifen, *argv: str) -> Run:
    return jifen("card", "issue", "--alliance", "TEA", *argv)



def pans_of(database_url: str) -> dict[int, str]:
    return anyio.run(card_pans, database_url, bytes.fromhex(TEST_KEK_HEX))


class TestIssue:
    def test_thousand_cards_unique_luhn_valid_and_in_the_csv(
        self, jifen, sql, database_url,
    ) -> None:
        create_alliance(jifen)
        jifen("card-range", "add", "--bin-low", "622188", "--bin-high", "622188")
        run = issue(jifen, "--bin", "622188", "--count", "1000", "--expires", "2031-02",
                    "--out", "out/cards.csv")
        assert run.exit_code == 0, run.err
        assert "issued 1000 cards" in run.out and "warning" not in run.err
        rows = sql("SELECT id, expires_on::text AS expires_on FROM cards ORDER BY id")
        by_id = pans_of(database_url)
        pans = [by_id[row["id"]] for row in rows]
        assert len(pans) == len(set(pans)) == 1000
        assert all(len(pan) == 16 and pan.startswith("622188") and luhn_valid(pan)
                   for pan in pans)
        assert {row["expires_on"] for row in rows} == {"2031-02-28"}
        path = Path("out/cards.csv")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with path.open(newline="") as handle:
            listed = list(csv.DictReader(handle))
        assert len(listed) == 1000
        assert [(r["pan"], r["expires_on"], int(r["card_id"])) for r in listed] == \
            [(by_id[row["id"]], row["expires_on"], row["id"]) for row in rows]

    def test_the_output_shows_card_numbers_masked(self, jifen, sql, database_url) -> None:
        create_alliance(jifen)
        for output in ([], ["--json"]):
            run = issue(jifen, "--bin", "622188", "--count", "5", *output)
            assert run.exit_code == 0, run.err
            pans = list(pans_of(database_url).values())
            assert not [pan for pan in pans if pan in run.out + run.err]
            assert "622188******" in run.out

    def test_the_csv_is_never_written_through_a_planted_link(self, jifen, tmp_path) -> None:
        """A link planted where the command stages the CSV (it runs in this process, so its
        staging name is known) is replaced, never followed."""
        create_alliance(jifen)
        target = tmp_path / "elsewhere"
        target.write_text("kept\n")
        out = Path("out/cards.csv")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_name(f".{out.name}.{os.getpid()}.partial").symlink_to(target)
        run = issue(jifen, "--bin", "622188", "--count", "5", "--out", str(out))
        assert run.exit_code == 0, run.err
        assert target.read_text() == "kept\n"
        assert not out.is_symlink() and stat.S_IMODE(out.stat().st_mode) == 0o600

    def test_a_second_issue_adds_new_numbers(self, jifen, sql, database_url) -> None:
        create_alliance(jifen)
        for _ in range(2):
            assert issue(jifen, "--bin", "62218800", "--count", "300", "--length", "17")\
                .exit_code == 0
        [row] = sql("SELECT count(*) AS cards, count(DISTINCT pan_hmac) AS pans FROM cards")
        assert (row["cards"], row["pans"]) == (600, 600)
        assert len(set(pans_of(database_url).values())) == 600

    def test_unrouted_bin_is_warned_about(self, jifen) -> None:
        create_alliance(jifen)
        run = issue(jifen, "--bin", "999999", "--count", "5", "--json")
        assert run.exit_code == 0 and "no card range routes BIN 999999" in run.err

    def test_refusals_write_nothing(self, jifen, sql) -> None:
        create_alliance(jifen)
        cases = [
            (("--bin", "62218812345678", "--count", "1"), "1-12 digits"),
            (("--bin", "6221881234", "--count", "60000"), "issue fewer"),  # 10^5 numbers
            (("--bin", "622188", "--count", "0"), "count must be"),
            (("--bin", "622188", "--count", "1", "--length", "20"), "16-19"),
            (("--bin", "622188", "--count", "1", "--expires", "2001-01"), "in the past"),
            (("--bin", "622188", "--count", "1", "--expires", "soon"), "YYYY-MM"),
        ]
        for argv, message in cases:
            run = issue(jifen, *argv)
            assert run.exit_code == 2 and message in run.err, (argv, run.err)
        run = jifen("card", "issue", "--alliance", "NOPE", "--bin", "622188", "--count", "1")
        assert run.exit_code == 2 and "no alliance NOPE" in run.err
        assert sql("SELECT count(*) FROM cards")[0][0] == 0


class TestPanGenerator:
    def test_every_length_and_bin_gives_luhn_valid_numbers(self) -> None:
        for bin_prefix, length in (("6", 16), ("622188", 16), ("622188", 19), ("62218812", 17),
                                   ("62218812345", 16), ("1234567890", 19)):
            generator = PanGenerator(bin_prefix, length)
            pans = generator.random_pans(min(500, generator.space_size // 2), set())
            assert len(set(pans)) == len(pans)
            assert all(len(pan) == length and pan.startswith(bin_prefix) and luhn_valid(pan)
                       for pan in pans)

    def test_a_tiny_space_is_filled_exactly(self) -> None:
        generator = PanGenerator("62218812345", 16)  # 4 random digits: 10,000 numbers
        pans = generator.random_pans(generator.space_size, set())
        assert sorted(pans) == sorted(generator.pan(value) for value in range(10_000))


class TestStatus:
    def test_report_lost_and_reactivate(self, jifen, sql, database_url) -> None:
        create_alliance(jifen)
        assert issue(jifen, "--bin", "622188", "--count", "3").exit_code == 0
        card_id, pan = next(iter(pans_of(database_url).items()))
        run = jifen("card", "status", "--pan", pan, "lost")
        assert run.exit_code == 0, run.err
        assert pan not in run.out and f"{pan[:6]}******{pan[-4:]}: active -> lost" in run.out
        assert sql("SELECT status FROM cards WHERE id = $1", card_id)[0]["status"] == "lost"
        assert jifen("card", "status", "--pan", pan, "active").exit_code == 0
        assert sql("SELECT status FROM cards WHERE id = $1", card_id)[0]["status"] == "active"

    def test_unknown_card_is_a_clear_error(self, jifen) -> None:
        run = jifen("card", "status", "--pan", "6221880000000000", "stolen")
        assert run.exit_code == 2 and "no card 622188******0000 is issued" in run.err
