"""Step 6a: a validated ISO message becomes the internal `Request` the switch routes."""

from __future__ import annotations

from acquirer_front.exchange import Exchange
from proto.codes import Mti
from proto.fields import totals_from_fields
from proto.frames import Request


def normalise(exchange: Exchange, correlation_id: int) -> Request:
    """Only after validation: every required field is there and well formed."""
    message = exchange.message
    amount = message.get("4")                 # n12: digits, checked
    batch_number = message.get("60")          # n6: digits, checked
    return Request(
        correlation_id=correlation_id,
        mti=exchange.mti,
        terminal_code=message["41"],
        merchant_code=message["42"],
        stan=message["11"],
        transmission_time=message["7"],
        received_at_ns=exchange.received_at_ns,
        processing_code=message.get("3"),
        pan=message.get("2"),
        amount=int(amount) if amount is not None else None,
        currency=message.get("49"),
        rrn=message.get("37"),
        reason_code=message.get("39"),
        additional_data=message.get("48"),
        batch_number=int(batch_number) if batch_number is not None else None,
        original_data=message.get("90"),
        network_code=message.get("70"),
        entry_mode=message.get("22"),
        totals=totals_from_fields(message) if exchange.mti == Mti.RECONCILIATION else None,
        card_password=exchange.card_password,
        request_id=exchange.request_id,
    )
