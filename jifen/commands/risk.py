"""`jifen risk limits|set-limits|queue|show|release|confirm|baseline`: risk control
(docs/rules.md, "Risk control"; docs/back-office.md, "Risk reviews"). The alliance's velocity
limits and growth levels (a new version each `set-limits`, applied by the account host from
its next batch), the review queue the host fills, and the nightly baseline
(jifen-risk-baseline.timer). An operator's release of a blocked card is a request a second
operator approves.

With partitions, every partition's reviews are listed (a partition that cannot be read fails
the listing, naming it), each named by its partition and id (`p2:17`), and decided in its
partition's database; the baseline is computed per partition, from its journal into its
database (docs/operations.md, "Partitions")."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from datetime import date, datetime

import asyncpg
import msgspec

from back_office.approvals import RISK_RELEASE, ApprovalRequest
from back_office.partition_writes import partition_writes
from back_office.provisioning.errors import InvalidValueError
from back_office.risk import (
    BaselineRun,
    GrowthLevels,
    ReviewPartitions,
    ReviewRef,
    RiskReview,
    VelocityLimit,
    compute_baselines,
    confirm_review,
    needs_unblock,
    open_review_for_update,
    open_reviews,
    parse_ref,
    release_review,
    resolve,
    review_partitions,
    set_settings,
    settings_in_force,
    show_review,
)
from database.roles import Role
from jifen.commands.acting import acting_operator
from jifen.commands.approval import print_submitted, submit_request
from jifen.commands.runner import (
    add_json_option,
    other_partitions,
    partition_writers,
    print_json,
    print_table,
    run_command,
)
from runtime.config import load_config

_QUEUE_COLUMNS = ("id", "alliance_code", "kind", "level", "card", "merchant_code",
                  "business_date", "raised_at")
# With partitions: the id names the partition too (`p2:17`), and the partition has a column.
_PARTITIONED_COLUMNS = ("id", "partition", *_QUEUE_COLUMNS[1:])


class _QueueRow(msgspec.Struct, frozen=True):
    """A review as the partitioned queue's table shows it."""

    id: str
    partition: str | None
    alliance_code: str
    kind: str
    level: str
    card: str | None
    merchant_code: str | None
    business_date: date
    raised_at: datetime


def _ref(text: str) -> ReviewRef:
    try:
        return parse_ref(text)
    except InvalidValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


# show_review or confirm_review: a review named by its ref, in its partition.
_ReviewAction = Callable[[asyncpg.Connection, ReviewRef, ReviewPartitions],
                         Awaitable[RiskReview]]


async def _partitions(conn: asyncpg.Connection, args: argparse.Namespace) -> ReviewPartitions:
    config = load_config(args.config)
    # The back office's logins in the partitions only for a decision (a listing reads).
    return await review_partitions(conn, await other_partitions(conn, config),
                                   lambda: partition_writers(conn, config))


def _count(text: str) -> int | None:
    return None if text in ("", "-") else int(text)


def parse_limit(text: str) -> VelocityLimit:
    """CODE:PER_HOUR:PER_DAY:AMOUNT_PER_DAY, '-' for a limit not set."""
    parts = text.split(":")
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give CODE:PER_HOUR:PER_DAY:AMOUNT_PER_DAY, '-' for none")
    try:
        return VelocityLimit(parts[0], _count(parts[1]), _count(parts[2]), _count(parts[3]))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: the limits are whole numbers") from exc


