"""MAC keys of the front: the security-module seam (jPOS's SMAdapter) and its software form."""

from acquirer_front.keys.security_module import IssuedSessionKey, SecurityModule
from acquirer_front.keys.software import SoftwareSecurityModule

__all__ = ["IssuedSessionKey", "SecurityModule", "SoftwareSecurityModule"]
