"""`jifen term`: one terminal's exchange with the front, printed for a person or as JSON.

The composition root parses the command line into a `TermCommand`; this module runs it and
returns the text to print and the exit code (0 approved, 1 declined). Without a batch number a
purchase signs on first, as a terminal does after power-up, to learn its open batch. A purchase
from stored value (svpurchase) or a redemption (redeem) with a card password signs on first in
any case: the PIN session key of its sign-on answer (PK) encrypts the password (field 52).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import msgspec

from devices import messages
from devices.answers import describe_answer, format_answer_text
from devices.burst import BurstResult, run_purchase_burst
from devices.errors import DeviceError
from devices.terminal_client import TerminalClient
from proto.codes import ResponseCode
from proto.frames import Totals

ACTIONS = ("signon", "signoff", "echo", "keychange", "inquiry", "purchase", "svpurchase",
           "redeem", "lottery", "return", "load", "exchange", "reverse", "reconcile")
# Actions with a card and an amount (fen, or points for redeem and exchange).
AMOUNT_ACTIONS = ("purchase", "svpurchase", "redeem", "lottery", "return", "load", "exchange",
                  "reverse")
# What `reverse` sends first, then reverses (0400): every request a terminal may reverse.
REVERSIBLE = ("purchase", "svpurchase", "redeem", "lottery", "load", "exchange")
# Those a card password goes with (host interface §4, "Card password").
PASSWORD_ACTIONS = ("svpurchase", "redeem", "lottery", "exchange")
EXIT_APPROVED = 0
EXIT_DECLINED = 1
# Cards read from a CSV for a burst: enough variety without holding a huge file in memory.
CARDS_FROM_FILE_MAX = 100_000


class TermCommand(msgspec.Struct, frozen=True):
    host: str
    port: int
    terminal_code: str
    merchant_code: str
    action: str
    json_output: bool = False
    pan: str | None = None
    cards_file: str | None = None
    amount_fen: int | None = None
    batch_number: int | None = None
    repeat: int = 1
    pipeline: int = 1
    tmk: bytes | None = None
    timeout_s: float = 30.0
    stan_start: int = 1
    # Dial-up: the terminal's serial port (a modem, or the emulator's pty) and the number.
    serial_device: str | None = None
    dial_number: str = "1"
    serial_speed_bps: int = 9600
    # The card password for svpurchase, redeem or exchange (field 52); never printed.
    password: str | None = None
    # return: the purchase's RRN (field 37); reverse: the request sent first, then reversed.
    original_rrn: str | None = None
    reverse_of: str = "purchase"
    # redeem: a gift of the catalogue (tag GC), or the whole order the points pay part of
    # (tag OA, fen).
    gift_code: str | None = None
    order_fen: int | None = None

    def __repr__(self) -> str:
        return f"TermCommand({self.action}, terminal={self.terminal_code})"


class TermOutcome(msgspec.Struct, frozen=True):
    exit_code: int
    text: str


def read_card_numbers(path: str, limit: int = CARDS_FROM_FILE_MAX) -> list[str]:
    """The `pan` column of a cards CSV (as `jifen card issue` writes it)."""
    try:
        with Path(path).open(newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or "pan" not in reader.fieldnames:
                raise DeviceError(f"{path} has no 'pan' column")
            pans = [row["pan"] for row, _ in zip(reader, range(limit), strict=False)]
    except OSError as exc:
        raise DeviceError(f"cannot read {path}: {exc.strerror}") from exc
    if not pans:
        raise DeviceError(f"{path} lists no cards")
    return pans


async def run_term(command: TermCommand) -> TermOutcome:
    assert command.action in ACTIONS, command.action
    client = _client(command)
    async with client:
        if command.action == "purchase" and command.repeat > 1:
            return await _burst(client, command)
        answer = await _single(client, command)
    code = EXIT_APPROVED if answer.get("39") == ResponseCode.APPROVED else EXIT_DECLINED
    if command.json_output:
        text = json.dumps({"answer": describe_answer(answer), "fields": answer}, indent=2)
    else:
        text = format_answer_text(answer)
    return TermOutcome(code, text)


def _client(command: TermCommand) -> TerminalClient:
    """A TCP terminal, or a dial-up one when the command names a serial port."""
    if command.serial_device is None:
        return TerminalClient(
            command.host, command.port, command.terminal_code, command.merchant_code,
            timeout_s=command.timeout_s, tmk=command.tmk, batch_number=command.batch_number,
            stan_start=command.stan_start,
        )
    from devices.dialup.serial_terminal import SerialTerminalClient

    return SerialTerminalClient(
        command.serial_device, command.terminal_code, command.merchant_code,
        number=command.dial_number, speed_bps=command.serial_speed_bps,
        timeout_s=command.timeout_s, tmk=command.tmk, batch_number=command.batch_number,
        stan_start=command.stan_start,
    )


async def _single(client: TerminalClient, command: TermCommand) -> dict[str, str]:
    action = command.action
    if action == "signon":
        return await client.sign_on()
    if action == "signoff":
        return await client.sign_off()
    if action == "echo":
        return await client.echo()
    if action == "keychange":
        return await client.key_change()
    if action == "reconcile":   # with zero totals: a 95 answer shows the host's
        await _ensure_batch(client)
        return await client.reconcile(Totals())
    assert command.pan is not None, "inquiry and purchase need a card"
    if action == "inquiry":
        return await client.inquiry(command.pan)
    assert command.amount_fen is not None
    if action == "purchase":
        await _ensure_batch(client)
        return await client.purchase(command.pan, command.amount_fen)
    if command.password is not None and not client.has_pin_key:
        await _sign_on(client)   # the PIN key comes with a sign-on
    await _ensure_batch(client)
    if action == "reverse":
        original = await client.exchange(_request(client, command.reverse_of, command))
        if original.answer.get("39") != ResponseCode.APPROVED:
            return original.answer   # nothing to reverse: its decline is the answer
        return await client.reverse(original.request)
    return await client.request(_request(client, action, command))


def _request(client: TerminalClient, action: str, command: TermCommand) -> dict[str, str]:
    """The message of an amount action, as the terminal's client builds and sends it."""
    assert command.pan is not None and command.amount_fen is not None
    assert client.batch_number is not None
    pan, amount, batch = command.pan, command.amount_fen, client.batch_number
    if action == "purchase":
        return messages.purchase(pan, amount, batch)
    if action == "load":
        return messages.stored_value_load(pan, amount, batch)
    if action == "return":
        assert command.original_rrn is not None
        return messages.purchase_return(pan, amount, batch, command.original_rrn)
    if action == "svpurchase":
        fields = messages.purchase_stored_value(pan, amount, batch)
    elif action == "redeem":
        fields = messages.redemption(pan, amount, batch, command.gift_code,
                                     command.order_fen)
    elif action == "lottery":
        fields = messages.lottery_draw(pan, amount, batch)
    else:
        assert action == "exchange", action
        fields = messages.points_exchange(pan, amount, batch)
    return client.with_password(fields, command.password)


