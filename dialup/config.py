"""Settings of the dial-up bridge (TOML section `[dialup]`) and of its test equipment.

    [dialup]
    front_address = "127.0.0.1:8583"
    # A front on another machine: its bridge listener ([front] bridge_listen), over TLS.
    # front_address = "10.0.0.1:8593"
    # front_tls = true

    [[dialup.ports]]
    device = "/dev/ttyUSB0"
    speed_bps = 9600
    parity = "N"
    nii = 1

Every limit's name carries its unit, then its qualifier (`backoff_s_max`), and a reason.
Bounds (`Meta`) are checked when the configuration file is loaded; `__post_init__` checks the
relations between fields, also for settings built in code.
"""

from __future__ import annotations

import ipaddress
from pathlib import PurePath
from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta

from proto.dialup_framing import BCD_LENGTH_MAX, PAYLOAD_SIZE_MAX, PAYLOAD_SIZE_MIN
from proto.settings import Address, FilePath, PeerName, Port, check_address, check_not_above

Parity = Literal["N", "E", "O"]
HangupMethod = Literal["auto", "dtr", "escape"]
# A Hayes command line starts with AT (either case).
AtCommand = Annotated[str, Meta(pattern=r"^[Aa][Tt]")]
# A frame's payload: a TPDU and an MTI at least; LEN's four BCD digits cannot say more.
PayloadSize = Annotated[int, Meta(ge=PAYLOAD_SIZE_MIN, le=BCD_LENGTH_MAX)]

# Hayes: reset, no echo (so results are the only lines we read), no auto-answer (we answer
# RING ourselves, so we know a call is coming before CONNECT).
INIT_COMMANDS_DEFAULT = ("ATZ", "ATE0", "ATS0=0")


class PortConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One serial port with one modem behind it."""

    # /dev/ttyS0, /dev/ttyUSB0, or a pty's /dev/pts/N.
    device: Annotated[str, Meta(min_length=1)]
    # Label of the port in logs and metrics; the device's file name when not given.
    name: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    # The DTE speed between the bridge and its modem (the line speed is CONNECT's): from
    # V.21's 300 to the fastest USB serial adapters.
    speed_bps: Annotated[int, Meta(ge=300, le=4_000_000)] = 9600
    parity: Parity = "N"
    data_bits: Literal[7, 8] = 8
    stop_bits: Literal[1, 2] = 1
    # When set, frames whose TPDU destination is another NII are not forwarded (a misdialled
    # terminal of another host); None forwards every NII. The TPDU holds it in two bytes.
    nii: Annotated[int, Meta(ge=0, le=65_535)] | None = None
    # Sent in order after every call; each must answer OK. Add e.g. "AT&C1&D2" for a modem
    # whose factory profile does not report carrier on DCD or hang up on DTR.
    init_commands: tuple[AtCommand, ...] = INIT_COMMANDS_DEFAULT
    # auto: drop DTR where the port has modem lines, else the +++ escape and ATH.
    hangup: HangupMethod = "auto"

    @property
    def label(self) -> str:
        return self.name or PurePath(self.device).name


class ModemSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    # An AT command answers in milliseconds; ATZ reloads a profile, which takes up to ~1 s.
    command_timeout_s: Annotated[float, Meta(gt=0, le=60)] = 5.0
    # ATA or ATD to CONNECT: training on a bad line takes up to the modem's S7 (50 s; S7
    # goes to 255).
    connect_timeout_s: Annotated[float, Meta(gt=0, le=300)] = 60.0
    # Waiting for RING this long, the bridge probes the modem with AT: a dead modem shows.
    ring_wait_s: Annotated[float, Meta(gt=0, le=3_600)] = 60.0
    # Hayes S12 = 50: one second of silence before and after +++ (S12 goes to 255: 5.1 s).
    escape_guard_s: Annotated[float, Meta(gt=0, le=5.1)] = 1.0
    # DTR low this long makes a modem in &D2 hang up (they need tens of milliseconds).
    dtr_drop_s: Annotated[float, Meta(gt=0, le=10)] = 0.5
    # While a call is up, DCD is read this often on ports that have it; a carrier lost for
    # more than a few seconds is a call the terminal already gave up.
    carrier_poll_s: Annotated[float, Meta(gt=0, le=5)] = 0.1
    # A write to the modem that does not drain in this time means a stuck port.
    write_timeout_s: Annotated[float, Meta(gt=0, le=300)] = 5.0


class LinkSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The framed exchange of a call (host interface §1), both the bridge's and a terminal's."""

    # A frame's bytes come back to back; at 1200 bps a byte takes 8 ms, so a second of
    # silence means the sender stopped mid-frame.
    inter_byte_timeout_s: Annotated[float, Meta(gt=0, le=60)] = 1.0
    # The spec's wait for ACK or NAK before a resend.
    ack_timeout_s: Annotated[float, Meta(gt=0, le=60)] = 3.0
    # The spec's resends (4 sends in all); 0 sends once.
    resends_max: Annotated[int, Meta(ge=0, le=100)] = 3
    # Bad frames in a row before the receiver hangs up: the line is too noisy to carry money.
    bad_frames_max: Annotated[int, Meta(ge=1, le=100)] = 3
    # A call idle this long between frames is hung up: the terminal forgot to.
    frame_wait_timeout_s: Annotated[float, Meta(gt=0, le=3_600)] = 30.0
    payload_size_max: PayloadSize = PAYLOAD_SIZE_MAX
    # Frames received and not yet taken: a terminal sends one request at a time.
    frames_queued_max: Annotated[int, Meta(ge=1, le=1_000)] = 8


class ReversalSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    # Settings renamed since an earlier release: a file that still uses the old name is refused
    # with the new one.
    renamed_fields: ClassVar[dict[str, str]] = {
        "backoff_min_s": "backoff_s_min",
        "backoff_max_s": "backoff_s_max",
    }

    # Every attempt waits this long for the 0410; above the front's own 10 s (it answers 91).
    answer_timeout_s: Annotated[float, Meta(gt=0, le=300)] = 15.0
    # Attempts before giving up and logging the reversal as lost for manual action.
    attempts_max: Annotated[int, Meta(ge=1, le=1_000)] = 10
    # Backoff between attempts doubles from min to max: a host restart takes seconds.
    backoff_s_min: Annotated[float, Meta(gt=0, le=60)] = 0.5
    backoff_s_max: Annotated[float, Meta(gt=0, le=3_600)] = 30.0
    # Reversals waiting to be sent; past it a call's port waits before its next call.
    queued_max: Annotated[int, Meta(ge=1, le=1_000_000)] = 1_000
    # Reversals sent at the same time: each holds one TCP connection to the front.
    in_flight_max: Annotated[int, Meta(ge=1, le=1_000)] = 16

    def __post_init__(self) -> None:
        check_not_above(self, "backoff_s_min", "backoff_s_max")


class DialupConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    # Settings renamed since an earlier release: a file that still uses the old name is refused
    # with the new one.
    renamed_fields: ClassVar[dict[str, str]] = {
        "port_backoff_min_s": "port_backoff_s_min",
        "port_backoff_max_s": "port_backoff_s_max",
    }

    # The acquirer front, as a TCP terminal reaches it; a front on another machine, at its
    # bridge listener ([front] bridge_listen) with front_tls.
    front_address: Address = "127.0.0.1:8583"
    metrics_port: Port = 9104
    ports: tuple[PortConfig, ...] = ()
    # Connecting to the front when the first frame of a call arrives.
    front_connect_timeout_s: Annotated[float, Meta(gt=0, le=300)] = 3.0
    # Waiting for the front's answer: above its answer_timeout_s (10 s), after which it
    # answers 91 itself; a terminal usually waits 30-60 s.
    answer_timeout_s: Annotated[float, Meta(gt=0, le=300)] = 15.0
    # A port that fails (cannot open, no modem) is retried with a doubling backoff.
    port_backoff_s_min: Annotated[float, Meta(gt=0, le=60)] = 0.5
    port_backoff_s_max: Annotated[float, Meta(gt=0, le=3_600)] = 30.0
    modem: ModemSettings = ModemSettings()
    link: LinkSettings = LinkSettings()
    reversal: ReversalSettings = ReversalSettings()
    # ---- mutual TLS to the front (`jifen pki init` creates these files; docs/security.md) ----
    # Connect to the front's bridge listener over TLS 1.3 with the certificate below. Needed
    # when front_address is not this machine's: the terminals' requests (card numbers,
    # amounts) would otherwise cross the network in clear, so a bridge without it is refused.
    front_tls: bool = False
    # The bridge's own certificate (name "dialup", what the front's bridge listener accepts)
    # and key, and the CA; read only with front_tls.
    tls_cert_file: FilePath = "var/pki/dialup.crt"
    tls_key_file: FilePath = "var/pki/dialup.key"
    tls_ca_file: FilePath = "var/pki/ca.crt"
    # The name the front's certificate must carry: anyone else on its port is refused.
    front_tls_name: PeerName = "front"

    def __post_init__(self) -> None:
        labels = [port.label for port in self.ports]
        if len(labels) != len(set(labels)):
            raise ValueError(f"dial-up port names repeat: {labels}")
        check_address("front_address", self.front_address)
        if not self.front_tls and not is_loopback(split_address(self.front_address)[0]):
            raise ValueError(
                f"front_address {self.front_address!r} is not on this machine and front_tls "
                f"is off: the terminals' requests would cross the network in clear; set "
                f"front_tls = true and give the front's bridge_listen address")
        check_not_above(self, "port_backoff_s_min", "port_backoff_s_max")


def is_loopback(host: str) -> bool:
    """Whether a host of an address setting is this machine: localhost, 127.0.0.0/8 or ::1.
    Any other name may resolve elsewhere, so it is not."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"address {address!r} is not host:port")
    return host, int(port)
