"""`jifen alliance|merchant|terminal|card-range` on a real database, checked with SQL."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

from tests.provisioning.cli_harness import Run

TMK_HEX = "00112233445566778899AABBCCDDEEFF"


def create_basics(jifen: Callable[..., Run]) -> None:
    assert jifen("alliance", "create", "--code", "TEA", "--name", "Tea Street").exit_code == 0
    assert jifen("merchant", "create", "--alliance", "TEA", "--code", "TEA000000000001",
                 "--name", "Tea House").exit_code == 0


class TestAlliance:
    def test_create_stores_what_was_asked(self, jifen, sql) -> None:
        run = jifen("alliance", "create", "--code", "TEA", "--name", "Tea Street",
                    "--timezone", "Asia/Urumqi", "--cutover", "22:30",
                    "--exchange-points-per-yuan", "50", "--json")
        assert run.exit_code == 0, run.err
        assert json.loads(run.out)["code"] == "TEA"
        [row] = sql("SELECT code, name, timezone, cutover_local_time::text AS cutover,"
                    " exchange_points_per_yuan FROM alliances")
        assert dict(row) == {"code": "TEA", "name": "Tea Street", "timezone": "Asia/Urumqi",
                             "cutover": "22:30:00", "exchange_points_per_yuan": 50}

    def test_mac_for_loads_by_default_and_no_mac_for_loads(self, jifen, sql) -> None:
        run = jifen("alliance", "create", "--code", "TEA", "--name", "Tea Street", "--json")
        assert run.exit_code == 0 and json.loads(run.out)["requires_mac_for_loads"] is True
        run = jifen("alliance", "create", "--code", "OLD", "--name", "Old Street",
                    "--no-mac-for-loads")
        assert run.exit_code == 0 and "allowed from terminals that do not MAC" in run.out
        rows = sql("SELECT code, requires_mac_for_loads FROM alliances ORDER BY code")
        assert [tuple(row) for row in rows] == [("OLD", False), ("TEA", True)]

    def test_mac_for_loads_is_switched_per_alliance(self, jifen, sql) -> None:
        assert jifen("alliance", "create", "--code", "TEA", "--name", "Tea").exit_code == 0
        run = jifen("alliance", "set-mac-for-loads", "--code", "TEA", "--off")
        assert run.exit_code == 0 and "allowed from terminals that do not MAC" in run.out
        assert sql("SELECT requires_mac_for_loads AS r FROM alliances")[0]["r"] is False
        run = jifen("alliance", "set-mac-for-loads", "--code", "TEA", "--on", "--json")
        assert run.exit_code == 0 and json.loads(run.out)["requires_mac_for_loads"] is True
        run = jifen("alliance", "set-mac-for-loads", "--code", "NOPE", "--on")
        assert run.exit_code == 2 and "no alliance NOPE" in run.err

    def test_duplicate_code_is_a_clear_error(self, jifen, sql) -> None:
        assert jifen("alliance", "create", "--code", "TEA", "--name", "A").exit_code == 0
        run = jifen("alliance", "create", "--code", "TEA", "--name", "B")
        assert run.exit_code == 2
        assert "alliance TEA already exists" in run.err
        assert [row["name"] for row in sql("SELECT name FROM alliances")] == ["A"]

    def test_bad_values_are_refused(self, jifen) -> None:
        for extra, message in ((("--timezone", "Mars/Olympus"), "unknown time zone"),
                               (("--cutover", "25:00"), "HH:MM"),
                               (("--exchange-points-per-yuan", "0"), "between 1")):
            run = jifen("alliance", "create", "--code", "TEA", "--name", "A", *extra)
            assert run.exit_code == 2 and message in run.err, run.err
        run = jifen("alliance", "create", "--code", "TEA STREET", "--name", "A")
        assert run.exit_code == 2 and "letters, digits" in run.err

    def test_list(self, jifen) -> None:
        create_basics(jifen)
        run = jifen("alliance", "list", "--json")
        assert [alliance["code"] for alliance in json.loads(run.out)] == ["TEA"]
        assert "Tea Street" in jifen("alliance", "list").out


class TestMerchant:
    def test_create_list_and_toggle(self, jifen, sql) -> None:
        jifen("alliance", "create", "--code", "TEA", "--name", "Tea Street")
        run = jifen("merchant", "create", "--alliance", "TEA", "--code", "TEA000000000001",
                    "--name", "Tea House", "--earn-points-per-yuan", "2", "--inactive")
        assert run.exit_code == 0, run.err
        [row] = sql("SELECT merchant_code, active, earn_points_per_yuan FROM merchants")
        assert tuple(row) == ("TEA000000000001", False, 2)
        assert jifen("merchant", "activate", "--code", "TEA000000000001").exit_code == 0
        assert sql("SELECT active FROM merchants")[0]["active"] is True
        listed = json.loads(jifen("merchant", "list", "--alliance", "TEA", "--json").out)
        assert listed[0]["alliance_code"] == "TEA" and listed[0]["active"] is True

    def test_errors(self, jifen) -> None:
        create_basics(jifen)
        cases = [
            (("create", "--alliance", "NOPE", "--code", "X" * 15, "--name", "N"),
             "no alliance NOPE"),
            (("create", "--alliance", "TEA", "--code", "SHORT", "--name", "N"),
             "exactly 15 characters"),
            (("create", "--alliance", "TEA", "--code", "TEA000000000001", "--name", "N"),
             "merchant TEA000000000001 already exists"),
            (("deactivate", "--code", "NOPE00000000000"), "no merchant NOPE00000000000"),
            (("list", "--alliance", "NOPE"), "no alliance NOPE"),
        ]
        for argv, message in cases:
            run = jifen("merchant", *argv)
            assert run.exit_code == 2 and message in run.err, (argv, run.err)


def tmk_file(text: str, name: str = "tmk.hex") -> str:
    """A TMK file in the working directory (the test's tmp_path): TMKs never go on argv."""
    Path(name).write_text(text + "\n")
    return name


class TestTerminal:
    def test_tmk_is_stored_sealed_and_opens(self, jifen, sql, front) -> None:
        create_basics(jifen)
        run = jifen("terminal", "create", "--code", "TEA00001", "--merchant", "TEA000000000001",
                    "--tmk-file", tmk_file(TMK_HEX), "--json")
        assert run.exit_code == 0, run.err
        assert json.loads(run.out)["tmk_check_value"]
        [row] = sql("SELECT requires_mac, tmk_encrypted FROM terminals")
        clear = bytes.fromhex(TMK_HEX)
        assert row["requires_mac"] is True  # the default since migration 007
        assert clear not in row["tmk_encrypted"]
        assert front().open(row["tmk_encrypted"], "TEA00001") == clear

    def test_creating_a_terminal_needs_no_kek(self, jifen, sql, front, monkeypatch) -> None:
        """The operator's CLI seals to the front's public key: it holds no key that opens a
        TMK. With no usable KEK at all it still creates the terminal, which the front opens."""
        create_basics(jifen)
        monkeypatch.setenv("JIFEN_KEK", "not a key")
        run = jifen("terminal", "create", "--code", "TEA00001", "--merchant",
                    "TEA000000000001", "--tmk-file", tmk_file(TMK_HEX))
        assert run.exit_code == 0, run.err
        assert not Path("var/kek.hex").exists()
        [row] = sql("SELECT tmk_encrypted FROM terminals")
        assert front().open(row["tmk_encrypted"], "TEA00001") == bytes.fromhex(TMK_HEX)

    def test_tmk_on_argv_is_refused_naming_the_new_options(self, jifen, sql) -> None:
        create_basics(jifen)
        run = jifen("terminal", "create", "--code", "TEA00001", "--merchant", "TEA000000000001",
                    "--tmk", TMK_HEX)
        assert run.exit_code == 2 and "--tmk-file" in run.err and "--tmk-stdin" in run.err
        assert sql("SELECT count(*) FROM terminals")[0][0] == 0

    def test_tmk_from_stdin_and_no_mac(self, jifen, sql, front, monkeypatch) -> None:
        create_basics(jifen)
        monkeypatch.setattr("sys.stdin", io.StringIO(TMK_HEX + "\n"))
        run = jifen("terminal", "create", "--code", "TEA00001", "--merchant", "TEA000000000001",
                    "--tmk-stdin", "--no-mac", "--json")
        assert run.exit_code == 0, run.err
        assert json.loads(run.out)["requires_mac"] is False
        [row] = sql("SELECT requires_mac, tmk_encrypted FROM terminals")
        assert front().open(row["tmk_encrypted"], "TEA00001") == bytes.fromhex(TMK_HEX)

    def test_errors(self, jifen) -> None:
        create_basics(jifen)
        base = ("terminal", "create", "--merchant", "TEA000000000001")
        cases = [
            (("--code", "TEA1", "--tmk-file", tmk_file(TMK_HEX, "a")), "exactly 8 characters"),
            (("--code", "TEA00001", "--tmk-file", tmk_file("XYZ", "b")), "hex"),
            (("--code", "TEA00001", "--tmk-file", tmk_file("00" * 8, "c")), "32 hex digits"),
            (("--code", "TEA00001", "--tmk-file", tmk_file("0123456789ABCDEF" * 2, "d")),
             "single DES"),
            (("--code", "TEA00001", "--tmk-file", "missing.hex"), "cannot read"),
            (("--code", "TEA00001"), "--tmk-file FILE or --tmk-stdin"),
        ]
        for argv, message in cases:
            run = jifen(*base, *argv)
            assert run.exit_code == 2 and message in run.err, (argv, run.err)
        key = tmk_file(TMK_HEX)
        assert jifen(*base, "--code", "TEA00001", "--tmk-file", key, "--no-mac").exit_code == 0
        run = jifen(*base, "--code", "TEA00001", "--tmk-file", key)
        assert run.exit_code == 2 and "terminal TEA00001 already exists" in run.err
        run = jifen("terminal", "create", "--merchant", "NOPE00000000000", "--code", "TEA00002",
                    "--tmk-file", key)
        assert run.exit_code == 2 and "no merchant" in run.err
        listed = json.loads(jifen("terminal", "list", "--json").out)
        assert listed == [{"terminal_code": "TEA00001", "merchant_code": "TEA000000000001",
                           "requires_mac": False, "active": True, "has_tmk": True,
                           "shop_code": None, "tmk_check_value": None}]


class TestCardRange:
    def test_add_list_and_overlap(self, jifen, sql) -> None:
        assert jifen("card-range", "add", "--bin-low", "622188", "--bin-high", "622199")\
            .exit_code == 0
        run = jifen("card-range", "add", "--bin-low", "6221", "--bin-high", "6221",
                    "--host", "other")
        assert run.exit_code == 2 and "overlaps card range 622188-622199" in run.err
        run = jifen("card-range", "add", "--bin-low", "62", "--bin-high", "6")
        assert run.exit_code == 2 and "same number of digits" in run.err
        run = jifen("card-range", "add", "--bin-low", "6223000", "--bin-high", "6223009")
        assert run.exit_code == 2 and "at most 6 digits" in run.err
        assert jifen("card-range", "add", "--bin-low", "6222", "--bin-high", "6222",
                     "--host", "second").exit_code == 0
        listed = json.loads(jifen("card-range", "list", "--json").out)
        assert [(r["bin_low"], r["host_name"]) for r in listed] == \
            [("622188", "main"), ("6222", "second")]
