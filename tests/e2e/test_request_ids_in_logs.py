"""One request, one id (issue 20): the id the front gives a terminal's request is in the
front's, the switch's and the host's log lines about that request, and PANs stay masked.

Host, switch and front run as processes (`jifen host|switch|front`) at log level debug, each
logging to a file, so JSON (their stderr is no terminal: as under systemd). A terminal of the
simulator (devices/) signs on and sends approvals, a host's decline, a front's refusal and a
reversal; each request's id is then looked up by its key (MTI/41/11) in the front's `answered`
line and followed into the other two logs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from devices import messages
from devices.terminal_client import Exchange, TerminalClient
from proto.keys import load_kek
from tests.e2e.processes import environment, free_port, running_services, write_config
from tests.e2e.system import CARDS, LOST_CARD, MERCHANT, TERMINAL, seed

pytestmark = pytest.mark.anyio

KEK_VARIABLE = "JIFEN_REQUEST_ID_TEST_KEK"
SESSION_S = 60.0   # the whole session; it takes about a second
MASKED_BIN = "622188******"


async def _session(front_port: int) -> tuple[list[Exchange], list[Exchange]]:
    """(requests the host answered, requests the front refused itself)."""
    async with TerminalClient("127.0.0.1", front_port, TERMINAL, MERCHANT,
                              timeout_s=10.0) as terminal:
        answered = [await terminal.exchange(messages.sign_on())]
        batch = terminal.batch_number or 1
        answered.append(await terminal.exchange(messages.inquiry(CARDS[0])))
        purchase = await terminal.exchange(messages.purchase(CARDS[0], 10_000, batch))
        answered.append(purchase)
        answered.append(await terminal.exchange(messages.inquiry(LOST_CARD)))
        answered.append(await terminal.exchange(messages.reversal(purchase.request)))
        unknown_code = messages.purchase(CARDS[1], 2_000, batch) | {"3": "123456"}
        refused = [await terminal.exchange(unknown_code)]
    codes = [exchange.answer["39"] for exchange in answered + refused]
    assert codes == ["00", "00", "00", "41", "00", "12"], codes
    return answered, refused


def _lines(log: Path) -> list[dict[str, Any]]:
    """The log's JSON lines (a traceback's lines, if any, are not)."""
    lines = []
    for text in log.read_text().splitlines():
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(line, dict):
            lines.append(line)
    return lines


def _key(exchange: Exchange) -> str:
    request = exchange.request
    return f"{request['t']}/{request['41']}/{request['11']}"


def _request_id(front: list[dict[str, Any]], key: str) -> str:
    (answered,) = [line for line in front
                   if line["event"] == "answered" and line.get("request") == key]
    request_id = answered["request_id"]
    assert isinstance(request_id, str) and request_id, answered
    return request_id


def _about(lines: list[dict[str, Any]], request_id: str) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("request_id") == request_id]


async def test_one_request_id_in_the_front_switch_and_host_logs(
    database_url: str, tmp_path: Path,
) -> None:
    await seed(database_url)
    ports = {name: free_port() for name in ("host", "switch", "front")}
    config = tmp_path / "jifen.toml"
    write_config(config, database_url, ports, kek_variable=KEK_VARIABLE)
    # The tests' KEK, which sealed the cards and the front's key pair.
    env = environment(database_url, KEK_VARIABLE, load_kek().hex())
    async with running_services(config, ports, env, tmp_path) as logs:
        with anyio.fail_after(SESSION_S):
            answered, refused = await _session(ports["front"])
    front, switch, host = (_lines(logs[name]) for name in ("front", "switch", "host"))
    assert front and switch and host, "every process logged JSON lines"

    ids = [_request_id(front, _key(exchange)) for exchange in answered + refused]
    assert len(set(ids)) == len(ids), "one id per request"
    for exchange, request_id in zip(answered, ids, strict=False):
        key = _key(exchange)
        assert {line["event"] for line in _about(switch, request_id)} >= \
            {"forwarded", "answer_returned"}, f"{key} {request_id} not in the switch's log"
        host_lines = _about(host, request_id)
        assert any(line["event"] == "answered" and line["request"] == key
                   and line["response_code"] == exchange.answer["39"]
                   for line in host_lines), f"{key} {request_id} not in the host's log"
    # The host's decline is in its own line about the card, with the same id.
    declined_id = ids[3]
    assert any(line["event"] == "card_declined" for line in _about(host, declined_id))
    # The front's refusal never left it.
    refused_id = ids[-1]
    assert _about(switch, refused_id) == [] and _about(host, refused_id) == []

    # PANs masked in every line of every log, and masked where a card is named.
    for name, log in logs.items():
        text = log.read_text()
        for pan in [*CARDS, LOST_CARD]:
            assert pan not in text, f"a full PAN in the {name}'s log"
    for lines in (front, switch, host):
        purchase_lines = _about(lines, ids[2])
        assert any(str(line.get("pan", "")).startswith(MASKED_BIN) for line in purchase_lines)
