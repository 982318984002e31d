"""The acquirer front: terminals' ISO 8583 over TCP in, normalised frames to the switch out."""

from acquirer_front.config import FrontConfig
from acquirer_front.errors import DatabaseUnavailableError, FrontError
from acquirer_front.keys import SecurityModule, SoftwareSecurityModule
from acquirer_front.service import run_front

__all__ = [
    "DatabaseUnavailableError", "FrontConfig", "FrontError", "SecurityModule",
    "SoftwareSecurityModule", "run_front",
]
