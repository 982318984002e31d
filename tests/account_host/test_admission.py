"""Checks 1 to 4 of §4 made again at the host, without a database: kind (12), fields (30),
terminal (58), merchant (03), in that order (account_host.request_fields, checks, apply.admit)."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo

import msgspec
import pytest

from account_host.apply import admit
from account_host.checks import check_terminal
from account_host.request_fields import REQUIRED_ATTRIBUTES, check_fields, check_kind
from account_host.state import Alliance, HostState, Merchant, Terminal
from account_host.transactions import KINDS
from proto.frames import Request, Totals
from proto.messages import REQUIRED_FIELDS

MERCHANT_A = "MERCHANT0000001"
MERCHANT_B = "MERCHANT0000002"
INACTIVE_MERCHANT = "MERCHANT0000003"
OTHER_ALLIANCE_MERCHANT = "MERCHANT0000004"   # of an alliance the host does not know

PURCHASE = Request(
    correlation_id=1, mti="0200", terminal_code="TERM0001", merchant_code=MERCHANT_A,
    stan="000001", transmission_time="0101120000", received_at_ns=1, processing_code="000000",
    pan="6221880000000013", amount=100, currency="156", batch_number=1, entry_mode="051")


def state() -> HostState:
    host = HostState(retransmission_window_s=86_400, return_window_days=90)
    host.replace_alliances([Alliance(1, ZoneInfo("UTC"), time(23), 100)])
    host.replace_merchants([
        Merchant(1, MERCHANT_A, 1, True, 1), Merchant(2, MERCHANT_B, 1, True, 1),
        Merchant(3, INACTIVE_MERCHANT, 1, False, 1), Merchant(4, OTHER_ALLIANCE_MERCHANT, 9,
                                                                True, 1)])
    host.replace_terminals({
        "TERM0001": Terminal(1, True), "TERM0002": Terminal(2, True),
        "TERM0003": Terminal(3, True), "TERM0004": Terminal(4, True),
        "TERMOFF1": Terminal(1, False)})
    return host


def changed(**fields: object) -> Request:
    return msgspec.structs.replace(PURCHASE, **fields)


class TestKind:
    def test_every_kind_of_the_spec_has_a_handler_and_no_other(self) -> None:
        assert set(KINDS) == set(REQUIRED_FIELDS)

    @pytest.mark.parametrize("request_", [
        changed(mti="0210"), changed(mti="9999"), changed(mti="x"),
        changed(processing_code="310000"), changed(processing_code="999999"),
        changed(mti="0800", network_code="999"),
    ])
    def test_no_such_message_is_12(self, request_: Request) -> None:
        assert check_kind(request_) == (None, "12")

    def test_a_known_mti_without_its_processing_code_is_30(self) -> None:
        assert check_kind(changed(processing_code=None)) == (None, "30")

    def test_a_purchase_is_its_kind(self) -> None:
        assert check_kind(PURCHASE) == (("0200", "000000"), None)


class TestFields:
    KIND = ("0200", "000000")

    def test_a_well_formed_purchase_passes(self) -> None:
        assert check_fields(PURCHASE, self.KIND) is None

    # 41, 42, 11 and 7 a Request cannot lack: msgspec refuses such a frame on the link.
    @pytest.mark.parametrize("attribute", [
        attribute for attribute in REQUIRED_ATTRIBUTES[("0200", "000000")]
        if attribute not in ("terminal_code", "merchant_code", "stan", "transmission_time")])
    def test_each_required_field_missing_is_30(self, attribute: str) -> None:
        assert check_fields(changed(**{attribute: None}), self.KIND) == "30"

    def test_field_60_is_required_of_financial_messages_and_reconciliation(self) -> None:
        for kind in REQUIRED_FIELDS:
            mti = kind[0]
            expected = mti in ("0200", "0220", "0400", "0420", "0500")
            assert ("batch_number" in REQUIRED_ATTRIBUTES[kind]) == expected, kind

    @pytest.mark.parametrize(("attribute", "value"), [
        ("amount", -1), ("amount", 10**12), ("batch_number", -1), ("batch_number", 1_000_000),
        ("terminal_code", "TERM001"), ("terminal_code", "TERM0001X"),
        ("terminal_code", "TERM\n001"), ("merchant_code", "M" * 16), ("stan", "00001a"),
        ("transmission_time", "1301120000"), ("transmission_time", "013112000"),
        ("pan", "62218800000000a3"), ("currency", "999"), ("entry_mode", "05"),
        ("additional_data", "GC9"), ("rrn", "00000000000!"),
        ("totals", Totals(purchases_count=-1)), ("totals", Totals(loads_fen=10**16)),
    ])
    def test_a_field_out_of_its_format_is_30(self, attribute: str, value: object) -> None:
        assert check_fields(changed(**{attribute: value}), self.KIND) == "30"

    @pytest.mark.parametrize(("attribute", "value"), [
        ("amount", 0), ("amount", 10**12 - 1), ("batch_number", 999_999),
        ("pan", "622188000000001"),   # too short is the card check's 14, not a format error
    ])
    def test_the_bounds_themselves_pass(self, attribute: str, value: object) -> None:
        assert check_fields(changed(**{attribute: value}), self.KIND) is None

    def test_a_reconciliation_needs_its_totals_and_batch(self) -> None:
        kind = ("0500", "920000")
        reconciliation = changed(mti="0500", processing_code="920000", pan=None, amount=None,
                                 currency=None, entry_mode=None, totals=Totals())
        assert check_fields(reconciliation, kind) is None
        assert check_fields(msgspec.structs.replace(reconciliation, totals=None), kind) == "30"
        assert check_fields(msgspec.structs.replace(reconciliation, batch_number=None),
                            kind) == "30"


class TestTerminal:
    @pytest.mark.parametrize(("terminal", "merchant", "expected"), [
        ("TERM0001", MERCHANT_A, None),
        ("NOTREGD1", MERCHANT_A, "58"),               # not registered
        ("TERMOFF1", MERCHANT_A, "58"),               # registered, not active
        ("TERM0001", MERCHANT_B, "03"),               # another merchant's terminal
        ("TERM0001", "MERCHANT0000999", "03"),        # no such merchant
        ("TERM0003", INACTIVE_MERCHANT, "03"),        # its merchant is not active
        ("TERM0004", OTHER_ALLIANCE_MERCHANT, "03"),  # its merchant's alliance is unknown
    ])
    def test_terminal_then_merchant(self, terminal: str, merchant: str,
                                    expected: str | None) -> None:
        found, code = check_terminal(state(), changed(terminal_code=terminal,
                                                      merchant_code=merchant))
        assert code == expected
        assert (found is None) == (expected is not None)


class TestOrder:
    """§4: 12, then 30, then 58, then 03; the first failure answers."""

    @pytest.mark.parametrize(("request_", "expected"), [
        (changed(processing_code="999999", batch_number=None, terminal_code="NOTREGD1"), "12"),
        (changed(batch_number=None, terminal_code="NOTREGD1", merchant_code=MERCHANT_B), "30"),
        (changed(terminal_code="NOTREGD1", merchant_code=MERCHANT_B), "58"),
        (changed(merchant_code=MERCHANT_B), "03"),
        # The finding: a stored-value load from an unregistered terminal, without field 60.
        (changed(processing_code="210000", amount=99_999_999, batch_number=None,
                 terminal_code="FORGED01"), "30"),
    ])
    def test_first_failure_answers(self, request_: Request, expected: str) -> None:
        kind, merchant, code = admit(state(), request_)
        assert (kind, merchant, code) == (None, None, expected)

    def test_an_admitted_request_gets_its_kind_and_merchant(self) -> None:
        kind, merchant, code = admit(state(), PURCHASE)
        assert code is None
        assert kind is KINDS["0200", "000000"]
        assert merchant is not None and merchant.merchant_code == MERCHANT_A
