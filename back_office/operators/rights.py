"""Which operator role may run which command: the one table (docs/back-office.md shows it).

The CLI checks a command against it before touching the database, for a clear message
("operator alice (card service) may not create merchants: needs hq admin"). The database's
grants and row-level security (migration 011) are the guarantee; a test holds the two
together (tests/operators/test_rights.py).
"""

from __future__ import annotations

import msgspec

from back_office.operators.errors import RightRefusedError
from back_office.operators.roles import OperatorRole

HQ = OperatorRole.HQ_ADMIN
CARDS = OperatorRole.CARD_SERVICE
MERCHANT = OperatorRole.MERCHANT_ADMIN
CLEARING = OperatorRole.CLEARING
AUDITOR = OperatorRole.AUDITOR
EVERYONE = frozenset(OperatorRole)


class Right(msgspec.Struct, frozen=True):
    what: str                           # "create merchants": after "may not"
    roles: frozenset[OperatorRole]


def _right(what: str, *roles: OperatorRole) -> Right:
    return Right(what, frozenset(roles))


# (command, action) -> the right it needs. A command missing here is the installer's
# (`jifen db`, `jifen up`, the services, the load test): refused to every operator.
COMMAND_RIGHTS: dict[tuple[str, str | None], Right] = {
    ("alliance", "create"): _right("create alliances", HQ),
    ("alliance", "set-mac-for-loads"): _right("change alliances", HQ),
    ("alliance", "set-points-transfer"): _right("change alliances", HQ),
    ("alliance", "set-order-share"): _right("change alliances", HQ),
    ("alliance", "list"): Right("list alliances", EVERYONE),
    ("merchant", "create"): _right("create merchants", HQ),
    ("merchant", "activate"): _right("activate merchants", HQ),
    ("merchant", "deactivate"): _right("deactivate merchants", HQ),
    ("merchant", "update"): _right("change merchants", HQ),
    # The earn rules: an operator's `set` is a request an HQ admin approves.
    ("rules", "set"): _right("change the earn rules", HQ),
    ("rules", "check"): Right("check rule documents", EVERYONE),
    ("rules", "show"): _right("read the earn rules", HQ, CARDS, CLEARING, AUDITOR),
    ("rules", "list"): _right("read the earn rules", HQ, CARDS, CLEARING, AUDITOR),
    # Expiry books what the rules in force say has expired; the nightly timer runs it too.
    ("rules", "expire"): _right("expire points", HQ),
    # The tier review decides tiers by the rules in force; the nightly timer runs it too.
    ("rules", "review-tiers"): _right("review tiers", HQ),
    # The lottery: an operator's `create` is a request an HQ admin approves.
    # Risk control: HQ sets the limits and runs the baseline (the nightly timer too); card
    # service works the review queue (an operator's release of a blocked card is a request a
    # second operator approves); auditors read.
    ("risk", "limits"): _right("read risk settings", HQ, CARDS, AUDITOR),
    ("risk", "set-limits"): _right("change risk settings", HQ),
    ("risk", "baseline"): _right("compute risk baselines", HQ),
    ("risk", "queue"): _right("read risk reviews", HQ, CARDS, AUDITOR),
    ("risk", "show"): _right("read risk reviews", HQ, CARDS, AUDITOR),
    ("risk", "release"): _right("release risk reviews", HQ, CARDS),
    ("risk", "confirm"): _right("confirm risk reviews", HQ, CARDS),
    ("lottery", "create"): _right("open lottery campaigns", HQ),
    ("lottery", "end"): _right("end lottery campaigns", HQ),
    ("lottery", "publish"): _right("publish lottery secrets", HQ),
    ("lottery", "list"): _right("read lottery campaigns", HQ, CARDS, CLEARING, AUDITOR),
    ("lottery", "verify"): _right("verify lottery draws", HQ, AUDITOR),
    ("merchant", "list"): _right("list merchants", HQ, MERCHANT, CLEARING, AUDITOR),
    ("terminal", "create"): _right("create terminals", HQ),
    ("terminal", "set-mac"): _right("change terminals", HQ),
    ("terminal", "activate"): _right("activate terminals", HQ),
    ("terminal", "deactivate"): _right("deactivate terminals", HQ),
    ("terminal", "rotate-tmk"): _right("give terminals a new TMK", HQ),
    ("terminal", "list"): _right("list terminals", HQ, MERCHANT, AUDITOR),
    ("card-range", "add"): _right("add card ranges", HQ),
    ("card-range", "list"): _right("list card ranges", HQ, CARDS, AUDITOR),
    ("card", "issue"): _right("issue cards", HQ, CARDS),
    ("card", "status"): _right("change a card's status", HQ, CARDS),
    ("card", "activate"): _right("activate cards", HQ, CARDS),
    ("card", "lost"): _right("report cards lost", HQ, CARDS),
    ("card", "stolen"): _right("report cards stolen", HQ, CARDS),
    ("card", "found"): _right("report cards found", HQ, CARDS),
    ("card", "block"): _right("block cards", HQ, CARDS),
    ("card", "unblock"): _right("unblock cards", HQ, CARDS),
    ("card", "expire"): _right("expire cards", HQ, CARDS),
    ("card", "renew"): _right("renew cards", HQ, CARDS),
    # set, reset (an operator's reset is a request a second operator approves) and show.
    ("card", "password"): _right("manage card passwords", HQ, CARDS),
    # Balance changes: requests (a second operator approves), but a replacement at once.
    ("card", "adjust"): _right("ask for balance adjustments", HQ, CARDS),
    ("card", "transfer"): _right("ask for transfers of points", HQ, CARDS),
    ("card", "close"): _right("ask for cards to be closed and refunded", HQ, CARDS),
    ("card", "replace"): _right("replace cards", HQ, CARDS),
    ("card", "commands"): _right("read balance changes", HQ, CARDS, AUDITOR),
    # Transfers between partitions (the driver is a service, the installer's).
    ("transit", "list"): _right("read transfers between partitions", HQ, CARDS, AUDITOR),
    ("transit", "show"): _right("read transfers between partitions", HQ, CARDS, AUDITOR),
    ("member", "create"): _right("create members", HQ, CARDS),
    ("member", "update"): _right("change members", HQ, CARDS),
    ("member", "assign-card"): _right("assign cards to members", HQ, CARDS),
    ("member", "export"): _right("export a member's data", HQ, CARDS),
    ("member", "show"): _right("read members", HQ, CARDS, AUDITOR),
    ("member", "list"): _right("list members", HQ, CARDS, AUDITOR),
    ("member", "find"): _right("find members", HQ, CARDS),
    ("member", "notifications"): _right("keep members' notification preferences", HQ, CARDS),
    # Gifts: HQ changes the catalogues; every role that sells or checks them reads them.
    ("gift", "add"): _right("add gifts", HQ),
    ("gift", "restock"): _right("restock gifts", HQ),
    ("gift", "withdraw"): _right("withdraw gifts", HQ),
    ("gift", "list"): _right("list gifts", HQ, CARDS, MERCHANT, CLEARING, AUDITOR),
    ("shop", "create"): _right("create shops", HQ),
    ("shop", "activate"): _right("activate shops", HQ),
    ("shop", "deactivate"): _right("deactivate shops", HQ),
    ("shop", "list"): _right("list shops", HQ, AUDITOR),
    ("settlement-rule", "set"): _right("set settlement rules", HQ),
    ("settlement-rule", "list"): _right("list settlement rules", HQ, MERCHANT, CLEARING,
                                        AUDITOR),
    ("clearing", "close-day"): _right("seal business dates", CLEARING),
    ("clearing", "run"): _right("run clearing", CLEARING),
    ("clearing", "adjust"): _right("adjust clearing", CLEARING),
    ("clearing", "verify"): _right("verify clearing", CLEARING, AUDITOR),
    ("clearing", "status"): _right("read clearing's status", CLEARING, AUDITOR),
    ("clearing", "report"): _right("read clearing reports", CLEARING, AUDITOR),
    ("clearing", "settlement-files"): _right("write settlement files", CLEARING, AUDITOR),
    # The daily digest is alliance-wide (the liability, every merchant): not a merchant's.
    ("report", "daily"): _right("read the daily digest", HQ, CLEARING, AUDITOR),
    ("audit", None): _right("check the ledger", AUDITOR),
    ("saf", "list"): _right("read the front's store-and-forward queue", AUDITOR),
    ("audit-log", None): _right("read the audit log", HQ, MERCHANT, AUDITOR),
    ("operator", "create"): _right("create operators", HQ),
    ("operator", "disable"): _right("disable operators", HQ),
    ("operator", "enable"): _right("enable operators", HQ),
    ("operator", "list"): Right("list operators", EVERYONE),
    ("approval", "list"): _right("read approval requests", HQ, CARDS, AUDITOR),
    # A merchant admin reads its own merchant's transactions only (row-level security).
    # A merchant's period-end file of purchases, posted by the host as its advices: HQ for
    # any merchant, a merchant admin for its own (the database's functions check which).
    ("import", "purchases"): _right("import merchants' purchase files", HQ, MERCHANT),
    ("txn", "find"): _right("find transactions", HQ, CARDS, MERCHANT, AUDITOR),
    ("card", "statement"): _right("read card statements", HQ, CARDS, MERCHANT, AUDITOR),
    # Which requests a role decides is the action's (back_office/approvals/actions.py).
    ("approval", "approve"): _right("approve requests", HQ, CARDS),
    ("approval", "reject"): _right("reject requests", HQ, CARDS),
    # Its own password: any operator; another's: an HQ admin (check_password_change).
    ("operator", "passwd"): Right("change their password", EVERYONE),
}
OTHERS_PASSWORD = _right("set another operator's password", HQ)


def _who(roles: frozenset[OperatorRole]) -> str:
    return " or ".join(role.spoken for role in OperatorRole if role in roles)


def check_right(operator: str, role: OperatorRole, command: str, action: str | None) -> None:
    """Nothing if the operator's role may run the command; else RightRefusedError naming the
    right and the roles that have it."""
    right = COMMAND_RIGHTS.get((command, action))
    shown = command if action is None else f"{command} {action}"
    if right is None:
        raise RightRefusedError(
            f"operator {operator} ({role.spoken}) may not run `jifen {shown}`: it is the "
            f"installer's (run it without --operator, as the account that installed Jifen)")
    if role not in right.roles:
        raise RightRefusedError(f"operator {operator} ({role.spoken}) may not {right.what}: "
                                f"needs {_who(right.roles)}")


def is_operator_command(command: str, action: str | None) -> bool:
    return (command, action) in COMMAND_RIGHTS


def check_password_change(operator: str, role: OperatorRole, target: str) -> None:
    if target != operator and role not in OTHERS_PASSWORD.roles:
        raise RightRefusedError(f"operator {operator} ({role.spoken}) may not "
                                f"{OTHERS_PASSWORD.what}: needs {_who(OTHERS_PASSWORD.roles)}")
