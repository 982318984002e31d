"""A burst of purchases keeps K in flight and counts answers by response code."""

from __future__ import annotations

import pytest

from devices.burst import run_purchase_burst
from devices.terminal_client import TerminalClient
from tests.devices.fake_front import FakeFront, default_answer

pytestmark = pytest.mark.anyio

PANS = ["6221880000000009", "6221880000000017"]


async def test_burst_counts_every_answer(fake_front: FakeFront) -> None:
    def answer(request: dict[str, str]) -> dict[str, str]:
        code = "51" if request["2"] == PANS[1] else "00"
        return {**default_answer(request), "39": code}

    fake_front.answer = answer
    fake_front.hold = 4  # answers in groups of four, out of order
    client = TerminalClient("127.0.0.1", fake_front.port, "TERM0001", "MERCHANT0000001",
                            timeout_s=5.0)
    async with client:
        result = await run_purchase_burst(client, PANS, amount_fen=100, count=40,
                                          in_flight_max=4, batch_number=1)
    assert result.count == 40 and result.response_codes == {"00": 20, "51": 20}
    assert result.rate_per_s > 0 and result.latency_ms_p99 >= result.latency_ms_p50
    assert len({request["11"] for _, request in fake_front.requests}) == 40
