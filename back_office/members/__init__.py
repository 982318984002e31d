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
from back_office.members.notifications import (
    NotificationPreferences,
    set_preferences,
    show_preferences,
)

__all__ = [
    "Member", "MemberCard", "MemberExport", "NotificationPreferences", "assign_card",
    "create_member", "export_member", "find_member", "list_members", "open_member_keys",
    "set_preferences", "show_member", "show_preferences", "update_member",
]
