"""Errors of the dial-up bridge, its modem dialogue and its test equipment.

    DialupError
    ├── LineError                   the serial port cannot be opened, read or written
    │   └── LineClosedError         the device went away (a USB modem unplugged, an emulator gone)
    ├── CarrierLostError            the call dropped: DCD fell, or the modem said NO CARRIER
    ├── ModemError                  the modem did not do what the AT dialogue asked
    │   ├── ModemTimeoutError       no final result code in time (also a TimeoutError)
    │   └── ModemResultError        another final result (ERROR, BUSY, NO CARRIER, NO ANSWER)
    ├── LinkError                   the framed exchange of a call failed
    │   ├── FrameWaitTimeoutError   no frame within the wait (also a TimeoutError)
    │   ├── BadFramesError          bad frames in a row reached the limit: hang up
    │   └── NotDeliveredError       no ACK after the last resend
    └── FrontError                  the acquirer front could not be reached or did not answer
        ├── FrontUnavailableError   no connection, or it broke
        └── FrontTimeoutError       no answer in time (also a TimeoutError)

Business outcomes (declines) are not errors: they travel as answers with field 39.
"""

from __future__ import annotations


class DialupError(Exception):
    pass


class LineError(DialupError):
    pass


class LineClosedError(LineError):
    pass


class CarrierLostError(DialupError):
    pass


class ModemError(DialupError):
    pass


class ModemTimeoutError(ModemError, TimeoutError):
    pass


class ModemResultError(ModemError):
    def __init__(self, message: str, result: str) -> None:
        super().__init__(message)
        self.result = result  # the final result code the modem gave, e.g. "BUSY"


class LinkError(DialupError):
    pass


class FrameWaitTimeoutError(LinkError, TimeoutError):
    pass


class BadFramesError(LinkError):
    pass


class NotDeliveredError(LinkError):
    pass


class FrontError(DialupError):
    pass


class FrontUnavailableError(FrontError):
    pass


class FrontTimeoutError(FrontError, TimeoutError):
    pass
