"""The `[notify]` section: where and how the sender delivers members' notifications."""

from __future__ import annotations

from typing import Annotated

import msgspec

from proto.settings import Port, check_not_above

WebhookUrl = Annotated[str, msgspec.Meta(pattern=r"^https?://")]


class NotifyConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    # The SMS gateway's webhook: each event is POSTed to it as JSON. None (development): the
    # events are printed to standard output, one JSON line each, and counted delivered.
    webhook_url: WebhookUrl | None = None
    # Every request's deadline (connect, send, answer): a gateway that hangs is a failed
    # attempt, retried after the backoff.
    request_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=120)] = 5.0
    # Events read from the outbox at a time: the bound of the sender's memory.
    batch_size_max: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 200
    # How often an empty outbox is read again: an event waits about this long at most.
    poll_interval_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 0.5
    # After a failed attempt the sender waits backoff_s_min, doubling per failure of the same
    # event up to backoff_s_max: a gateway down for an hour is tried every minute, not hammered.
    backoff_s_min: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    backoff_s_max: Annotated[float, msgspec.Meta(gt=0, le=3_600)] = 60.0
    # An event's id is only used by the cursor once every outbox row below it has been
    # committed this long: a writer's transaction that took an id earlier and commits later
    # (the host's batch and the back office both write) is still read.
    settle_s: Annotated[float, msgspec.Meta(gt=0, le=3_600)] = 60.0
    # /metrics, /healthz, /readyz (0: none); `jifen up` waits for it to open.
    metrics_port: Port = 9105
    # SIGTERM: the event in flight is finished (its attempt and its record) within this long.
    drain_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 10.0

    def __post_init__(self) -> None:
        check_not_above(self, "backoff_s_min", "backoff_s_max")
