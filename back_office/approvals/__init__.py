"""Second-person approval (maker-checker): a change asked by one operator, carried out only
when another approves it (migration 016; docs/back-office.md, "Approvals")."""

from back_office.approvals.actions import (
    ACTIONS,
    CARD_UNBLOCK,
    EARN_RULES,
    LOTTERY_CAMPAIGN,
    MERCHANT_RATE,
    PASSWORD_RESET,
    RISK_RELEASE,
    SETTLEMENT_RULE,
    Action,
)
from back_office.approvals.errors import ApprovalError, OwnRequestError, RequestDecidedError
from back_office.approvals.requests import (
    ApprovalRequest,
    approve,
    expire_overdue,
    list_requests,
    reject,
    submit,
)

__all__ = [
    "ACTIONS", "CARD_UNBLOCK", "EARN_RULES", "LOTTERY_CAMPAIGN", "MERCHANT_RATE",
    "PASSWORD_RESET", "RISK_RELEASE",
    "SETTLEMENT_RULE", "Action",
    "ApprovalError", "ApprovalRequest", "OwnRequestError", "RequestDecidedError", "approve",
    "expire_overdue", "list_requests", "reject", "submit",
]
