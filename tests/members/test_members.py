"""`jifen member` as card service staff use it: members with sealed personal data, found by
mobile or card, changed, listed, exported; nothing personal in clear in the database or in
any output but the member's own export."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path

import anyio
import pytest

from back_office.provisioning.errors import InvalidValueError
from tests.keys_kit import card_pans
from tests.provisioning.cli_harness import TEST_KEK_HEX

MOBILE = "13812345678"
MOBILE_MASKED = "138****5678"
ID_NUMBER = "11010519491231002X"   # GB 11643's own example: its check character is X
ID_MASKED = "110***********002X"


def alliance_with_cards(jifen, code: str = "TEA", bin_: str = "622188", count: int = 3) -> None:
    assert jifen("alliance", "create", "--code", code, "--name", f"{code} Street").exit_code == 0
    assert jifen("card-range", "add", "--bin-low", bin_, "--bin-high", bin_).exit_code == 0
    run = jifen("card", "issue", "--alliance", code, "--bin", bin_, "--count", str(count),
                "--out", f"{code}-cards.csv")
    assert run.exit_code == 0, run.err


def pans(code: str = "TEA") -> list[str]:
    with Path(f"{code}-cards.csv").open(newline="") as handle:
        return [row["pan"] for row in csv.DictReader(handle)]


def create(jifen, *extra: str, mobile: str = MOBILE, alliance: str = "TEA") -> dict:
    run = jifen("member", "create", "--alliance", alliance, "--name", "王小明", "--mobile",
                mobile, *extra, "--json")
    assert run.exit_code == 0, run.err
    return json.loads(run.out)


class TestCreateAndShow:
    def test_personal_data_is_sealed_and_shown_masked(self, jifen, sql) -> None:
        alliance_with_cards(jifen)
        member = create(jifen, "--id-number", ID_NUMBER, "--birthday", "1990-05-01")
        assert (member["name"], member["mobile_masked"], member["id_number_masked"]) == \
            ("王小明", MOBILE_MASKED, ID_MASKED)
        assert member["birthday"] == "1990-05-01" and member["cards"] == []
        shown = jifen("member", "show", "--id", str(member["member_id"]))
        assert shown.exit_code == 0 and MOBILE_MASKED in shown.out and ID_MASKED in shown.out
        [row] = sql("SELECT members::text AS whole, mobile_sealed, id_number_sealed"
                    " FROM members")
        dump = row["whole"].encode() + row["mobile_sealed"] + row["id_number_sealed"]
        for clear in (MOBILE, ID_NUMBER, MOBILE[-8:], ID_NUMBER[6:14]):
            assert clear.encode() not in dump

    def test_bad_values_are_refused_naming_the_field(self, jifen, sql) -> None:
        alliance_with_cards(jifen)
        for argv, message in [
            (("--mobile", "12345"), "mobile number has 11 digits"),
            (("--mobile", MOBILE, "--id-number", ID_NUMBER[:-1] + "1"), "check character"),
            (("--mobile", MOBILE, "--birthday", "2999-01-01"), "birthday lies between"),
            (("--mobile", MOBILE, "--birthday", "1990-13-01"), "is not YYYY-MM-DD"),
        ]:
            run = jifen("member", "create", "--alliance", "TEA", "--name", "x", *argv)
            assert run.exit_code == 2 and message in run.err, (argv, run.err)
        run = jifen("member", "create", "--alliance", "NOPE", "--name", "x", "--mobile", MOBILE)
        assert run.exit_code == 2 and "no alliance NOPE" in run.err
        assert sql("SELECT count(*) FROM members")[0][0] == 0

    def test_one_member_per_mobile_and_id_number_in_an_alliance(self, jifen) -> None:
        alliance_with_cards(jifen)
        alliance_with_cards(jifen, "OAK", "622299")
        create(jifen, "--id-number", ID_NUMBER)
        again = jifen("member", "create", "--alliance", "TEA", "--name", "y", "--mobile",
                      "+86 138-1234-5678")
        assert again.exit_code == 2 and f"another member of the alliance has mobile" \
            f" {MOBILE_MASKED}" in again.err
        same_id = jifen("member", "create", "--alliance", "TEA", "--name", "y", "--mobile",
                        "13900000000", "--id-number", ID_NUMBER.lower())
        assert same_id.exit_code == 2 and "has this ID number" in same_id.err
        create(jifen, alliance="OAK")  # another alliance: another programme's member
        found = jifen("member", "find", "--mobile", MOBILE)
        assert found.exit_code == 2 and "2 members have mobile" in found.err


class TestFindAssignUpdate:
    def test_find_by_mobile_or_by_card(self, jifen) -> None:
        alliance_with_cards(jifen)
        member = create(jifen)
        pan = pans()[0]
        assigned = jifen("member", "assign-card", "--pan", pan, "--member",
                         str(member["member_id"]))
        assert assigned.exit_code == 0, assigned.err
        assert pan not in assigned.out and pan[-4:] in assigned.out
        for argv in (("--mobile", "138 1234 5678"), ("--pan", pan)):
            found = jifen("member", "find", *argv, "--json")
            assert found.exit_code == 0, found.err
            found_member = json.loads(found.out)
            assert found_member["member_id"] == member["member_id"]
            assert [card["pan_masked"][-4:] for card in found_member["cards"]] == [pan[-4:]]
            assert found_member["cards"][0]["points"] == 0
        missing = jifen("member", "find", "--pan", pans()[1])
        assert missing.exit_code == 2 and "no member has card" in missing.err

    def test_a_card_is_one_members_and_of_their_alliance(self, jifen) -> None:
        alliance_with_cards(jifen)
        alliance_with_cards(jifen, "OAK", "622299")
        first, second = create(jifen), create(jifen, mobile="13900000000")
        pan = pans()[0]
        assert jifen("member", "assign-card", "--pan", pan, "--member",
                     str(first["member_id"])).exit_code == 0
        taken = jifen("member", "assign-card", "--pan", pan, "--member",
                      str(second["member_id"]))
        assert taken.exit_code == 2 and f"belongs to member {first['member_id']}" in taken.err
        foreign = jifen("member", "assign-card", "--pan", pans("OAK")[0], "--member",
                        str(second["member_id"]))
        assert foreign.exit_code == 2 and "another alliance" in foreign.err

    def test_update_changes_only_what_is_given(self, jifen) -> None:
        alliance_with_cards(jifen)
        member = create(jifen, "--birthday", "1990-05-01")
        run = jifen("member", "update", "--id", str(member["member_id"]), "--mobile",
                    "13900001111", "--json")
        assert run.exit_code == 0, run.err
        after = json.loads(run.out)
        assert after["mobile_masked"] == "139****1111" and after["birthday"] == "1990-05-01"
        assert jifen("member", "find", "--mobile", MOBILE).exit_code == 2
        assert jifen("member", "find", "--mobile", "13900001111").exit_code == 0
        nothing = jifen("member", "update", "--id", str(member["member_id"]))
        assert nothing.exit_code == 2 and "nothing to change" in nothing.err

    def test_list_pages(self, jifen) -> None:
        alliance_with_cards(jifen)
        ids = [create(jifen, mobile=f"1390000000{n}")["member_id"] for n in range(5)]
        first = json.loads(jifen("member", "list", "--alliance", "TEA", "--limit", "3",
                                 "--json").out)
        rest = json.loads(jifen("member", "list", "--alliance", "TEA", "--limit", "3",
                                "--after", str(first[-1]["member_id"]), "--json").out)
        assert [m["member_id"] for m in first + rest] == ids


class TestExport:
    def test_the_member_gets_everything_in_clear_in_a_private_file(self, jifen) -> None:
        alliance_with_cards(jifen)
        member = create(jifen, "--id-number", ID_NUMBER)
        run = jifen("member", "export", "--id", str(member["member_id"]), "--out", "m.json")
        assert run.exit_code == 0, run.err
        assert MOBILE not in run.out + run.err
        assert stat.S_IMODE(Path("m.json").stat().st_mode) == 0o600
        exported = json.loads(Path("m.json").read_text())
        assert (exported["mobile"], exported["id_number"], exported["name"]) == \
            (MOBILE, ID_NUMBER, "王小明")
        again = jifen("member", "export", "--id", str(member["member_id"]), "--out", "m.json")
        assert again.exit_code == 2 and "exists already" in again.err
        Path("link.json").symlink_to("elsewhere.json")
        linked = jifen("member", "export", "--id", str(member["member_id"]), "--out",
                       "link.json")
        assert linked.exit_code != 0 and not Path("elsewhere.json").exists()


def test_no_personal_data_in_any_output_but_the_export(jifen, database_url) -> None:
    alliance_with_cards(jifen)
    member = create(jifen, "--id-number", ID_NUMBER)
    outputs = [json.dumps(member)]
    for argv in (("member", "show", "--id", str(member["member_id"])),
                 ("member", "find", "--mobile", MOBILE, "--json"),
                 ("member", "list", "--alliance", "TEA"),
                 ("member", "update", "--id", str(member["member_id"]), "--name", "王大明")):
        run = jifen(*argv)
        assert run.exit_code == 0, run.err
        outputs.append(run.out + run.err)
    card_numbers = anyio.run(card_pans, database_url, bytes.fromhex(TEST_KEK_HEX))
    for text in outputs:
        assert MOBILE not in text and ID_NUMBER not in text
        assert not any(pan in text for pan in card_numbers.values())


def test_the_id_number_check_character() -> None:
    from back_office.members.validate import id_number

    assert id_number(" 11010519491231002x ") == ID_NUMBER
    for position in range(17):  # any one digit changed is caught
        digits = list(ID_NUMBER)
        digits[position] = str((int(digits[position]) + 1) % 10)
        with pytest.raises(InvalidValueError):
            id_number("".join(digits))


def test_a_card_issued_to_a_member(jifen) -> None:
    alliance_with_cards(jifen)
    alliance_with_cards(jifen, "OAK", "622299")
    member = create(jifen)
    run = jifen("card", "issue", "--alliance", "TEA", "--bin", "622188", "--count", "1",
                "--member", str(member["member_id"]), "--out", "own-cards.csv")
    assert run.exit_code == 0, run.err
    shown = json.loads(jifen("member", "show", "--id", str(member["member_id"]),
                             "--json").out)
    assert [card["pan_masked"][-4:] for card in shown["cards"]] == [pans("own")[0][-4:]]
    for argv, message in [
        (("--alliance", "TEA", "--bin", "622188", "--count", "2"), "--count 1"),
        (("--alliance", "OAK", "--bin", "622299", "--count", "1"), "of another alliance"),
    ]:
        refused = jifen("card", "issue", *argv, "--member", str(member["member_id"]))
        assert refused.exit_code == 2 and message in refused.err, refused.err
