"""The bridge's TCP connection to the acquirer front: the same LEN + TPDU + ISO as a TCP terminal.

One connection per call (the contract lets a terminal reconnect per transaction), opened with
the call's first request. Answers are matched by (answer MTI, 41, 11) as the contract says; an
answer that matches nothing (a late answer to an earlier request) is skipped.

A front on another machine is reached at its bridge listener over mutual TLS (`front_tls`):
the bridge's certificate "dialup", the front's checked by name (`proto.tls`). The frames carry
their own lengths, so the connection ends without TLS's closing handshake, as a terminal's
does; a certificate refused either way is a FrontUnavailableError, as a front not there.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

import anyio
import msgspec
import structlog
from anyio.abc import ByteStream
from anyio.streams.buffered import BufferedByteReceiveStream

from dialup.config import DialupConfig, split_address
from dialup.errors import FrontTimeoutError, FrontUnavailableError
from proto.errors import FramingError, IsoDecodeError
from proto.framing import FRAME_SIZE_MAX, Tpdu, encode_frame, read_frame
from proto.iso_codec import IsoMessage, decode_iso
from proto.tls import ClientTls

log = structlog.get_logger("dialup.front")

AnswerKey = tuple[str, str, str]
_CONNECTION_ERRORS = (
    OSError, anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream,
    anyio.IncompleteRead,
)


class FrontAnswer(msgspec.Struct, frozen=True):
    tpdu: Tpdu
    body: bytes
    fields: IsoMessage

    @property
    def payload(self) -> bytes:
        """TPDU + ISO message: what goes back into a dial-up frame."""
        return self.tpdu.encode() + self.body


@dataclass(frozen=True)
class FrontEndpoint:
    """How the bridge reaches the front: its address, the connect timeout, and for a remote
    front the TLS context (its files read once, when the bridge starts: LinkTlsError)."""

    address: str
    connect_timeout_s: float
    tls: ClientTls | None = None

    @classmethod
    def from_config(cls, config: DialupConfig) -> FrontEndpoint:
        tls = ClientTls.from_files(config.tls_cert_file, config.tls_key_file,
                                   config.tls_ca_file, config.front_tls_name) \
            if config.front_tls else None
        return cls(config.front_address, config.front_connect_timeout_s, tls)

    def connection(self) -> FrontConnection:
        return FrontConnection(self.address, self.connect_timeout_s, tls=self.tls)


class FrontConnection:
    def __init__(self, address: str, connect_timeout_s: float,
                 frame_size_max: int = FRAME_SIZE_MAX, *, tls: ClientTls | None = None) -> None:
        self.host, self.port = split_address(address)
        self._connect_timeout_s = connect_timeout_s
        self._frame_size_max = frame_size_max
        self._tls = tls
        self._stream: ByteStream | None = None
        self._receive: BufferedByteReceiveStream | None = None

    async def __aenter__(self) -> FrontConnection:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, traceback: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        stream, self._stream, self._receive = self._stream, None, None
        if stream is not None:
            with anyio.CancelScope(shield=True):
                await stream.aclose()

    async def exchange(self, tpdu: Tpdu, body: bytes, key: AnswerKey,
                       timeout_s: float) -> FrontAnswer:
        """Send one request and wait for its answer; the deadline covers the connect too."""
        try:
            with anyio.fail_after(timeout_s):
                receive = await self._connected()
                assert self._stream is not None
                await self._stream.send(encode_frame(tpdu, body))
                return await self._answer(receive, key)
        except TimeoutError as exc:
            raise FrontTimeoutError(
                f"no answer {key[0]} to STAN {key[2]} within {timeout_s:g} s") from exc
        except (FramingError, *_CONNECTION_ERRORS) as exc:
            await self.aclose()
            raise FrontUnavailableError(f"front {self.host}:{self.port}: {exc!r}") from exc

    async def _connected(self) -> BufferedByteReceiveStream:
        if self._receive is not None:
            return self._receive
        try:
            with anyio.fail_after(self._connect_timeout_s):   # the TLS handshake included
                if self._tls is None:
                    self._stream = await anyio.connect_tcp(self.host, self.port)
                else:
                    self._stream = await anyio.connect_tcp(
                        self.host, self.port, ssl_context=self._tls.context,
                        tls_hostname=self._tls.server_name, tls_standard_compatible=False)
        except (*_CONNECTION_ERRORS, TimeoutError) as exc:
            raise FrontUnavailableError(
                f"cannot connect to the front {self.host}:{self.port}: {exc!r}") from exc
        self._receive = BufferedByteReceiveStream(self._stream)
        return self._receive

    async def _answer(self, receive: BufferedByteReceiveStream, key: AnswerKey) -> FrontAnswer:
        while True:
            tpdu, body = await read_frame(receive, self._frame_size_max)
            try:
                fields = decode_iso(body)
            except IsoDecodeError:
                log.warning("undecodable answer from the front skipped", size=len(body))
                continue
            if (fields["t"], fields.get("41", ""), fields.get("11", "")) == key:
                return FrontAnswer(tpdu, body, fields)
            log.info("late answer skipped", mti=fields["t"], stan=fields.get("11"))
