"""A member made through the CLI, with cards issued to it, as card service does it."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.cli_output import json_document
from tests.e2e.test_lifecycle import cli


async def member_with_cards(
    jifen, tmp_path: Path, name: str, mobile: str, *options: str, cards: int = 1,
) -> tuple[str, list[str]]:
    """`jifen member create` in alliance TEST (with `options`, e.g. --birthday), then `cards`
    cards of BIN 622188 issued to it one by one (in that order); the member's id and the
    cards' numbers."""
    created = await cli(jifen, "member", "create", "--alliance", "TEST", "--name", name,
                        "--mobile", mobile, "--json", *options)
    member_id = str(json_document(created)["member_id"])
    pans = []
    for number in range(cards):
        out = tmp_path / f"member-{member_id}-card-{number}.csv"
        await cli(jifen, "card", "issue", "--alliance", "TEST", "--bin", "622188",
                  "--count", "1", "--member", member_id, "--out", str(out))
        pans.append(out.read_text().splitlines()[1].split(",")[0])
    return member_id, pans
