"""Ports chosen before a server starts (database/ports.py): free, distinct, and below the
kernel's ephemeral range, where no port-0 bind or outgoing connection takes them meanwhile."""

from __future__ import annotations

import socket

from database import ports


def test_ports_are_distinct_free_and_below_the_ephemeral_range() -> None:
    chosen = ports.free_ports(8)
    assert len(set(chosen)) == len(chosen)
    for port in chosen:
        assert ports.PORT_PRESET_MIN <= port < ports._ephemeral_port_min()
        with socket.socket() as listener:
            listener.bind((ports.HOST, port))


def test_without_room_below_the_ephemeral_range_the_kernel_chooses(monkeypatch) -> None:
    monkeypatch.setattr(ports, "_ephemeral_port_min", lambda: ports.PORT_PRESET_MIN)
    port = ports.free_port()
    with socket.socket() as listener:
        listener.bind((ports.HOST, port))
