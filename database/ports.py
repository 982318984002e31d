"""Ports chosen for a server before it starts (a child process told its port in a file).

They are drawn from below the kernel's ephemeral range (net.ipv4.ip_local_port_range,
32768-60999 by default), where no bind to port 0 and no outgoing connection lands meanwhile. A
port the kernel gave for port 0 was now and then taken by another program's socket in the
seconds before the server bound it (two test workers at once, other runs on the machine).
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

HOST = "127.0.0.1"
# The lowest port drawn: above the well-known services' and most registered ones.
PORT_PRESET_MIN = 10_000
EPHEMERAL_RANGE_PATH = Path("/proc/sys/net/ipv4/ip_local_port_range")
EPHEMERAL_PORT_MIN_DEFAULT = 32_768
# Draws per port before falling back to port 0: a busy port is rare below the ephemeral range.
PORT_DRAWS_MAX = 64


def free_port() -> int:
    """A port nothing on 127.0.0.1 is bound to now, for a server to bind soon."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct such ports (each held while the next is drawn)."""
    assert count >= 1
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            held.append(_bound_probe())
        return [probe.getsockname()[1] for probe in held]
    finally:
        for probe in held:
            probe.close()


def _bound_probe() -> socket.socket:
    port_max = _ephemeral_port_min() - 1
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if port_max > PORT_PRESET_MIN:
            for _ in range(PORT_DRAWS_MAX):
                try:
                    probe.bind((HOST, random.randint(PORT_PRESET_MIN, port_max)))
                except OSError:
                    continue
                return probe
        probe.bind((HOST, 0))
        return probe
    except BaseException:
        probe.close()
        raise


def _ephemeral_port_min() -> int:
    try:
        return int(EPHEMERAL_RANGE_PATH.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return EPHEMERAL_PORT_MIN_DEFAULT
