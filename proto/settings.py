"""Types and checks of settings that several services' sections share.

A bound written as `msgspec.Meta` is checked when the configuration file is decoded (not when a
Struct is built in code); a relation between fields is checked in the Struct's `__post_init__`
with the functions here, whose ValueError msgspec reports with the section's path.
"""

from __future__ import annotations

import os
import re
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
# `credential:NAME` names a credential systemd hands the service (`LoadCredential=NAME:...`):
# the file NAME in $CREDENTIALS_DIRECTORY, resolved by `resolve_file_path` where it is opened.
FilePath = Annotated[str, msgspec.Meta(min_length=1)]
# The name of an environment variable (the KEK's, `kek_env`).
EnvironmentName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
CREDENTIAL_PREFIX = "credential:"
CREDENTIALS_DIRECTORY_VAR = "CREDENTIALS_DIRECTORY"
# systemd's credential names: no "/", not "." or ".."; 255 bytes, a file name's limit.
_CREDENTIAL_NAME = re.compile(r"^[A-Za-z0-9_.@+-]{1,255}$")
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


def check_address(name: str, address: str, *, listening: bool = False) -> None:
    """"host:port" with a port of 1-65535 (the pattern admits any five digits; a Struct built
    in code has not met the pattern). An address to listen on may have port 0: any free port,
    as a `Port` (tests)."""
    host, colon, port = address.rpartition(":")
    if not colon or not host or not port.isdigit():
        raise ValueError(f"{name} {address!r} is not host:port")
    port_min = 0 if listening else 1
    if not port_min <= int(port) <= ADDRESS_PORT_MAX:
        raise ValueError(f"{name} {address!r}: the port must be {port_min}-{ADDRESS_PORT_MAX}")


def check_not_above(settings: msgspec.Struct, low: str, high: str) -> None:
    """`low` <= `high`, e.g. a backoff's first wait and its longest."""
    low_value, high_value = getattr(settings, low), getattr(settings, high)
    if low_value > high_value:
        raise ValueError(f"{low} ({low_value}) is above {high} ({high_value})")


def resolve_file_path(path: str) -> str:
    """The file a path setting names: `credential:NAME` is $CREDENTIALS_DIRECTORY/NAME (systemd
    sets the variable for a unit with `LoadCredential=`), any other path is itself.

    The one place a setting's `credential:` form is expanded, at the moment the file is opened,
    so that a configuration file shared with commands run by hand (without credentials) still
    loads. A ValueError says why a credential cannot be found."""
    if not path.startswith(CREDENTIAL_PREFIX):
        return path
    name = path.removeprefix(CREDENTIAL_PREFIX)
    if not _CREDENTIAL_NAME.match(name) or name in (".", ".."):
        raise ValueError(f"{path!r}: a credential's name is a file name (no '/')")
    directory = os.environ.get(CREDENTIALS_DIRECTORY_VAR)
    if not directory:
        raise ValueError(f"{path!r}: ${CREDENTIALS_DIRECTORY_VAR} is not set (run under systemd "
                         f"with LoadCredential={name}:FILE, or give the file's path)")
    return os.path.join(directory, name)


def is_credential(path: str) -> bool:
    """Whether a path setting names a systemd credential (`credential:NAME`)."""
    return path.startswith(CREDENTIAL_PREFIX)
