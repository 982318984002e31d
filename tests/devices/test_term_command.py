"""`jifen term` against the fake front: text, JSON, bursts, and clear errors."""

from __future__ import annotations

import json

import anyio
import pytest

from jifen.cli import main
from proto.fields import parse_tlv
from tests.devices.fake_front import FakeFront, default_answer

pytestmark = pytest.mark.anyio

PAN = "6221880000000009"


async def jifen_term(
    front_port: int, *argv: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Run the command in a worker thread: it runs its own event loop, as from a shell."""
    base = ["term", "--port", str(front_port), "--terminal", "TERM0001",
            "--merchant", "MERCHANT0000001", "--timeout", "5"]
    capsys.readouterr()
    exit_code = await anyio.to_thread.run_sync(main, [*base, *argv])
    captured = capsys.readouterr()
    return exit_code, captured.out, captured.err


async def test_sign_on_prints_a_readable_answer(fake_front: FakeFront, capsys) -> None:
    fake_front.answer = lambda request: {**default_answer(request), "60": "000003"}
    exit_code, out, _ = await jifen_term(fake_front.port, "signon", capsys=capsys)
    assert exit_code == 0
    assert out.startswith("0810  00  approved") and "batch number" in out


async def test_purchase_signs_on_first_and_a_decline_exits_1(fake_front: FakeFront,
                                                              capsys) -> None:
    def answer(request: dict[str, str]) -> dict[str, str]:
        if request["t"] == "0800":
            return {**default_answer(request), "60": "000003"}
        return {**default_answer(request), "39": "51"}

    fake_front.answer = answer
    exit_code, out, _ = await jifen_term(fake_front.port, "--json", "purchase", "--pan", PAN,
                                         "--amount", "250", capsys=capsys)
    assert exit_code == 1
    printed = json.loads(out)
    assert printed["answer"]["response"] == "not enough points or stored value"
    assert [request["t"] for _, request in fake_front.requests] == ["0800", "0200"]
    assert fake_front.requests[1][1]["60"] == "000003"


async def test_burst_reports_rate_and_codes(fake_front: FakeFront, capsys) -> None:
    exit_code, out, _ = await jifen_term(
        fake_front.port, "--json", "purchase", "--pan", PAN, "--amount", "100",
        "--batch", "1", "--repeat", "30", "--pipeline", "4", capsys=capsys,
    )
    assert exit_code == 0
    result = json.loads(out)
    assert result["count"] == 30 and result["response_codes"] == {"00": 30}
    assert result["rate_per_s"] > 0
    assert len(fake_front.requests) == 30  # --batch given: no sign-on


async def test_errors_are_clear(capsys) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    exit_code, _, err = await jifen_term(port, "echo", capsys=capsys)
    assert exit_code == 2 and "cannot connect to 127.0.0.1" in err
    exit_code, _, err = await jifen_term(port, "purchase", "--pan", PAN, capsys=capsys)
    assert exit_code == 2 and "--amount" in err
    exit_code, _, err = await jifen_term(port, "inquiry", capsys=capsys)
    assert exit_code == 2 and "needs --pan" in err


async def test_the_demo_tmk_file_is_read_by_default_and_macs_the_sign_on(
    fake_front: FakeFront, capsys, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "demo-tmks.csv").write_text(
        "terminal_code,tmk\nTERM0001,C1D0F8FB4958670DBA40AB1F3752EF0D\n")
    exit_code, _, err = await jifen_term(fake_front.port, "signon", capsys=capsys)
    assert exit_code == 0, err
    [(_, request)] = fake_front.requests
    assert len(request["128"]) == 16  # MACed under the TMK found in the file


async def test_a_tmk_on_the_command_line_is_refused(fake_front: FakeFront, capsys) -> None:
    exit_code, _, err = await jifen_term(
        fake_front.port, "--tmk", "C1D0F8FB4958670DBA40AB1F3752EF0D", "signon", capsys=capsys)
    assert exit_code == 2 and "--tmk-file" in err and "--tmk-stdin" in err
    assert fake_front.requests == []


@pytest.mark.parametrize(("argv", "sent"), [
    (("return", "--rrn", "000000000123", "--amount", "500"), ("0200", "200000")),
    (("load", "--amount", "10000"), ("0200", "210000")),
    (("exchange", "--amount", "300"), ("0200", "400060")),
    (("redeem", "--amount", "50"), ("0200", "900000")),
    (("lottery", "--amount", "100"), ("0200", "910000")),
])
async def test_each_processing_code(fake_front: FakeFront, capsys, argv, sent) -> None:
    exit_code, _, err = await jifen_term(fake_front.port, "--batch", "1", argv[0], "--pan",
                                         PAN, *argv[1:], capsys=capsys)
    assert exit_code == 0, err
    [(_, request)] = fake_front.requests
    assert (request["t"], request["3"]) == sent
    if argv[0] == "return":
        assert request["37"] == "000000000123"


async def test_reverse_sends_the_request_then_its_reversal(fake_front: FakeFront,
                                                           capsys) -> None:
    exit_code, out, _ = await jifen_term(fake_front.port, "--batch", "1", "reverse", "--of",
                                         "load", "--pan", PAN, "--amount", "800",
                                         capsys=capsys)
    assert exit_code == 0 and out.startswith("0410")
    (_, load), (_, reversal) = fake_front.requests
    assert (load["t"], load["3"], reversal["t"]) == ("0200", "210000", "0400")
    assert reversal["90"].startswith("0200" + load["11"])


async def test_reconcile_and_what_is_refused(fake_front: FakeFront, capsys) -> None:
    exit_code, _, _ = await jifen_term(fake_front.port, "--batch", "1", "reconcile",
                                       capsys=capsys)
    assert exit_code == 0 and fake_front.requests[0][1]["t"] == "0500"
    exit_code, _, err = await jifen_term(fake_front.port, "return", "--pan", PAN, "--amount",
                                         "5", capsys=capsys)
    assert exit_code == 2 and "return needs --rrn" in err
    exit_code, _, err = await jifen_term(fake_front.port, "load", "--pan", PAN, "--amount",
                                         "5", "--password-stdin", capsys=capsys)
    assert exit_code == 2 and "a card password goes with" in err


@pytest.mark.parametrize(("option", "tags"), [
    (("--gift", "TEA"), {"GC": "TEA"}), (("--order", "12345"), {"OA": "000000012345"})])
async def test_redeem_a_gift_or_part_of_an_order_shows_pt_decoded(
    fake_front: FakeFront, capsys, option: tuple[str, str], tags: dict[str, str],
) -> None:
    fake_front.answer = lambda request: {**default_answer(request), "48": "PT004-250"}
    exit_code, out, _ = await jifen_term(fake_front.port, "--batch", "1", "redeem", "--pan",
                                         PAN, "--amount", "250", *option, capsys=capsys)
    assert exit_code == 0
    [(_, request)] = fake_front.requests
    assert (request["3"], parse_tlv(request["48"])) == ("900000", tags)
    assert "-250 (250 points spent)" in out


async def test_gift_and_order_are_refused_together_and_elsewhere(capsys) -> None:
    exit_code, _, err = await jifen_term(1, "redeem", "--pan", PAN, "--amount", "1", "--gift",
                                         "TEA", "--order", "100", capsys=capsys)
    assert exit_code == 2 and "not both" in err
    exit_code, _, err = await jifen_term(1, "purchase", "--pan", PAN, "--amount", "1",
                                         "--order", "100", capsys=capsys)
    assert exit_code == 2 and "redeem only" in err
