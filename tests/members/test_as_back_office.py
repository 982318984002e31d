"""The members' functions as the back office's own database role (the CLI tests run as the
owner): its grants must be enough, and no more is needed."""

from __future__ import annotations

from datetime import date

import asyncpg
import pytest

from back_office.members import (
    assign_card,
    create_member,
    export_member,
    find_member,
    open_member_keys,
    update_member,
)
from back_office.provisioning import create_alliance
from database.roles import Role
from proto.keys import Purpose, load_kek, open_data_keys
from tests.keys_kit import insert_cards

pytestmark = pytest.mark.anyio

PAN = "6221880000000018"


async def test_the_back_office_role_keeps_members(database_url, role_url) -> None:
    owner = await asyncpg.connect(database_url)
    try:
        await create_alliance(owner, "TEA", "Tea Street")
        alliance = await owner.fetchval("SELECT id FROM alliances WHERE code = 'TEA'")
        await insert_cards(owner, [PAN], alliance, date(2031, 1, 31))
    finally:
        await owner.close()
    connection = await asyncpg.connect(role_url(Role.BACK_OFFICE))
    try:
        kek = load_kek()
        keys = await open_member_keys(connection, kek)
        lookup = (await open_data_keys(connection, kek, [Purpose.PAN_LOOKUP]))[
            Purpose.PAN_LOOKUP]
        member = await create_member(connection, keys, "TEA", "王小明", "13812345678",
                                     id_number="11010519491231002X")
        await assign_card(connection, lookup, PAN, member.member_id)
        await update_member(connection, keys, member.member_id, mobile="13900001111")
        found = await find_member(connection, keys, lookup, mobile="13900001111")
        assert [card.pan_masked for card in found.cards] == ["622188******0018"]
        exported = await export_member(connection, keys, member.member_id)
        assert (exported.mobile, exported.id_number) == ("13900001111", "11010519491231002X")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):  # only the host writes these
            await connection.execute("UPDATE accounts SET balance = 0")
    finally:
        await connection.close()
