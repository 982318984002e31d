"""Types and checks of settings that several services' sections share.

A bound written as `msgspec.Meta` is checked when the configuration file is decoded (not when a
Struct is built in code); a relation between fields is checked in the Struct's `__post_init__`
with the functions here, whose ValueError msgspec reports with the section's path.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

# A TCP port to listen on; 0 means any free port (tests), or no metrics endpoint.
Port = Annotated[int, msgspec.Meta(ge=0, le=65_535)]
# "host:port" of a peer; the port's range is checked by check_address.
Address = Annotated[str, msgspec.Meta(pattern=r"^.+:[0-9]{1,5}$")]
# An account host's name (card_ranges.host_name): the provisioning's HOST_NAME_LENGTH_MAX.
HostName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
ADDRESS_PORT_MAX = 65_535
# A file's path (a link's certificate, key or CA); relative paths are from the working directory.
FilePath = Annotated[str, msgspec.Meta(min_length=1)]
# A service's name in its link certificate (subjectAltName, a DNS name): "front", "switch", "host".
PeerName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
# A link message's size limit: a batch of a few frames must fit, and no peer may make us hold
# more than 64 MiB per connection (the default, 1 MiB, is in proto.link_codec).
LinkMessageSize = Annotated[int, msgspec.Meta(ge=64 * 1024, le=64 * 1024 * 1024)]
# Accepted link connections: a server has a few peers (a host a few switches), so a small bound
# stops one peer that reconnects in a loop, or a stolen key, from taking every descriptor.
LinkConnections = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
# A quiet link connection is closed after this long; a live client probes a quiet link every
# echo interval, so this is longer than any client's echo interval plus its timeout.
LinkIdleTimeout = Annotated[float, msgspec.Meta(gt=0, le=86_400)]


def check_address(name: str, address: str) -> None:
    """"host:port" with a port of 1-65535 (the pattern admits any five digits; a Struct built
    in code has not met the pattern)."""
    host, colon, port = address.rpartition(":")
    if not colon or not host or not port.isdigit():
        raise ValueError(f"{name} {address!r} is not host:port")
    if not 1 <= int(port) <= ADDRESS_PORT_MAX:
        raise ValueError(f"{name} {address!r}: the port must be 1-{ADDRESS_PORT_MAX}")


def check_not_above(settings: msgspec.Struct, low: str, high: str) -> None:
    """`low` <= `high`, e.g. a backoff's first wait and its longest."""
    low_value, high_value = getattr(settings, low), getattr(settings, high)
    if low_value > high_value:
        raise ValueError(f"{low} ({low_value}) is above {high} ({high_value})")
