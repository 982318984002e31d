"""What a request may ask for, and how its approval carries it out.

An action's payload holds ids and amounts, never a clear card number or password (the row is
read by every approver). `execute` runs in the approval's transaction, as the approving
operator: the database's grants of the approver's role are the last check, and the change,
its audit rows and the decision commit together or not at all. An action that changes a row
of another partition (a risk review's release) writes it through `writes`, which commits
once the approval has (back_office/partition_writes.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import asyncpg
import msgspec

from back_office.balances.commands import submit_command
from back_office.card_service.lifecycle import CardStep, change_card_by_id
from back_office.lottery.campaigns import create_campaign
from back_office.operators.roles import OperatorRole
from back_office.partition_writes import PartitionWrites
from back_office.provisioning.card_passwords import apply_password_reset
from back_office.provisioning.merchants import update_merchant
from back_office.provisioning.settlement_rules import set_rule
from back_office.risk.partitions import ReviewRef
from back_office.risk.reviews import release_review
from back_office.rules.earn_rules import set_rules
from back_office.transit import split_partitions, start_transfer
from proto.earn_rules import EarnRules
from proto.host_commands import CommandKind, CommandPayload
from proto.lottery import PrizeTable

Payload = dict[str, Any]
# (connection, payload, the request's id, other partitions' writes) -> what was done, for the
# request's result
Executor = Callable[[asyncpg.Connection, Payload, int, PartitionWrites], Awaitable[str]]


class Action(msgspec.Struct, frozen=True):
    name: str
    what: str                                  # "unblock a card": for messages
    approvers: frozenset[OperatorRole]         # who may approve or reject it
    execute: Executor


async def _unblock(conn: asyncpg.Connection, payload: Payload, _request_id: int,
        _writes: PartitionWrites) -> str:
    change = await change_card_by_id(conn, int(payload["card_id"]), CardStep.UNBLOCK)
    return f"card {change.pan_masked}: {change.status_before} -> {change.status}"


async def _settlement_rule(conn: asyncpg.Connection, payload: Payload, _request_id: int,
        _writes: PartitionWrites) -> str:
    rule = await set_rule(
        conn, payload["alliance_code"], payload["merchant_code"],
        date.fromisoformat(payload["effective_from"]), payload["issue_price_fen"],
        payload["redemption_rate_fen"], int(payload["commission_bp"]),
        payload["commission_fen_per_txn"], retroactive=bool(payload["retroactive"]))
    return f"settlement rule {rule.id} effective {rule.effective_from}"


async def _password_reset(conn: asyncpg.Connection, payload: Payload, _request_id: int,
        _writes: PartitionWrites) -> str:
    change = await apply_password_reset(conn, int(payload["card_id"]),
                                        bytes.fromhex(payload["verification"]))
    unlocked = " and unlocked" if change.was_locked else ""
    return f"card {change.pan_masked}: password reset{unlocked}"


async def _merchant_update(conn: asyncpg.Connection, payload: Payload, _request_id: int,
        _writes: PartitionWrites) -> str:
    merchant = await update_merchant(conn, payload["merchant_code"], name=payload["name"],
                                     earn_points_per_yuan=payload["earn_points_per_yuan"],
                                     category=payload.get("category"))
    return (f"merchant {merchant.merchant_code}: {merchant.name}, earns"
            f" {merchant.earn_points_per_yuan} points per yuan")


async def _command(conn: asyncpg.Connection, payload: Payload, request_id: int, *,
                   kind: CommandKind) -> str:
    """A change of balances: a command to the account host, under this approval (the host
    checks the approval itself before it applies the command)."""
    command = msgspec.convert(payload, CommandPayload)
    subject = await conn.fetchval("SELECT subject FROM approval_requests WHERE id = $1",
                                  request_id)
    if kind is CommandKind.POINTS_TRANSFER:
        split = await split_partitions(conn, command)
        if split is not None:   # the cards are in two partitions: steps through in-transit
            transfer_id = await start_transfer(conn, kind, command, split, subject, request_id)
            return (f"transfer {transfer_id} started: partition {split[0]} to partition"
                    f" {split[1]}")
    command_id = await submit_command(conn, kind, command, subject, approval_id=request_id)
    return f"command {command_id} sent to the account host"


def _command_action(kind: CommandKind, what: str) -> Action:
    async def execute(conn: asyncpg.Connection, payload: Payload, request_id: int,
                      _writes: PartitionWrites) -> str:
        return await _command(conn, payload, request_id, kind=kind)

    return Action(kind.value, what, frozenset({OperatorRole.HQ_ADMIN}), execute)


POINTS_ADJUSTMENT = _command_action(CommandKind.POINTS_ADJUSTMENT, "adjust a card's points")
STORED_VALUE_ADJUSTMENT = _command_action(CommandKind.STORED_VALUE_ADJUSTMENT,
                                          "adjust a card's stored value")
POINTS_TRANSFER = _command_action(CommandKind.POINTS_TRANSFER,
                                  "transfer points between cards")
CARD_CLOSURE = _command_action(CommandKind.CARD_CLOSURE, "close a card and refund it")

async def _earn_rules(conn: asyncpg.Connection, payload: Payload, request_id: int,
        _writes: PartitionWrites) -> str:
    rules = msgspec.convert(payload["document"], EarnRules)
    version = await set_rules(conn, payload["alliance_code"],
                              date.fromisoformat(payload["effective_from"]), rules,
                              approval_id=request_id)
    return f"earn rules of {version.alliance_code} in force from {version.effective_from}"


async def _lottery_campaign(conn: asyncpg.Connection, payload: Payload,
                           request_id: int, _writes: PartitionWrites) -> str:
    table = msgspec.convert(payload["table"], PrizeTable)
    campaign = await create_campaign(conn, payload["alliance_code"], payload["code"],
                                     int(payload["price"]), table, approval_id=request_id)
    return f"lottery {campaign.code} of {campaign.alliance_code} opened"


LOTTERY_CAMPAIGN = Action("lottery_campaign", "open a lottery campaign",
                          frozenset({OperatorRole.HQ_ADMIN}), _lottery_campaign)

EARN_RULES = Action("earn_rules", "change the earn rules", frozenset({OperatorRole.HQ_ADMIN}),
                    _earn_rules)

CARD_UNBLOCK = Action("card_unblock", "unblock a card",
                      frozenset({OperatorRole.HQ_ADMIN, OperatorRole.CARD_SERVICE}), _unblock)
SETTLEMENT_RULE = Action("settlement_rule", "change a settlement rule",
                         frozenset({OperatorRole.HQ_ADMIN}), _settlement_rule)

PASSWORD_RESET = Action("password_reset", "reset a card's password",
                        frozenset({OperatorRole.HQ_ADMIN, OperatorRole.CARD_SERVICE}),
                        _password_reset)

async def _risk_release(conn: asyncpg.Connection, payload: Payload, request_id: int,
                        writes: PartitionWrites) -> str:
    """The review in its partition's database (`partition`, absent: central's)."""
    ref = ReviewRef(payload.get("partition"), int(payload["review_id"]))
    return await release_review(conn, writes, ref, request_id)


# Releasing a card the host blocked for abnormal growth (back_office/risk/reviews.py).
RISK_RELEASE = Action("risk_release", "release a blocked card from risk review",
                      frozenset({OperatorRole.HQ_ADMIN, OperatorRole.CARD_SERVICE}),
                      _risk_release)

MERCHANT_RATE = Action("merchant_rate", "change a merchant's earn rate",
                       frozenset({OperatorRole.HQ_ADMIN}), _merchant_update)

ACTIONS: dict[str, Action] = {
    action.name: action
    for action in (CARD_UNBLOCK, SETTLEMENT_RULE, PASSWORD_RESET, MERCHANT_RATE,
                   POINTS_ADJUSTMENT, STORED_VALUE_ADJUSTMENT, POINTS_TRANSFER, CARD_CLOSURE,
                   EARN_RULES, LOTTERY_CAMPAIGN, RISK_RELEASE)}
