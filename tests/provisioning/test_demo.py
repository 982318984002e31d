"""`jifen demo`: what it says it creates, once; `--if-empty` leaves existing data alone."""

from __future__ import annotations

import csv
import stat
from pathlib import Path


def test_demo_creates_what_it_says(jifen, sql) -> None:
    run = jifen("demo")
    assert run.exit_code == 0, run.err
    assert "DEMO0001" in run.out and "var/demo-cards.csv" in run.out
    [counts] = sql(
        "SELECT (SELECT count(*) FROM alliances) AS alliances,"
        " (SELECT count(*) FROM merchants) AS merchants,"
        " (SELECT count(*) FROM terminals) AS terminals,"
        " (SELECT count(*) FROM card_ranges) AS card_ranges,"
        " (SELECT count(DISTINCT pan_hmac) FROM cards WHERE pan_masked LIKE '622188%') AS cards"
    )
    assert dict(counts) == {"alliances": 1, "merchants": 3, "terminals": 6, "card_ranges": 1,
                            "cards": 1000}
    [alliance] = sql("SELECT code, timezone, cutover_local_time::text AS cutover,"
                     " exchange_points_per_yuan FROM alliances")
    assert tuple(alliance) == ("DEMO", "Asia/Shanghai", "23:00:00", 100)
    rates = sql("SELECT merchant_code, earn_points_per_yuan FROM merchants ORDER BY 1")
    assert [tuple(row) for row in rates] == [
        ("DEMO00000000001", 1), ("DEMO00000000002", 2), ("DEMO00000000003", 1),
    ]
    terminals = sql("SELECT t.terminal_code, m.merchant_code FROM terminals t"
                    " JOIN merchants m ON m.id = t.merchant_id ORDER BY 1")
    assert [row[0] for row in terminals] == [f"DEMO{number:04d}" for number in range(1, 7)]
    assert [row[1] for row in terminals][:2] == ["DEMO00000000001"] * 2
    [card_range] = sql("SELECT bin_low, bin_high, host_name FROM card_ranges")
    assert tuple(card_range) == ("622188", "622188", "main")
    with Path("var/demo-cards.csv").open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 1000


def test_demo_has_rules_gifts_and_a_lottery(jifen, sql) -> None:
    run = jifen("demo")
    assert run.exit_code == 0, run.err
    assert "earn rules in force" in run.out and "lottery DEMOLUCK" in run.out
    categories = sql("SELECT merchant_code, category FROM merchants ORDER BY 1")
    assert [row[1] for row in categories] == ["tea", "books", "bakery"]
    [rules] = sql("SELECT count(*) AS versions, min(document->'bonuses'->>'join') AS join_bonus"
                  " FROM earn_rule_sets")
    assert (rules["versions"], rules["join_bonus"]) == (1, "100")
    gifts = sql("SELECT gift_code, points, stock FROM gift_catalogue ORDER BY 1")
    assert [tuple(row) for row in gifts] == [("MUG", 300, 50), ("TEASET", 500, 20)]
    [lottery] = sql("SELECT code, draw_price_points, state FROM lottery_campaigns")
    assert tuple(lottery) == ("DEMOLUCK", 50, "open")
    rules_shown = jifen("rules", "show", "--alliance", "DEMO")
    assert rules_shown.exit_code == 0 and '"WEEKEND"' in rules_shown.out


def test_demo_terminals_mac_with_tmks_of_this_installation(jifen, sql, front) -> None:
    run = jifen("demo")
    assert run.exit_code == 0, run.err
    assert "var/demo-tmks.csv" in run.out
    tmks = Path("var/demo-tmks.csv")
    assert stat.S_IMODE(tmks.stat().st_mode) == 0o600
    with tmks.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["terminal_code"] for row in rows] == [f"DEMO{n:04d}" for n in range(1, 7)]
    assert len({row["tmk"] for row in rows}) == 6  # one per terminal, drawn here
    assert "0123456789ABCDEFFEDCBA9876543210" not in tmks.read_text()  # the old public key
    keystore = front()
    sealed = {row["terminal_code"]: (row["requires_mac"], row["tmk_encrypted"])
              for row in sql("SELECT terminal_code, requires_mac, tmk_encrypted FROM terminals")}
    for row in rows:
        requires_mac, tmk_encrypted = sealed[row["terminal_code"]]
        assert requires_mac is True
        assert keystore.open(tmk_encrypted, row["terminal_code"]) == bytes.fromhex(row["tmk"])
    [flag] = sql("SELECT requires_mac_for_loads FROM alliances")
    assert flag[0] is True


def test_demo_never_overwrites_a_tmk_file(jifen, sql) -> None:
    Path("var").mkdir()
    Path("var/demo-tmks.csv").write_text("kept\n")
    run = jifen("demo")
    assert run.exit_code == 2 and "var/demo-tmks.csv exists already" in run.err
    assert Path("var/demo-tmks.csv").read_text() == "kept\n"
    assert sql("SELECT count(*) FROM alliances")[0][0] == 0  # nothing created


def test_if_empty_is_a_no_op_the_second_time(jifen, sql) -> None:
    assert jifen("demo", "--if-empty").exit_code == 0
    cards = sql("SELECT count(*) FROM cards")[0][0]
    run = jifen("demo", "--if-empty")
    assert run.exit_code == 0 and "no demo data created" in run.out
    assert sql("SELECT count(*) FROM cards")[0][0] == cards == 1000
    run = jifen("demo")
    assert run.exit_code == 2 and "alliance DEMO already exists" in run.err


def test_if_empty_leaves_other_alliances_alone(jifen, sql) -> None:
    jifen("alliance", "create", "--code", "TEA", "--name", "Tea Street")
    assert jifen("demo", "--if-empty", "--json").out.strip() == "null"
    assert [row[0] for row in sql("SELECT code FROM alliances")] == ["TEA"]
