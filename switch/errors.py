"""Errors of the switch. Business outcomes (91 for an unroutable card or a host that is down) are
answers, never exceptions; these are for what stops the switch from starting.

    SwitchError
    └── RouteLoadError      the card ranges could not be read at start, or are too many
"""


class SwitchError(Exception):
    pass


class RouteLoadError(SwitchError):
    pass
