"""A member's live cards stay in one partition (back_office/members/one_partition.py,
docs/transfers.md "Members"): assigning a member a card of another partition's range, issuing
one to the member there, or replacing one of the member's cards by a card of another partition
while the member keeps other live cards behind, is refused naming both partitions; with one
partition nothing changes (the other members' tests)."""

from __future__ import annotations

from tests.members.test_members import alliance_with_cards, create, pans


def _with_p2(jifen, sql) -> None:
    """Alliance TEA on main's BIN 622188 and p2's 622189, as `partition add p2` leaves them."""
    alliance_with_cards(jifen)
    sql("INSERT INTO partitions (name, number, state) VALUES ('p2', 1, 'ready')")
    added = jifen("card-range", "add", "--bin-low", "622189", "--bin-high", "622189",
                  "--host", "p2")
    assert added.exit_code == 0, added.err
    issued = jifen("card", "issue", "--alliance", "TEA", "--bin", "622189", "--count", "2",
                   "--out", "P2-cards.csv")
    assert issued.exit_code == 0, issued.err


def test_a_member_is_not_given_a_card_of_another_partition(jifen, sql) -> None:
    _with_p2(jifen, sql)
    member = str(create(jifen)["member_id"])
    assert jifen("member", "assign-card", "--pan", pans()[0], "--member", member).exit_code == 0
    refused = jifen("member", "assign-card", "--pan", pans("P2")[0], "--member", member)
    assert refused.exit_code == 2
    assert "cards are in partition main and this card is in partition p2" in refused.err
    issued = jifen("card", "issue", "--alliance", "TEA", "--bin", "622189", "--count", "1",
                   "--member", member)
    assert issued.exit_code == 2 and "a member's live cards stay in one partition" in issued.err
    # Neither card changed hands.
    assert [row[0] for row in sql("SELECT count(*) FROM cards WHERE member_id = $1",
                                  int(member))] == [1]


def test_a_replacement_into_another_partition_does_not_split_a_member(jifen, sql) -> None:
    _with_p2(jifen, sql)
    member = str(create(jifen)["member_id"])
    for pan in pans()[:2]:
        assert jifen("member", "assign-card", "--pan", pan, "--member", member).exit_code == 0
    refused = jifen("card", "replace", "--pan", pans()[0], "--new-pan", pans("P2")[0],
                    "--reason", "reported lost")
    assert refused.exit_code == 2
    assert f"member {member} keeps other cards in partition main" in refused.err
    assert sql("SELECT count(*) FROM transfers")[0][0] == 0
    assert sql("SELECT count(*) FROM host_commands")[0][0] == 0


def test_a_request_for_a_card_of_another_partition_leaves_its_balance_to_its_host(
    jifen, sql,
) -> None:
    """Central holds no balances of p2's cards: a transfer from one, or taking points from it,
    is asked for (its host checks the balance when it applies it), not refused as empty."""
    _with_p2(jifen, sql)
    assert jifen("alliance", "set-points-transfer", "--code", "TEA",
                 "--allowed").exit_code == 0
    giver, taker = pans("P2")[0], pans()[0]
    for argv in (("card", "transfer", "--pan", giver, "--to-pan", taker, "--points", "100",
                  "--reason", "family"),
                 ("card", "adjust", "--pan", giver, "--points", "-50", "--reason", "double"),
                 ("card", "close", "--pan", giver, "--reason", "left")):
        asked = jifen(*argv)
        assert asked.exit_code == 0, asked.err
    subjects = [row[0] for row in sql("SELECT subject FROM approval_requests ORDER BY id")]
    assert subjects[-1].endswith("(balances in partition p2)"), subjects
    # A card of central's own partition is still checked here.
    refused = jifen("card", "transfer", "--pan", taker, "--to-pan", giver, "--points", "100",
                    "--reason", "family")
    assert refused.exit_code == 2 and "has 0 points, fewer than 100" in refused.err
