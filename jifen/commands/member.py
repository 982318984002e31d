"""`jifen member create|show|update|list|find|export`, `jifen member assign-card` and
`jifen member notifications` (a member's opt-outs)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import msgspec

from back_office.members import (
    Member,
    assign_card,
    create_member,
    export_member,
    find_member,
    list_members,
    set_preferences,
    show_member,
    show_preferences,
    update_member,
)
from back_office.members.personal_data import PersonalDataKeys
from database.roles import Role
from jifen.commands.runner import (
    add_json_option,
    other_partitions,
    print_json,
    print_table,
    run_command,
)
from jifen.errors import CliError
from proto.keys import Purpose, load_kek, open_data_keys
from proto.notifications import NotificationKind
from runtime.config import load_config

T = TypeVar("T")


def _with_keys(
    args: argparse.Namespace,
    function: Callable[[asyncpg.Connection, PersonalDataKeys, bytes], Awaitable[T]],
) -> T:
    """`function(conn, member keys, pan_lookup key)` as the back office, keys opened with the
    installation's KEK."""
    front = load_config(args.config).front
    kek = load_kek(front.kek_file, front.kek_env)

    async def run(conn: asyncpg.Connection) -> T:
        keys = await open_data_keys(conn, kek, [Purpose.MEMBER_DATA, Purpose.PAN_LOOKUP])
        return await function(conn, PersonalDataKeys.derive(keys[Purpose.MEMBER_DATA]),
                              keys[Purpose.PAN_LOOKUP])

    return run_command(args, Role.BACK_OFFICE, run)


def _print_member(member: Member, as_json: bool) -> None:
    if as_json:
        print_json(member)
        return
    print(f"member {member.member_id} of {member.alliance_code}: {member.name}")
    print(f"  mobile {member.mobile_masked}, ID number {member.id_number_masked or '-'},"
          f" birthday {member.birthday or '-'}, joined {member.joined_on}")
    if member.tier is not None:
        print(f"  tier {member.tier} until {member.tier_until or '-'},"
              f" rolling 12 months {member.tier_rolling_total}")
    print_table(member.cards, ("card_id", "pan_masked", "status", "expires_on", "points",
                               "stored_value_fen"))


def _create(args: argparse.Namespace) -> int:
    member = _with_keys(args, lambda conn, keys, _: create_member(
        conn, keys, args.alliance, args.name, args.mobile, id_number=args.id_number,
        birthday=args.birthday, referred_by=args.referred_by))
    _print_member(member, args.json)
    return 0


def _update(args: argparse.Namespace) -> int:
    _, after = _with_keys(args, lambda conn, keys, _: update_member(
        conn, keys, args.id, name=args.name, mobile=args.mobile, id_number=args.id_number,
        birthday=args.birthday))
    _print_member(after, args.json)
    return 0


def _show(args: argparse.Namespace) -> int:
    config = load_config(args.config)

    async def run(conn: asyncpg.Connection) -> Member:
        return await show_member(conn, args.id,
                                 partitions=await other_partitions(conn, config))

    member = run_command(args, Role.BACK_OFFICE, run)
    _print_member(member, args.json)
    return 0


def _list(args: argparse.Namespace) -> int:
    members = run_command(args, Role.BACK_OFFICE, lambda conn: list_members(
        conn, args.alliance, limit=args.limit, after_id=args.after))
    if args.json:
        print_json(members)
    else:
        print_table(members, ("member_id", "name", "mobile_masked", "id_number_masked",
                              "joined_on"))
        if len(members) == args.limit:
            print(f"(more: --after {members[-1].member_id})")
    return 0


def _find(args: argparse.Namespace) -> int:
    config = load_config(args.config)

    async def run(conn: asyncpg.Connection, keys: PersonalDataKeys, lookup: bytes) -> Member:
        return await find_member(conn, keys, lookup, mobile=args.mobile, pan=args.pan,
                                 partitions=await other_partitions(conn, config))

    member = _with_keys(args, run)
    _print_member(member, args.json)
    return 0


def _assign(args: argparse.Namespace) -> int:
    card = _with_keys(args, lambda conn, _, lookup: assign_card(conn, lookup, args.pan,
                                                                args.member))
    if args.json:
        print_json(card)
    else:
        print(f"card {card.pan_masked} now belongs to member {args.member}")
    return 0


