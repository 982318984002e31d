"""Transfers of points between cards of two partitions (docs/transfers.md): the state machine,
its driver, where an approved transfer goes, and what operators read of them."""

from back_office.transit.driver import advance_page, drive, drive_once
from back_office.transit.listing import (
    Transfer,
    TransferShown,
    TransferStep,
    find_transfers,
    show_transfer,
    transfer_of_request,
    wait_for_transfer,
)
from back_office.transit.starting import split_partitions, start_transfer
from back_office.transit.states import FINAL, TransferState

__all__ = [
    "FINAL", "Transfer", "TransferShown", "TransferState", "TransferStep", "advance_page",
    "drive", "drive_once", "find_transfers", "show_transfer", "split_partitions",
    "start_transfer", "transfer_of_request", "wait_for_transfer",
]
