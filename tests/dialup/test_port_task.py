"""A port task's failures: a port's own (serial, OS, dial-up errors) are retried with backoff; a
bug ends the bridge, so that its supervisor restarts it rather than it running on bad state."""

from __future__ import annotations

import errno

import anyio
import pytest
import serial

from dialup.bridge import DialupBridge
from dialup.errors import LineClosedError
from dialup.events import PortFailed
from dialup.line import SerialLine
from dialup.port_task import PortTask
from tests.dialup.equipment import WAIT_S, bridge_config

pytestmark = pytest.mark.anyio


async def test_port_errors_are_retried_and_a_bug_ends_the_bridge(monkeypatch) -> None:
    failures: list[Exception] = [
        OSError(errno.EIO, "Input/output error"),
        serial.SerialException("could not configure port"),
        LineClosedError("line0 went away (end of file)"),
        AssertionError("broken invariant"),
    ]

    def open_failing(self: PortTask) -> SerialLine:
        raise failures.pop(0)

    monkeypatch.setattr(PortTask, "_open", open_failing)
    # Nothing listens on the front's port: the reverser never needs it here.
    bridge = DialupBridge(bridge_config(1, ["/dev/jifen-absent-modem"], port_backoff_s_min=0.001,
                                        port_backoff_s_max=0.001))
    with pytest.RaisesGroup(pytest.RaisesExc(AssertionError, match="broken invariant"),
                            flatten_subgroups=True):
        with anyio.fail_after(WAIT_S):
            await bridge.run()
    assert [event.error for event in bridge.events.matching(
        lambda event: isinstance(event, PortFailed))] == [
        "OSError: [Errno 5] Input/output error",
        "SerialException: could not configure port",
        "LineClosedError: line0 went away (end of file)",
    ]
