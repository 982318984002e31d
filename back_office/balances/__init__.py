"""Back-office changes of balances (docs/back-office.md, "Balances"): adjustments, transfers,
replacement and closure of a card. None posts here: each is a command to the account host, the
only writer (proto.host_commands), made at once (a replacement) or when a second operator
approves the request (the others); between two partitions' cards, a transfer in steps
(back_office/transit/)."""

from back_office.balances.commands import (
    CommandOutcome,
    find_commands,
    outcome_of_request,
    submit_command,
    wait_for_outcome,
)
from back_office.balances.proposals import (
    Proposal,
    Replacement,
    propose_adjustment,
    propose_closure,
    propose_transfer,
    replace_card,
)

__all__ = [
    "CommandOutcome", "Proposal", "Replacement", "find_commands", "outcome_of_request",
    "propose_adjustment", "propose_closure", "propose_transfer", "replace_card", "submit_command",
    "wait_for_outcome",
]
