"""The local CA of the internal links: `jifen pki init`, and `jifen up` on a first start.

One CA (EC P-256, ten years) signs one certificate per service (EC P-256, 825 days), whose
subjectAltName is the service's name: "front", "switch", the host's name (`[pki] host_name`)
and "dialup" (a dial-up bridge on another machine, to the front's bridge listener).
The files, under `[pki] dir`:

    ca.key  ca.crt          the CA (ca.key only signs; no service reads it)
    <name>.key <name>.crt   one per service, e.g. front.key front.crt

Keys are written 0600 and certificates 0644, each created anew (O_EXCL, never through a
symlink); the directory is 0700. Existing files are kept: `init` creates only what is missing
(a new host name gets its certificate from the existing CA), and `force` replaces everything,
a new CA included (every service must then be restarted).

The services only read these files (`proto.tls` builds their contexts).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from runtime.config import Config
from runtime.errors import PkiError

# The CA outlives many leaves; ten years, then a planned re-keying of every link.
CA_VALIDITY_DAYS = 3_650
# The longest validity browsers accepted (CA/B forum, 2018): a stolen key ages out.
LEAF_VALIDITY_DAYS = 825
# Clocks a little behind the machine that signed must still accept a fresh certificate.
NOT_BEFORE_SLACK = datetime.timedelta(minutes=5)
_KEY_MODE = 0o600
_CERT_MODE = 0o644
_DIRECTORY_MODE = 0o700


@dataclass(frozen=True)
class PkiFiles:
    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    def cert(self, name: str) -> Path:
        return self.directory / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.directory / f"{name}.key"


def service_names(config: Config) -> tuple[str, ...]:
    """The names a system's certificates carry. The bridge's is issued whether or not a
    bridge is remote: an install that adds one later copies it over rather than re-runs."""
    return ("front", "switch", config.pki.host_name, "dialup")


def init_pki(directory: Path, names: tuple[str, ...], *, force: bool = False) -> list[Path]:
    """Create the CA and one certificate per name, those missing (all with `force`); returns
    the files written."""
    files = PkiFiles(directory)
    directory.mkdir(mode=_DIRECTORY_MODE, parents=True, exist_ok=True)
    if force:
        for path in [files.ca_key, files.ca_cert, *(files.key(n) for n in names),
                     *(files.cert(n) for n in names)]:
            path.unlink(missing_ok=True)
    written: list[Path] = []
    if files.ca_key.exists() != files.ca_cert.exists():
        raise PkiError(f"{directory}: one of ca.key and ca.crt is missing; re-create the CA "
                       f"with `jifen pki init --force`")
    if files.ca_key.exists():
        ca_key, ca_cert = _load_ca(files)
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _ca_certificate(ca_key)
        written += [_write_key(files.ca_key, ca_key), _write_cert(files.ca_cert, ca_cert)]
    for name in names:
        if files.key(name).exists() and files.cert(name).exists():
            continue
        files.key(name).unlink(missing_ok=True)
        files.cert(name).unlink(missing_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _leaf_certificate(name, key, ca_key, ca_cert)
        written += [_write_key(files.key(name), key), _write_cert(files.cert(name), cert)]
    return written


def ensure_pki(config: Config, host_names: tuple[str, ...] = ()) -> list[Path]:
    """`jifen up`'s first start: create what is missing under `[pki] dir`, with a certificate
    for each of `host_names` too (the partitions' hosts of `jifen up --partitions`)."""
    return init_pki(Path(config.pki.dir), (*service_names(config), *host_names))


def link_paths(directory: Path, name: str) -> dict[str, str]:
    """A service's TLS settings for the PKI in `directory`."""
    files = PkiFiles(directory)
    return {"tls_cert_file": str(files.cert(name)), "tls_key_file": str(files.key(name)),
            "tls_ca_file": str(files.ca_cert)}


def configure_links(config: Config, directory: Path) -> Config:
    """`config` with every service's TLS files taken from the PKI in `directory` (tests, the
    load test)."""
    replace = msgspec.structs.replace
    return replace(
        config,
        pki=replace(config.pki, dir=str(directory)),
        front=replace(config.front, **link_paths(directory, "front")),
        switch=replace(config.switch, **link_paths(directory, "switch")),
        host=replace(config.host, **link_paths(directory, config.pki.host_name)),
        dialup=replace(config.dialup, **link_paths(directory, "dialup")),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(builder: x509.CertificateBuilder, days: int) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (builder.not_valid_before(now - NOT_BEFORE_SLACK)
            .not_valid_after(now + datetime.timedelta(days=days))
            .serial_number(x509.random_serial_number()))


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    builder = x509.CertificateBuilder().subject_name(_name("Jifen links CA")).issuer_name(
        _name("Jifen links CA")).public_key(key.public_key())
    builder = _validity(builder, CA_VALIDITY_DAYS)
    builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    builder = builder.add_extension(x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False), critical=True)
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    return builder.sign(key, hashes.SHA256())


def _leaf_certificate(name: str, key: ec.EllipticCurvePrivateKey,
                      ca_key: ec.EllipticCurvePrivateKey,
                      ca_cert: x509.Certificate) -> x509.Certificate:
    builder = x509.CertificateBuilder().subject_name(_name(name)).issuer_name(
        ca_cert.subject).public_key(key.public_key())
    builder = _validity(builder, LEAF_VALIDITY_DAYS)
    builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                    critical=True)
    builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]),
                                    critical=False)
    builder = builder.add_extension(x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False), critical=True)
    # Each service is a server to one neighbour and a client of the other.
    builder = builder.add_extension(x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _load_ca(files: PkiFiles) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    try:
        key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    except (OSError, ValueError) as exc:
        raise PkiError(f"cannot read the CA under {files.directory}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{files.ca_key} is not an EC key")
    return key, cert


def _write_new(path: Path, data: bytes, mode: int) -> Path:
    """Create `path` (never an existing file, never through a symlink) with `mode`."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except OSError as exc:
        raise PkiError(f"cannot create {path}: {exc}") from exc
    with os.fdopen(descriptor, "wb") as file:
        os.fchmod(file.fileno(), mode)   # whatever the umask
        file.write(data)
    return path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    return _write_new(path, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), _KEY_MODE)


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    return _write_new(path, cert.public_bytes(serialization.Encoding.PEM), _CERT_MODE)
