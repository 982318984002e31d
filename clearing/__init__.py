"""Nightly alliance clearing (docs/clearing.md): seal a business date, turn its journal into
what the alliance's merchants and its headquarters owe each other, and store that once.

Clearing reads the journal and never writes it, nor balances or accounts; it writes its own
tables (migrations/003_clearing.sql).
"""

from clearing.alliance import ClearingAlliance, find_alliance, find_merchant, parse_date
from clearing.compute import Instruction, Net, Position, clear_day, settle
from clearing.errors import (
    AlreadyClearedError,
    AlreadySealedError,
    ClearingError,
    DayOpenError,
    NotClearedError,
    NotSealedError,
    UnknownError,
)
from clearing.progress import ProgressBar
from clearing.results import HQ, RunResult, VerifyResult, format_fen
from clearing.rules import Rule, RulesInForce, rules_in_force
from clearing.run import adjust_clearing, run_clearing, verify_clearing
from clearing.sealing import SealedDay, close_day
from clearing.status import DateStatus, clearing_status

__all__ = [
    "HQ", "AlreadyClearedError", "AlreadySealedError", "ClearingAlliance", "ClearingError",
    "DateStatus", "DayOpenError", "Instruction", "Net", "NotClearedError", "NotSealedError",
    "Position", "ProgressBar", "Rule", "RulesInForce", "RunResult", "SealedDay",
    "UnknownError", "VerifyResult", "adjust_clearing", "clear_day", "clearing_status",
    "close_day", "find_alliance", "find_merchant", "format_fen", "parse_date",
    "rules_in_force", "run_clearing", "settle", "verify_clearing",
]