def _export(args: argparse.Namespace) -> int:
    exported = _with_keys(args, lambda conn, keys, _: export_member(conn, keys, args.id))
    document = msgspec.json.format(msgspec.json.encode(exported), indent=2) + b"\n"
    if args.out == "-":
        os.write(1, document)
        return 0
    try:  # a new file only, never through a link: it holds the member's data in clear
        descriptor = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                             0o600)
    except FileExistsError as exc:
        raise CliError(f"{args.out} exists already: name a new file") from exc
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(document)
    print(f"wrote member {args.id}'s data to {args.out} (mode 0600): give it to the member"
          " and delete it")
    return 0


def _notifications(args: argparse.Namespace) -> int:
    if args.opt_out or args.opt_in:
        preferences = run_command(args, Role.BACK_OFFICE, lambda conn: set_preferences(
            conn, args.member, opt_out=args.opt_out, opt_in=args.opt_in))
    else:
        preferences = run_command(args, Role.BACK_OFFICE,
                                  lambda conn: show_preferences(conn, args.member))
    if args.json:
        print_json(preferences)
    else:
        print(f"member {preferences.member_id}: sent {', '.join(preferences.sent) or '-'};"
              f" opted out of {', '.join(preferences.opted_out) or '-'}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("member", help="members: create, change, find, export")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    create = add_json_option(actions.add_parser("create", help="a new member"))
    create.add_argument("--alliance", required=True, help="alliance code")
    create.add_argument("--name", required=True)
    create.add_argument("--mobile", required=True, help="11 digits (stored sealed)")
    create.add_argument("--id-number", help="resident ID number, 18 characters (sealed)")
    create.add_argument("--birthday", metavar="YYYY-MM-DD")
    create.add_argument("--referred-by", type=int, metavar="ID",
                        help="the member who referred them: their card gets the referral"
                             " bonus at this member's first purchase (docs/rules.md)")
    create.set_defaults(handler=_create)

    update = add_json_option(actions.add_parser("update", help="change a member's details"))
    update.add_argument("--id", type=int, required=True, help="member id")
    update.add_argument("--name")
    update.add_argument("--mobile")
    update.add_argument("--id-number")
    update.add_argument("--birthday", metavar="YYYY-MM-DD")
    update.set_defaults(handler=_update)

    show = add_json_option(actions.add_parser("show", help="a member and their cards"))
    show.add_argument("--id", type=int, required=True, help="member id")
    show.set_defaults(handler=_show)

    listing = add_json_option(actions.add_parser("list", help="an alliance's members, paged"))
    listing.add_argument("--alliance", required=True)
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--after", type=int, default=0, metavar="ID",
                         help="the page after this member id")
    listing.set_defaults(handler=_list)

    find = add_json_option(actions.add_parser("find", help="a member by mobile or card"))
    by = find.add_mutually_exclusive_group(required=True)
    by.add_argument("--mobile")
    by.add_argument("--pan", help="one of the member's cards")
    find.set_defaults(handler=_find)

    assign = add_json_option(actions.add_parser(
        "assign-card", help="give an anonymous card to a member"))
    assign.add_argument("--pan", required=True)
    assign.add_argument("--member", type=int, required=True, help="member id")
    assign.set_defaults(handler=_assign)

    kinds = ", ".join(kind.value for kind in NotificationKind)
    notifications = add_json_option(actions.add_parser(
        "notifications", help="a member's notification preferences: show, opt out or in"))
    notifications.add_argument("--member", type=int, required=True, help="member id")
    notifications.add_argument("--opt-out", nargs="+", default=[], metavar="KIND",
                               help=f"kinds not to send ({kinds})")
    notifications.add_argument("--opt-in", nargs="+", default=[], metavar="KIND",
                               help="kinds to send again")
    notifications.set_defaults(handler=_notifications)

    export = actions.add_parser(
        "export", help="everything kept about one member, in clear, as JSON (their right)")
    export.add_argument("--id", type=int, required=True, help="member id")
    export.add_argument("--out", required=True, metavar="FILE",
                        help="a new file (mode 0600), or - for standard output")
    export.set_defaults(handler=_export)
