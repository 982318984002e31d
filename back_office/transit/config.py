"""The `[transit]` section: the driver of transfers between partitions."""

from __future__ import annotations

from typing import Annotated

import msgspec

from proto.settings import Port


class TransitConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    # How often the open transfers are read again when no change is heard (a step's outcome
    # folded on central notifies at once; this is the fallback).
    poll_interval_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    # /metrics, /healthz, /readyz (0: none); `jifen up --partitions 2` waits for it to open.
    metrics_port: Port = 9106
    # SIGTERM: the transition in flight commits or rolls back within this long.
    drain_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 10.0
