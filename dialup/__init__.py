"""The dial-up gateway bridge (`jifen dialup`).

POS terminals that dial in through modems send the host interface's dial-up frames (§1:
STX | LEN BCD | TPDU + ISO | ETX | LRC) over a serial line. The bridge answers their calls on
its own modems (Hayes AT), ACKs/NAKs their frames, forwards each request to the acquirer front
as a TCP terminal would, returns the answer framed, and reverses an approval the terminal never
ACKed. One task per port; `proto.dialup_framing` is the frame codec. Its test equipment (a
modem emulator, a dialling terminal) is in `devices.dialup`.
"""

from dialup.bridge import DialupBridge, run_bridge
from dialup.config import DialupConfig, LinkSettings, ModemSettings, PortConfig, ReversalSettings
from dialup.errors import (
    BadFramesError,
    CarrierLostError,
    DialupError,
    FrameWaitTimeoutError,
    FrontError,
    FrontTimeoutError,
    FrontUnavailableError,
    LineClosedError,
    LineError,
    LinkError,
    ModemError,
    ModemResultError,
    ModemTimeoutError,
    NotDeliveredError,
)
from dialup.events import CallEnded, EventLog, PortFailed, PortReady, ReversalSettled

__all__ = [
    "BadFramesError", "CallEnded", "CarrierLostError", "DialupBridge", "DialupConfig",
    "DialupError", "EventLog", "FrameWaitTimeoutError", "FrontError", "FrontTimeoutError",
    "FrontUnavailableError", "LineClosedError", "LineError", "LinkError", "LinkSettings",
    "ModemError", "ModemResultError", "ModemSettings", "ModemTimeoutError", "NotDeliveredError",
    "PortConfig", "PortFailed", "PortReady", "ReversalSettings", "ReversalSettled", "run_bridge",
]
