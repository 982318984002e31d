"""Mutual TLS of the internal links: the contexts both ends use, and the check of a peer's name.

Every link (front -> switch -> host) is TLS 1.3 with a certificate on both sides, each signed by
the local CA (`jifen pki init`) and naming its service in subjectAltName. A client checks the
server's name with the usual hostname check (`server_hostname=` the expected name); TLS has no
such check of a client, so a server reads the name from the verified client certificate once
the handshake is done and closes the connection unless it is one of the allowed names
(`peer_name_allowed`).

The services receive file paths in their configuration and build the contexts here; they never
create keys (that is `runtime.pki`, above them). A path may be `credential:NAME`, a file systemd
hands the service (`LoadCredential=`; `proto.settings.resolve_file_path`).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proto.errors import LinkTlsError
from proto.settings import resolve_file_path


def _context(purpose: ssl._SSLMethod, cert_setting: str, key_setting: str,
             ca_setting: str) -> ssl.SSLContext:
    try:
        cert_file, key_file, ca_file = (resolve_file_path(setting) for setting in
                                        (cert_setting, key_setting, ca_setting))
    except ValueError as exc:
        raise LinkTlsError(f"link TLS file {exc}") from exc
    for path in (cert_file, key_file, ca_file):
        if not Path(path).is_file():
            raise LinkTlsError(f"link TLS file {path} is missing (create the keys and "
                               f"certificates with `jifen pki init`)")
    context = ssl.SSLContext(purpose)
    # TLS 1.3 only: one round trip, forward secrecy, no renegotiation, no weak suites to pin.
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        context.load_cert_chain(cert_file, key_file)
        context.load_verify_locations(cafile=ca_file)
    except (ssl.SSLError, OSError) as exc:
        raise LinkTlsError(f"link TLS files {cert_file}, {key_file}, {ca_file}: {exc}") from exc
    return context


def server_context(cert_file: str, key_file: str, ca_file: str) -> ssl.SSLContext:
    """A link server's context: its own certificate, and a client certificate required,
    signed by the CA. The client's name is checked after the handshake (`ServerTls`)."""
    context = _context(ssl.PROTOCOL_TLS_SERVER, cert_file, key_file, ca_file)
    assert context.verify_mode == ssl.CERT_REQUIRED
    return context


def client_context(cert_file: str, key_file: str, ca_file: str) -> ssl.SSLContext:
    """A link client's context: its own certificate, and the server's verified against the CA
    with its name checked (`server_hostname` in `ClientTls`)."""
    context = _context(ssl.PROTOCOL_TLS_CLIENT, cert_file, key_file, ca_file)
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    return context


@dataclass(frozen=True)
class ServerTls:
    """What a link server needs: its context and the client names it accepts."""

    context: ssl.SSLContext
    peer_names: frozenset[str]

    @classmethod
    def from_files(cls, cert_file: str, key_file: str, ca_file: str,
                   peer_names: tuple[str, ...] | frozenset[str]) -> ServerTls:
        assert peer_names, "a server accepts at least one peer name"
        return cls(server_context(cert_file, key_file, ca_file), frozenset(peer_names))


@dataclass(frozen=True)
class ClientTls:
    """What a link client needs: its context and the name the server's certificate must carry."""

    context: ssl.SSLContext
    server_name: str

    @classmethod
    def from_files(cls, cert_file: str, key_file: str, ca_file: str,
                   server_name: str) -> ClientTls:
        return cls(client_context(cert_file, key_file, ca_file), server_name)


def certificate_names(peer_certificate: dict[str, Any] | None) -> list[str]:
    """The DNS names of a verified peer certificate's subjectAltName (`getpeercert()`)."""
    if not peer_certificate:
        return []
    return [value for kind, value in peer_certificate.get("subjectAltName", ())
            if kind == "DNS"]


def peer_name_allowed(peer_certificate: dict[str, Any] | None,
                      allowed: frozenset[str]) -> str | None:
    """The peer's name when one of its certificate's names is allowed, else None."""
    for name in certificate_names(peer_certificate):
        if name in allowed:
            return name
    return None
