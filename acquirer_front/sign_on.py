"""After the host approves an 0800: sign-on state, MAC and PIN keys made durable, MK/MV and
PK/PV added.

The host answers sign-on, sign-off and key change (it knows the open batch); the front owns the
sessions and keys. A terminal that requires MAC gets a fresh session key in every approved
sign-on (70=001) and key change (70=101): tags MK and MV in field 48 of the 0810, and a fresh
PIN session key in PK and PV (1.2: passwords are entered only at terminals that MAC). A
terminal that need not MAC gets neither, and its key change is answered as the host did (00,
no MK).
"""

from __future__ import annotations

import msgspec

from acquirer_front.exchange import Exchange
from acquirer_front.sessions import IssuedKeys, SessionStore
from proto.codes import Mti, NetworkCode, ResponseCode
from proto.fields import encode_tlv, parse_tlv
from proto.frames import Answer

# Network codes whose approval changes the terminal's sign-on state, and to what.
_SIGN_ON_STATE: dict[str, bool] = {NetworkCode.SIGN_ON: True, NetworkCode.SIGN_OFF: False}
_KEY_ISSUING = frozenset({NetworkCode.SIGN_ON, NetworkCode.KEY_CHANGE})


class SignOnHandler:
    def __init__(self, sessions: SessionStore) -> None:
        self._sessions = sessions

    async def settle(self, exchange: Exchange, answer: Answer) -> Answer | None:
        """The answer to send, once its sign-on state and key are durable; None when they
        could not be made durable (the terminal gets 96 and keeps its earlier state)."""
        if exchange.mti != Mti.NETWORK or answer.response_code != ResponseCode.APPROVED:
            return answer
        terminal = exchange.terminal
        assert terminal is not None, "IdentifyTerminal runs first"
        network_code = exchange.message["70"]
        if terminal.requires_mac and network_code in _KEY_ISSUING:
            # A key change leaves the sign-on state as it is.
            state_after = _SIGN_ON_STATE.get(network_code, terminal.signed_on)
            issued = await self._sessions.issue_key(terminal.terminal_code, state_after)
            return None if issued is None else with_session_key(answer, issued)
        signed_on = _SIGN_ON_STATE.get(network_code)
        if signed_on is None:
            return answer
        if await self._sessions.record(terminal.terminal_code, signed_on):
            return answer
        return None


def with_session_key(answer: Answer, issued: IssuedKeys) -> Answer:
    """The answer with tags MK, MV, PK and PV added to whatever field 48 the host gave."""
    tags = parse_tlv(answer.additional_data or "")
    tags["MK"] = issued.mac.key_under_tmk_hex
    tags["MV"] = issued.mac.check_value_hex
    tags["PK"] = issued.pin.key_under_tmk_hex
    tags["PV"] = issued.pin.check_value_hex
    return msgspec.structs.replace(answer, additional_data=encode_tlv(tags))
