"""The links' certificates in tests: one PKI per session (created on first use in a temporary
directory), and another CA's certificates for the tests that must be refused.

Harnesses call `session_pki()` directly (a fixture cannot reach a helper that builds a config);
the `pki` fixture in conftest.py returns the same directory.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from proto.tls import ClientTls, ServerTls
from runtime.pki import PkiFiles, init_pki, link_paths

# Every name a test may need: the services, a host named as its card ranges are, and a host
# with a certificate of its own.
NAMES = ("front", "switch", "host", "main", "host-b", "dialup")


def _new_pki(prefix: str) -> Path:
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    init_pki(directory / "pki", NAMES)
    return directory / "pki"


@cache
def session_pki() -> Path:
    """The PKI every test's services use."""
    return _new_pki("jifen-test-pki-")


@cache
def foreign_pki() -> Path:
    """A PKI of another CA, with the same names: its certificates must be refused."""
    return _new_pki("jifen-foreign-pki-")


def tls_fields(name: str, directory: Path | None = None) -> dict[str, Any]:
    """A service section's TLS settings for the certificate `name` (tls_cert_file, ...)."""
    return link_paths(directory or session_pki(), name)


def client_tls(name: str, server_name: str, directory: Path | None = None) -> ClientTls:
    files = PkiFiles(directory or session_pki())
    return ClientTls.from_files(str(files.cert(name)), str(files.key(name)),
                                str(PkiFiles(session_pki()).ca_cert), server_name)


def server_tls(name: str, peer_names: tuple[str, ...],
               directory: Path | None = None) -> ServerTls:
    files = PkiFiles(directory or session_pki())
    return ServerTls.from_files(str(files.cert(name)), str(files.key(name)),
                                str(PkiFiles(session_pki()).ca_cert), peer_names)
