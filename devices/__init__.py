"""Simulated POS terminals: the host interface from the terminal's side.

Used by `jifen term`, the end-to-end tests and the load test. `TerminalClient` is one terminal
on one TCP connection with many requests in flight; `messages` builds each request type;
`describe_answer` turns an answer into readable names.
"""

from devices.answers import describe_answer, format_answer_text, format_yuan, response_meaning
from devices.burst import BurstResult, run_purchase_burst
from devices.errors import (
    AnswerMacError,
    AnswerTimeoutError,
    DeviceError,
    HostConnectionError,
    SessionKeyError,
)
from devices.terminal_client import DEFAULT_TPDU, Exchange, RawFrame, TerminalClient

__all__ = [
    "DEFAULT_TPDU", "AnswerMacError", "AnswerTimeoutError", "BurstResult", "DeviceError",
    "Exchange", "HostConnectionError", "RawFrame", "SessionKeyError", "TerminalClient",
    "describe_answer", "format_answer_text", "format_yuan", "response_meaning",
    "run_purchase_burst",
]