def parse_growth(text: str) -> GrowthLevels:
    """WARNING_MULTIPLE:BLOCK_MULTIPLE:FLOOR_POINTS."""
    try:
        warning, block, floor = (int(part) for part in text.split(":"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give WARNING_MULTIPLE:BLOCK_MULTIPLE:FLOOR_POINTS") from exc
    return GrowthLevels(warning, block, floor)


def _limits(args: argparse.Namespace) -> int:
    settings = run_command(args, Role.BACK_OFFICE, lambda conn: settings_in_force(
        conn, args.alliance))
    if args.json:
        print_json(settings)
    elif settings is None:
        print(f"alliance {args.alliance} has no risk settings: no velocity limits, no growth"
              " checks")
    else:
        print(f"# risk settings of {settings.alliance_code}, version {settings.version}"
              f" (by {settings.created_by}, {settings.created_at:%Y-%m-%d %H:%M} UTC)")
        print_table(settings.limits, ("processing_code", "requests_per_hour_max",
                                      "requests_per_day_max", "amount_per_day_max"))
        growth = settings.growth
        print("growth: none" if growth is None else
              f"growth: warning above {growth.warning_multiple}x, block above"
              f" {growth.block_multiple}x the 30-day average, at least"
              f" {growth.floor_points} points a day")
    return 0


def _set_limits(args: argparse.Namespace) -> int:
    settings = run_command(args, Role.BACK_OFFICE, lambda conn: set_settings(
        conn, args.alliance, args.limit or [], args.growth))
    if args.json:
        print_json(settings)
    else:
        print(f"risk settings of {settings.alliance_code}: version {settings.version},"
              f" {len(settings.limits)} limited processing codes, growth"
              f" {'off' if settings.growth is None else 'on'}")
    return 0


def _queue(args: argparse.Namespace) -> int:
    async def run(conn: asyncpg.Connection) -> tuple[list[RiskReview], bool]:
        partitions = await _partitions(conn, args)
        return (await open_reviews(conn, args.alliance, args.limit, partitions),
                bool(partitions.others))

    reviews, partitioned = run_command(args, Role.BACK_OFFICE, run)
    if args.json:
        print_json(reviews)
    elif partitioned:
        print_table([_QueueRow(review.ref, review.partition, *(
            getattr(review, column) for column in _QUEUE_COLUMNS[1:])) for review in reviews],
            _PARTITIONED_COLUMNS)
    else:
        print_table(reviews, _QUEUE_COLUMNS)
    return 0


def _show(args: argparse.Namespace) -> int:
    return _one_review(args, show_review)


def _one_review(args: argparse.Namespace, action: _ReviewAction) -> int:
    """`action` (show, confirm) on the review `--id` names, in its partition; it printed."""
    async def run(conn: asyncpg.Connection) -> RiskReview:
        return await action(conn, args.id, await _partitions(conn, args))

    review = run_command(args, Role.BACK_OFFICE, run)
    if args.json:
        print_json(review)
    else:
        _print_review(review)
    return 0


def _print_review(review: RiskReview) -> None:
    subject = f"card {review.card}" if review.card else f"merchant {review.merchant_code}"
    print(f"risk review {review.ref} ({review.alliance_code}): {review.level} of"
          f" {review.kind} for {subject}, {review.business_date}, raised"
          f" {review.raised_at:%Y-%m-%d %H:%M:%S} UTC: {review.status}")
    for key, value in review.detail.items():
        print(f"  {key}: {value}")
    if review.decided_by:
        print(f"  decided by {review.decided_by} at {review.decided_at:%Y-%m-%d %H:%M:%S} UTC")


def _release(args: argparse.Namespace) -> int:
    """A blocked card's release is a request when an operator acts; anything else at once."""

    async def run(conn: asyncpg.Connection) -> ApprovalRequest | str:
        partitions = await _partitions(conn, args)
        ref = resolve(args.id, partitions)
        if acting_operator(args) is not None:
            async with partition_writes(partitions.writes) as writes, conn.transaction():
                review = await open_review_for_update(conn, writes, ref)
                if needs_unblock(review):
                    # The payload names the partition only where there are several.
                    payload: dict[str, object] = {"review_id": ref.id}
                    if ref.partition is not None:
                        payload["partition"] = ref.partition
                    return await submit_request(conn, args, RISK_RELEASE.name,
                                                f"card {review.pan_masked}", payload)
        async with partition_writes(partitions.writes) as writes:
            return await release_review(conn, writes, ref)

    outcome = run_command(args, Role.BACK_OFFICE, run)
    if isinstance(outcome, ApprovalRequest):
        print_submitted(outcome, args.json)
    elif args.json:
        document: dict[str, object] = {"id": args.id.id, "status": "released",
                                       "result": outcome}
        if args.id.partition is not None:
            document["partition"] = args.id.partition
        print_json(document)
    else:
        print(outcome)
    return 0


def _confirm(args: argparse.Namespace) -> int:
    return _one_review(args, confirm_review)


def _baseline(args: argparse.Namespace) -> int:
    """Central's partition, then each other partition, each from its own journal."""
    config = load_config(args.config)

    async def run(conn: asyncpg.Connection) -> list[BaselineRun]:
        return await compute_baselines(conn, args.date, await partition_writers(conn, config))

    runs = run_command(args, Role.BACK_OFFICE, run)
    columns = ("alliance_code", "through", "cards", "merchants")
    if args.json:
        print_json(runs)
    elif any(one.partition is not None for one in runs):
        print_table(runs, ("partition", *columns))
    else:
        print_table(runs, columns)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("risk", help="risk control: velocity limits, growth"
                                                " reviews (docs/rules.md)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    limits = add_json_option(actions.add_parser(
        "limits", help="the alliance's velocity limits and growth levels in force"))
    limits.add_argument("--alliance", required=True, help="alliance code")
    limits.set_defaults(handler=_limits)
    setting = add_json_option(actions.add_parser(
        "set-limits", help="a new version of the alliance's risk settings, whole"))
    setting.add_argument("--alliance", required=True, help="alliance code")
    setting.add_argument("--limit", action="append", type=parse_limit,
                         metavar="CODE:PER_HOUR:PER_DAY:AMOUNT",
                         help="a processing code's limits ('-': none); repeat per code;"
                              " none given: no velocity limits")
    setting.add_argument("--growth", type=parse_growth, metavar="WARNING:BLOCK:FLOOR",
                         help="growth levels: multiples of the 30-day average and the floor"
                              " in points a day; not given: no growth checks")
    setting.set_defaults(handler=_set_limits)
    queue = add_json_option(actions.add_parser("queue", help="the open reviews, oldest first"))
    queue.add_argument("--alliance", help="alliance code (default: every alliance)")
    queue.add_argument("--limit", type=int, default=100, help="at most (default %(default)s)")
    queue.set_defaults(handler=_queue)
    for name, handler, what in (
            ("show", _show, "one review"),
            ("release", _release, "release a review: a blocked card is unblocked (an"
                                  " operator's request awaits a second operator)"),
            ("confirm", _confirm, "confirm a review: a block stands; the review is closed")):
        action = add_json_option(actions.add_parser(name, help=what))
        action.add_argument("id", type=_ref, help="the review's id as `jifen risk queue` shows"
                                                  " it: 17, or with partitions p2:17")
        action.set_defaults(handler=handler)
    baseline = add_json_option(actions.add_parser(
        "baseline", help="each card's and merchant's 30-day average of points per day"
                         " (nightly: jifen-risk-baseline.timer)"))
    baseline.add_argument("--date", type=date.fromisoformat, metavar="DATE",
                          help="the last business date averaged (default: each alliance's local"
                               " yesterday)")
    baseline.set_defaults(handler=_baseline)