async def _ensure_batch(client: TerminalClient) -> None:
    if client.batch_number is not None:
        return
    await _sign_on(client)


async def _sign_on(client: TerminalClient) -> None:
    answer = await client.sign_on()
    if answer.get("39") != ResponseCode.APPROVED or client.batch_number is None:
        raise DeviceError(
            f"sign-on to learn the batch was answered {answer.get('39')}; pass --batch"
        )


async def _burst(client: TerminalClient, command: TermCommand) -> TermOutcome:
    assert command.amount_fen is not None
    pans = [command.pan] if command.pan else read_card_numbers(command.cards_file or "")
    await _ensure_batch(client)
    assert client.batch_number is not None
    result = await run_purchase_burst(
        client, pans, command.amount_fen, command.repeat, command.pipeline, client.batch_number
    )
    approved = result.response_codes.get(ResponseCode.APPROVED, 0)
    code = EXIT_APPROVED if approved == result.count else EXIT_DECLINED
    if command.json_output:
        return TermOutcome(code, json.dumps(msgspec.to_builtins(result), indent=2))
    return TermOutcome(code, format_burst_text(result, command.pipeline))


def format_burst_text(result: BurstResult, pipeline: int) -> str:
    codes = ", ".join(f"{code}: {count}" for code, count in result.response_codes.items())
    return "\n".join((
        f"purchases     {result.count} with {pipeline} in flight",
        f"elapsed       {result.elapsed_s:.3f} s",
        f"rate          {result.rate_per_s:.0f} /s",
        f"answers       {codes}",
        f"latency       p50 {result.latency_ms_p50:.1f} ms, p99 {result.latency_ms_p99:.1f} ms,"
        f" max {result.latency_ms_max:.1f} ms",
    ))
