"""The dial-up gateway bridge (`jifen dialup`) and its test equipment.

POS terminals that dial in through modems send the host interface's dial-up frames (§1:
STX | LEN BCD | TPDU + ISO | ETX | LRC) over a serial line. The bridge answers their calls on
its own modems (Hayes AT), ACKs/NAKs their frames, forwards each request to the acquirer front
as a TCP terminal would, returns the answer framed, and reverses an approval the terminal never
ACKed. One task per port; `proto.dialup_framing` is the frame codec.

Test equipment: `ModemEmulator` (two modems and a line on two ptys, with faults) and
`SerialTerminalClient` (the TCP simulator's messages over a modem: `jifen term --serial`).
"""

from devices.dialup.bridge import DialupBridge, run_bridge
from devices.dialup.config import (
    DialupConfig, LinkSettings, ModemSettings, PortConfig, ReversalSettings,
)
from devices.dialup.emulator_faults import NOISE_DEFAULT, Faults
from devices.dialup.errors import (
    BadFramesError, CarrierLostError, DialupError, FrameWaitTimeoutError, FrontError,
    FrontTimeoutError, FrontUnavailableError, LineClosedError, LineError, LinkError, ModemError,
    ModemResultError, ModemTimeoutError, NotDeliveredError,
)
from devices.dialup.events import CallEnded, EventLog, PortFailed, PortReady, ReversalSettled
from devices.dialup.modem_emulator import EmulatorSettings, LineState, ModemEmulator, Side
from devices.dialup.serial_terminal import SerialTerminalClient

__all__ = [
    "NOISE_DEFAULT", "BadFramesError", "CallEnded", "CarrierLostError", "DialupBridge",
    "DialupConfig", "DialupError", "EmulatorSettings", "EventLog", "Faults",
    "FrameWaitTimeoutError", "FrontError", "FrontTimeoutError", "FrontUnavailableError",
    "LineClosedError", "LineError", "LineState", "LinkError", "LinkSettings", "ModemEmulator",
    "ModemError", "ModemResultError", "ModemSettings", "ModemTimeoutError",
    "NotDeliveredError", "PortConfig", "PortFailed", "PortReady", "ReversalSettings",
    "ReversalSettled", "SerialTerminalClient", "Side", "run_bridge",
]
