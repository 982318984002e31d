"""The checks one by one, without sockets or a database."""

from __future__ import annotations

import msgspec
import pytest

from acquirer_front.answer import answer_fields, encode_answer, refusal_fields
from acquirer_front.exchange import Exchange
from acquirer_front.normalise import normalise
from acquirer_front.registry import Registry, Terminal
from acquirer_front.steps import CheckMac, CheckMerchant, IdentifyTerminal, ValidateMessage
from proto.frames import Answer, Totals
from proto.iso_codec import IsoMessage, decode_iso
from tests.acquirer_front.front_testkit import (
    MERCHANT,
    MERCHANT_INACTIVE,
    T_SIGNED,
    TPDU,
    network,
    purchase,
)


def exchange(message: IsoMessage) -> Exchange:
    return Exchange(TPDU, message, b"", received_at_ns=1, arrived_at=0.0, deadline=1.0)


def reconciliation() -> IsoMessage:
    totals = {field: "0" * 10 for field in ("74", "75", "76", "77")}
    totals |= {field: "0" * 16 for field in ("86", "87", "88", "89")}
    return {"t": "0500", "3": "920000", "7": "0101120000", "11": "000001", "41": T_SIGNED,
            "42": MERCHANT, "60": "000001", **totals, "74": "0000000003"}


class TestValidate:
    @pytest.mark.parametrize(("changes", "code"), [
        ({}, None),
        ({"t": "0300"}, "12"),
        ({"t": "0210"}, "12"),
        ({"3": "999999"}, "12"),
        ({"3": None}, "30"),
        ({"4": None}, "30"),
        ({"4": "12"}, "30"),
        ({"2": "62170012345678AB"}, "30"),
        ({"7": "0132120000"}, "30"),
        ({"7": "0101240000"}, "30"),
        ({"49": "999"}, "30"),
        ({"60": "1"}, "30"),
        ({"48": "GC005ABC"}, "30"),
        ({"48": "GC003ABC"}, None),
        ({"3": "900000", "49": "999", "48": "OA012000000012345"}, None),
        ({"3": "900000", "49": "999", "48": "OA00512345"}, "30"),       # OA is n12
        ({"3": "900000", "49": "999", "48": "OA01200000001234X"}, "30"),
        ({"3": "900000", "49": "999", "48": "GC003TEAOA012000000012345"}, "30"),  # GC + OA
        ({"3": "900000", "49": "999"}, None),
        ({"3": "200000"}, "30"),                       # a return needs field 37
        ({"3": "200000", "37": "000000000001"}, None),
        ({"t": "0400"}, "30"),                         # a reversal needs 39 and 90
        ({"t": "0400", "39": "68", "90": "0200" + "000001" + "0101120000" + "0" * 22}, None),
        ({"t": "0400", "39": "68", "90": "0200"}, "30"),
    ])
    def test_purchase_variants(self, changes: dict[str, str | None], code: str | None) -> None:
        message = purchase()
        for field, value in changes.items():
            if value is None:
                del message[field]
            else:
                message[field] = value
        assert ValidateMessage()(exchange(message)) == code

    @pytest.mark.parametrize(("changes", "code"), [
        ({}, None), ({"70": "003"}, "12"), ({"70": None}, "30"), ({"3": "123456"}, None),
    ])
    def test_network_variants(self, changes: dict[str, str | None], code: str | None) -> None:
        message = network()
        for field, value in changes.items():
            if value is None:
                del message[field]
            else:
                message[field] = value
        assert ValidateMessage()(exchange(message)) == code

    def test_sets_the_kind(self) -> None:
        context = exchange(network())
        ValidateMessage()(context)
        assert context.kind == ("0800", None)


class TestIdentify:
    def registry(self) -> Registry:
        registry = Registry()
        registry.replace([
            Terminal(T_SIGNED, MERCHANT, True, "A", False, True, True),
            Terminal("T0000002", MERCHANT, True, "A", False, True, False),
            Terminal("T0000003", MERCHANT, True, "A", False, False, True),
            Terminal("T0000004", MERCHANT_INACTIVE, False, "A", False, True, True),
        ], registry.mark())
        return registry

    @pytest.mark.parametrize(("terminal", "message", "code"), [
        (T_SIGNED, purchase, None),
        ("T0000009", purchase, "58"),
        ("T0000002", purchase, "58"),     # not signed on
        ("T0000002", network, None),      # may sign on
        ("T0000003", network, "58"),      # inactive terminal
    ])
    def test_terminal(self, terminal: str, message: object, code: str | None) -> None:
        context = exchange(message() | {"41": terminal})
        assert IdentifyTerminal(self.registry())(context) == code

    @pytest.mark.parametrize(("terminal", "merchant", "code"), [
        (T_SIGNED, MERCHANT, None),
        (T_SIGNED, MERCHANT_INACTIVE, "03"),
        ("T0000004", MERCHANT_INACTIVE, "03"),
    ])
    def test_merchant(self, terminal: str, merchant: str, code: str | None) -> None:
        context = exchange(purchase(terminal=terminal, merchant=merchant))
        assert IdentifyTerminal(self.registry())(context) is None
        assert CheckMerchant()(context) == code

    def test_mac_seam(self) -> None:
        class Refuse:
            def verify_mac(self, terminal_code: str, data: bytes, mac_hex: str) -> bool:
                return False

        message = purchase()
        message["64"] = "0" * 16
        context = exchange(message)
        terminal = self.registry().get(T_SIGNED)
        assert terminal is not None
        context.terminal = msgspec.structs.replace(terminal, requires_mac=True)
        assert CheckMac(Refuse())(context) == "A0"  # type: ignore[arg-type]
        context.terminal = terminal  # requires no MAC: the module is not even asked
        assert CheckMac(Refuse())(context) is None  # type: ignore[arg-type]


class TestNormaliseAndAnswer:
    def test_reconciliation_totals_round_trip(self) -> None:
        request = normalise(exchange(reconciliation()), 7)
        assert (request.correlation_id, request.batch_number, request.amount) == (7, 1, None)
        assert request.totals == Totals(purchases_count=3)
        host_totals = Totals(purchases_count=4, purchases_fen=1000)
        fields = answer_fields(reconciliation(), Answer(7, "95", totals=host_totals))
        assert (fields["t"], fields["39"], fields["74"], fields["86"]) == (
            "0510", "95", "0000000004", "0000000000001000")

    def test_points_moved_only_in_0210_and_0230(self) -> None:
        from proto.frames import Balances

        answer = Answer(1, "00", balances=Balances(10, 20, -5))
        assert len(answer_fields(purchase(), answer)["54"]) == 60
        inquiry = purchase() | {"t": "0100", "3": "310000"}
        assert len(answer_fields(inquiry, answer)["54"]) == 40

    def test_an_unencodable_host_answer_becomes_96(self) -> None:
        fields = answer_fields(purchase(), Answer(1, "00", auth_code="TOO-LONG-CODE"))
        body, code = encode_answer(purchase(), fields)
        assert code == "96"
        assert decode_iso(body) == refusal_fields(purchase(), "96")
