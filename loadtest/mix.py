"""The transaction mix: which requests the fleet sends, in which proportions, and which answer
codes each expects.

    --mix 000000=80,310000=20          80 % purchases (earn), 20 % balance inquiries
    --mix 000000=90,900000=10:00/51    redemptions may also be declined for want of points
    --mix echo=1                       0800 echo only (the bare front ceiling uses this)

Each item is `CODE=WEIGHT[:EXPECTED]`: a processing code of the host interface (or `echo`),
a positive integer weight, and the answer codes that count as correct (default 00), separated
by `/`. Any other answer code is an error.
"""

from __future__ import annotations

import msgspec

from loadtest.errors import UsageError
from proto.codes import Mti, NetworkCode, ProcessingCode, ResponseCode
from proto.messages import FINANCIAL_CURRENCY

ECHO = "echo"
DEFAULT_MIX = "000000=80,310000=20"
# Codes whose request needs state the generator does not keep: a return names the RRN of an
# earlier purchase (field 37).
_UNSUPPORTED: dict[str, str] = {
    ProcessingCode.RETURN: "a return needs the RRN of an earlier purchase (field 37)",
}
_RESPONSE_CODES = frozenset(code.value for code in ResponseCode)


class Kind(msgspec.Struct, frozen=True):
    """One kind of request in the mix."""

    name: str                      # the processing code, or "echo"
    mti: str
    processing_code: str | None    # None for an echo
    weight: int
    expected_codes: frozenset[str]

    @property
    def needs_card(self) -> bool:
        return self.processing_code is not None

    def fields(self, amount: int, batch_number: int) -> dict[str, str]:
        """The request's constant fields (the terminal adds 7, 11, 41, 42 and the card)."""
        if self.processing_code is None:
            return {"t": Mti.NETWORK, "70": NetworkCode.ECHO}
        if self.processing_code == ProcessingCode.BALANCE_INQUIRY:
            return {"t": Mti.AUTHORISATION, "3": self.processing_code}
        return {
            "t": Mti.FINANCIAL, "3": self.processing_code, "4": f"{amount:012d}",
            "49": FINANCIAL_CURRENCY[self.processing_code], "60": f"{batch_number:06d}",
        }


def parse_mix(text: str) -> list[Kind]:
    """The kinds of `text`, in its order; a UsageError says what is wrong with it."""
    kinds: list[Kind] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, equals, rest = item.partition("=")
        if not equals:
            raise UsageError(f"mix item {item!r} must be CODE=WEIGHT[:EXPECTED]")
        weight_text, _, expected_text = rest.partition(":")
        kind = _kind(name.strip().lower(), _weight(item, weight_text), expected_text)
        if any(existing.name == kind.name for existing in kinds):
            raise UsageError(f"mix names {kind.name} twice")
        kinds.append(kind)
    if not kinds:
        raise UsageError("the mix is empty")
    return kinds


def describe_mix(kinds: list[Kind]) -> str:
    """The mix as `--mix` takes it, with the expected codes spelled out."""
    return ",".join(
        f"{kind.name}={kind.weight}:{'/'.join(sorted(kind.expected_codes))}" for kind in kinds)


def _weight(item: str, text: str) -> int:
    try:
        weight = int(text)
    except ValueError:
        raise UsageError(f"mix item {item!r}: the weight must be an integer") from None
    if weight <= 0:
        raise UsageError(f"mix item {item!r}: the weight must be above 0")
    return weight


def _kind(name: str, weight: int, expected_text: str) -> Kind:
    expected = frozenset(code.strip().upper() for code in expected_text.split("/")
                         if code.strip()) or frozenset({ResponseCode.APPROVED.value})
    unknown = sorted(expected - _RESPONSE_CODES)
    if unknown:
        raise UsageError(f"mix item {name}: {', '.join(unknown)} is not a response code")
    if name == ECHO:
        return Kind(ECHO, Mti.NETWORK, None, weight, expected)
    if name in _UNSUPPORTED:
        raise UsageError(f"processing code {name} is not supported: {_UNSUPPORTED[name]}")
    if name == ProcessingCode.BALANCE_INQUIRY:
        return Kind(name, Mti.AUTHORISATION, name, weight, expected)
    if name in FINANCIAL_CURRENCY:
        return Kind(name, Mti.FINANCIAL, name, weight, expected)
    known = sorted({ECHO, ProcessingCode.BALANCE_INQUIRY, *FINANCIAL_CURRENCY} - set(_UNSUPPORTED))
    raise UsageError(f"unknown processing code {name!r}; one of {', '.join(known)}")
