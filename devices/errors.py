"""Errors of the terminal simulator.

    DeviceError                 the simulated terminal could not complete an exchange
    ├── HostConnectionError     no connection, or the host closed or broke it
    │   └── NotSentError        the host had closed the connection before the request was
    │                           written: it never left the terminal
    ├── AnswerTimeoutError      no answer within the client's timeout (also a TimeoutError)
    ├── AnswerMacError          the host's answer carries a MAC that does not verify
    └── SessionKeyError         a sign-on's MK/MV do not give a key that matches its check value

Business outcomes (declines) are not errors: they are answers with field 39.
"""


class DeviceError(Exception):
    pass


class HostConnectionError(DeviceError):
    pass


class NotSentError(HostConnectionError):
    pass


class AnswerTimeoutError(DeviceError, TimeoutError):
    pass


class AnswerMacError(DeviceError):
    pass


class SessionKeyError(DeviceError):
    pass
