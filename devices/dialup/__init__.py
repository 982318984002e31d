"""Dial-up test equipment: a phone line with a modem at each end, and a dialling terminal.

`ModemEmulator` plays two modems and a line on two ptys, with faults (`jifen modem-emulator`);
`SerialTerminalClient` sends the TCP simulator's messages over a modem (`jifen term --serial`).
The bridge they exercise is the product's, in `dialup`.
"""

from devices.dialup.emulator_faults import NOISE_DEFAULT, Faults
from devices.dialup.modem_emulator import EmulatorSettings, LineState, ModemEmulator, Side
from devices.dialup.serial_terminal import SerialTerminalClient

__all__ = [
    "NOISE_DEFAULT", "EmulatorSettings", "Faults", "LineState", "ModemEmulator",
    "SerialTerminalClient", "Side",
]
