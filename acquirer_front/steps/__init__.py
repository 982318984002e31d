"""The front's checks, in the spec's order (host interface §4): each a small participant."""

from acquirer_front.steps.echo import AnswerEchoLocally
from acquirer_front.steps.identify import CheckMerchant, IdentifyTerminal
from acquirer_front.steps.mac import CheckMac, SignAnswer
from acquirer_front.steps.password import TranslatePassword
from acquirer_front.steps.validate import ValidateMessage

__all__ = [
    "AnswerEchoLocally", "CheckMac", "CheckMerchant", "IdentifyTerminal", "SignAnswer",
    "TranslatePassword", "ValidateMessage",
]
