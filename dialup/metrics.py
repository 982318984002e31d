"""Prometheus metrics of the dial-up bridge (default registry; `jifen dialup` exposes them).

The `port` label takes the configured ports' names only, so its values are bounded.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from dialup.link import LinkStats

CALLS = Counter(
    "jifen_dialup_calls", "Calls answered after RING, by result: connected, or the modem's "
    "result code when ATA failed.", ["port", "result"],
)
CALLS_ENDED = Counter(
    "jifen_dialup_calls_ended", "Calls ended, by reason: carrier_lost, idle, bad_frames, "
    "not_delivered, line_error.", ["port", "reason"],
)
CONNECT_SPEED = Histogram(
    "jifen_dialup_connect_speed_bps", "Line speed of each call, from CONNECT <speed>.",
    ["port"], buckets=(1200, 2400, 4800, 9600, 14400, 19200, 28800, 33600, 56000),
)
FRAMES = Counter(
    "jifen_dialup_frames", "Good frames, by direction: received from terminals (each ACKed), "
    "delivered to them (ACKed by them).", ["port", "direction"],
)
NAKS_SENT = Counter(
    "jifen_dialup_naks_sent", "Bad frames from terminals, each answered NAK, by reason: lrc, "
    "length, bcd, etx, truncated.", ["port", "reason"],
)
NAKS_RECEIVED = Counter(
    "jifen_dialup_naks_received", "NAKs from terminals to the bridge's frames.", ["port"],
)
RESENDS = Counter("jifen_dialup_resends", "Answer frames sent again (NAK or no ACK).", ["port"])
NOISE_BYTES = Counter("jifen_dialup_noise_bytes", "Line noise skipped before STX.", ["port"])
FRAMES_DROPPED = Counter(
    "jifen_dialup_frames_dropped", "Good frames not forwarded, by reason: iso (undecodable), "
    "nii (another host's), queue (the call's queue was full).", ["port", "reason"],
)
CARRIER_LOSSES = Counter(
    "jifen_dialup_carrier_losses", "Calls that lost the carrier, by phase: idle (between "
    "transactions: a terminal's usual hang-up), mid_frame, answering (an answer was due).",
    ["port", "phase"],
)
FRONT_ERRORS = Counter(
    "jifen_dialup_front_errors", "Requests the front did not answer, by reason: unavailable, "
    "timeout.", ["port", "reason"],
)
PORT_ERRORS = Counter(
    "jifen_dialup_port_errors", "Port failures (cannot open, no modem, line gone); the port "
    "is retried after a backoff.", ["port"],
)
REVERSALS = Counter(
    "jifen_dialup_reversals", "Reversals the bridge made (0400, reason 68), by outcome: "
    "queued, approved (00), unknown_original (25), refused, gave_up, not_queued.", ["outcome"],
)
REVERSAL_ATTEMPTS = Counter(
    "jifen_dialup_reversal_attempts", "0400s sent, first sends and retries.",
)


class PortMetrics(LinkStats):
    """A link's counts, kept in memory and in Prometheus under one port's label."""

    def __init__(self, port: str) -> None:
        super().__init__()
        self.port = port

    def frame_received(self) -> None:
        super().frame_received()
        FRAMES.labels(self.port, "received").inc()

    def frame_rejected(self, reason: str) -> None:
        super().frame_rejected(reason)
        NAKS_SENT.labels(self.port, reason).inc()

    def frame_dropped(self) -> None:
        super().frame_dropped()
        FRAMES_DROPPED.labels(self.port, "queue").inc()

    def noise_skipped(self, size: int) -> None:
        super().noise_skipped(size)
        NOISE_BYTES.labels(self.port).inc(size)

    def nak_received(self) -> None:
        super().nak_received()
        NAKS_RECEIVED.labels(self.port).inc()

    def resent(self) -> None:
        super().resent()
        RESENDS.labels(self.port).inc()
