"""`jifen member show` over partitions: a member's cards' balances are read where the cards
are (a partition's host writes its own cards' accounts; central holds none of them), and a
partition that cannot be read fails the command naming it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from database.roles import Role
from jifen.cli import main
from tests.partition_day import (
    UNREACHABLE_URL,
    SplitDay,
    connected,
    first_row,
    on_database,
    write_config,
)

# A card of p2's (odd ids) holding points and stored value there.
P2_CARD_SQL = """
SELECT card_id, sum(balance) FILTER (WHERE kind = 'member_points') AS points,
       sum(balance) FILTER (WHERE kind = 'member_stored_value') AS fen
FROM accounts WHERE card_id % 2 = 1 GROUP BY card_id
HAVING sum(balance) FILTER (WHERE kind = 'member_points') > 0
ORDER BY card_id LIMIT 1
"""


async def _member_holding(url: str, card_id: int) -> int:
    async with connected(url) as connection:
        member_id = await connection.fetchval(
            "INSERT INTO members (alliance_id, name, mobile_hmac, mobile_sealed, mobile_masked,"
            " joined_on) SELECT alliance_id, 'x', sha256('m'), '\\x02', '138****0000',"
            " current_date FROM cards WHERE id = $1 RETURNING id", card_id)
        await connection.execute("UPDATE cards SET member_id = $2 WHERE id = $1", card_id,
                                 member_id)
    return int(member_id)


def _show(capsys: pytest.CaptureFixture[str], config: Path, member_id: int) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["--config", str(config), "member", "show", "--id", str(member_id), "--json"])
    captured = capsys.readouterr()
    return code, captured.out if code == 0 else captured.err


def test_a_members_card_of_p2_shows_its_balances_there(
    split: SplitDay, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    run_async: Callable[..., object], role_url: Callable[[Role], str],
) -> None:
    held = run_async(first_row, split.p2_url, P2_CARD_SQL)
    member_id = run_async(_member_holding, split.central_url, held["card_id"])
    audit = role_url(Role.AUDIT)
    two = write_config(tmp_path / "two.toml", split.central_url, {"p2": split.p2_url}, {
        "p2": {"audit_url": on_database(audit, split.p2_url)}})
    code, out = _show(capsys, two, member_id)
    assert code == 0, out
    [card] = json.loads(out)["cards"]
    assert (card["card_id"], card["points"], card["stored_value_fen"]) == (
        held["card_id"], held["points"], held["fen"] or 0)
    # Central holds none of them.
    assert run_async(first_row, split.central_url, "SELECT count(*) FROM accounts WHERE"
                     f" card_id = {held['card_id']}")[0] == 0
    down = write_config(tmp_path / "down.toml", split.central_url, {"p2": UNREACHABLE_URL})
    code, err = _show(capsys, down, member_id)
    assert code == 2 and "partition p2 could not be read" in err
