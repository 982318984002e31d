"""Members and their cards (`jifen member`): personal data sealed, found by keyed hash, masked."""

from back_office.members.export import MemberExport, export_member
from back_office.members.members import (
    Member,
    MemberCard,
    assign_card,
    create_member,
    find_member,
    list_members,
    open_member_keys,
    show_member,
    update_member,
)

__all__ = [
    "Member", "MemberCard", "MemberExport", "assign_card", "create_member", "export_member",
    "find_member", "list_members", "open_member_keys", "show_member", "update_member",
]
