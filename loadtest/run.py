"""A whole load test: the system under test, the fleet's window, and the two references.

    1. the system: started here (--start: migrate, provision, host + switch + front as child
       processes) or already running (--front), with the load-test alliance topped up;
    2. the end-to-end window: the fleet at the front, with CPU per process and the host's
       group commits sampled at the window's start and end;
    3. pgbench tpcb-like on the same PostgreSQL, same duration, the system idle;
    4. after a closed loop, the latency phase: the same system and fleet as an open loop at
       0.7x pgbench's TPS of step 3 (loadtest.latency_target), where p99 < 15 ms is the target;
    5. the bare front ceiling: a front of its own answering 0800 echo itself, same fleet.
The references run after the window, one at a time, so that nothing else competes for the two
cores while each is measured; pgbench comes before the latency phase, which takes its rate.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

import anyio
import asyncpg
import msgspec

from database.migrate import migrate
from devices.errors import DeviceError
from devices.terminal_client import TerminalClient
from loadtest import cpu
from loadtest.cpu import CpuShare
from loadtest.drive import DriveSettings, PhaseResult, Station, drive
from loadtest.errors import SetupError
from loadtest.host_metrics import BatchStats, Snapshot, approvals_per_s, batch_stats, scrape
from loadtest.latency_target import LatencyRate, choose_latency_rate
from loadtest.machine import Machine, describe_machine
from loadtest.mix import ECHO, Kind, describe_mix, parse_mix
from loadtest.partitions import PartitionDatabase, add_partitions
from loadtest.pgbench import PgbenchResult, run_pgbench
from loadtest.profile import Profile, py_spy_path, record
from loadtest.provision import FleetData, ensure_fleet
from loadtest.rules import ensure_rules
from loadtest.sampling import Skew
from loadtest.services import (
    Services,
    SystemPorts,
    apply_overrides,
    ceiling_sections,
    free_port,
    partition_host_sections,
    system_sections,
    with_partition_host,
    write_config,
)
from proto.codes import ResponseCode

# A running system learns new terminals and cards by notification; this long at most.
PICK_UP_TIMEOUT_S = 120.0
PICK_UP_RETRY_S = 0.2
PROBE_TIMEOUT_S = 5.0
SERVICE_NAMES = ("host", "switch", "front")


class Options(msgspec.Struct, frozen=True):
    """Everything a run needs, as the command line gave it."""

    command: str
    database_url: str               # the system's database (started or found by the caller)
    start: bool
    front: tuple[str, int]
    metrics_urls: list[str]
    terminals: int
    cards: int
    mix: str
    skew: Skew
    drive: DriveSettings
    work_dir: str                   # generated configs and child logs
    overrides: list[str] = []
    ceiling: bool = True
    latency_phase: bool = True      # closed loop: then an open loop at 0.7x pgbench's TPS
    latency_rate_per_s: float | None = None   # the latency phase's rate instead of pgbench's
    pgbench: bool = True
    pgbench_clients: int = 16
    pgbench_threads: int = 2
    pgbench_scale: int | None = None
    profile_dir: str | None = None
    progress: bool = True
    rules: str = "none"             # the earn rules loaded (loadtest/rules.py)
    # --start over several partitions: main's (central, database_url) first, each with its
    # database ready to add (loadtest/partitions.py); empty: one partition, as before.
    partitions: list[PartitionDatabase] = []


class Ratios(msgspec.Struct, frozen=True):
    to_pgbench: float | None        # durable authorisations/s over pgbench TPS
    to_ceiling: float | None        # over the bare front's echoes/s


class Results(msgspec.Struct, frozen=True):
    started_at: str
    command: str
    machine: Machine
    settings: dict[str, str]
    system: PhaseResult
    batches: list[BatchStats]
    cpu: list[CpuShare]     # not cpu.CpuShare: in this class, `cpu` names this field
    ceiling: PhaseResult | None
    ceiling_cpu: list[CpuShare]
    pgbench: PgbenchResult | None
    ratios: Ratios
    profiles: list[Profile]
    # After a closed loop: the rate chosen (or why none), and the system as an open loop at it.
    latency_rate: LatencyRate | None = None
    latency_phase: PhaseResult | None = None
    latency_phase_cpu: list[CpuShare] = []
    # Over several partitions: each host's approvals/s in the window, from its /metrics
    # (None: not scraped); their sum is the system's approvals less those in flight at the
    # window's edges.
    partitions: dict[str, float | None] = {}

    @property
    def error_count(self) -> int:
        return sum(phase.error_count for phase in (self.system, self.ceiling, self.latency_phase)
                   if phase is not None)


class _CpuWindow:
    """CPU per process group over a phase's window (its on_window hook)."""

    def __init__(self, data_dir: str | None, window_s: float) -> None:
        self._data_dir, self._window_s = data_dir, window_s
        self.before: dict[int, tuple[str, int]] = {}
        self.shares: list[cpu.CpuShare] = []

    async def __call__(self, moment: str) -> None:
        if moment == "start":
            self.before = cpu.snapshot(self._data_dir)
        else:
            self.shares = cpu.shares(self.before, cpu.snapshot(self._data_dir), self._window_s)


class _Window:
    """What is sampled at the window's start and end: CPU per process, the host's metrics,
    and (with --profile) py-spy on each service."""

    def __init__(self, metrics_urls: list[str], window_s: float, profile_dir: str | None,
                 data_dir: str | None, group: anyio.abc.TaskGroup) -> None:
        self._urls, self._window_s, self._profile_dir = metrics_urls, window_s, profile_dir
        self._cpu = _CpuWindow(data_dir, window_s)
        self._group = group
        self._metrics_before: list[Snapshot | None] = []
        self.batches: list[BatchStats] = []
        self.approvals_per_s: list[float | None] = []   # per metrics URL
        self.profiles: list[Profile] = []

    @property
    def cpu(self) -> list[cpu.CpuShare]:
        return self._cpu.shares

    async def __call__(self, moment: str) -> None:
        await self._cpu(moment)
        if moment == "start":
            self._metrics_before = [await scrape(url) for url in self._urls]
            if self._profile_dir is not None:
                self._start_profiles(self._cpu.before)
            return
        after = [await scrape(url) for url in self._urls]
        self.approvals_per_s = [approvals_per_s(before, later, self._window_s) for before, later
                                in zip(self._metrics_before, after, strict=True)]
        self.batches = [stats for url, before, later in zip(self._urls, self._metrics_before,
                                                             after, strict=True)
                        if (stats := batch_stats(url, before, later)) is not None]

    def _start_profiles(self, processes: dict[int, tuple[str, int]]) -> None:
        assert self._profile_dir is not None
        directory = Path(self._profile_dir)
        for pid, (group, _) in sorted(processes.items()):
            if group in SERVICE_NAMES:
                self._group.start_soon(self._profile, group, pid, directory)

    async def _profile(self, service: str, pid: int, directory: Path) -> None:
        self.profiles.append(await record(service, pid, self._window_s, directory))


async def run(options: Options) -> Results:
    kinds = parse_mix(options.mix)
    if options.profile_dir is not None:
        py_spy_path()  # fail before the work, not after it
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    work_dir = Path(options.work_dir)
    async with AsyncExitStack() as stack:
        if options.start:
            await migrate(options.database_url)
        host_names = tuple(partition.name for partition in options.partitions) or ("main",)
        fleet = await ensure_fleet(options.database_url, options.terminals, options.cards,
                                   host_names)
        if len(options.partitions) > 1:   # after the cards: the initial copy carries them
            await add_partitions(options.partitions)
        await ensure_rules(options.database_url, options.rules)
        if not fleet.pans:
            raise SetupError("the load-test alliance has no usable cards")
        front, metrics_urls = options.front, options.metrics_urls
        services = None
        if options.start:
            services = Services(work_dir / "system.toml", work_dir / "logs")
            stack.push_async_callback(services.stop)
            front, metrics_urls = await _start_system(services, options)
        else:
            await _wait_until_served(front, fleet)
        postgres_version, data_dir = await _server_facts(options.database_url)
        pans = [pan.encode() for pan in fleet.pans]
        system, window = await _measure_system(options, front, metrics_urls, fleet, pans,
                                               kinds, data_dir)
        pgbench = None
        if options.pgbench:  # with the system idle: the latency phase needs its TPS
            pgbench = await run_pgbench(
                options.database_url, int(round(options.drive.duration_s)),
                options.pgbench_clients, options.pgbench_threads, options.pgbench_scale)
        latency_rate = _latency_rate(options, system, pgbench)
        latency_phase: PhaseResult | None = None
        latency_phase_cpu: list[CpuShare] = []
        if latency_rate is not None and latency_rate.per_s is not None:
            latency_phase, latency_phase_cpu = await _measure_latency_phase(
                options, front, fleet, pans, kinds, latency_rate.per_s, data_dir)
        if services is not None:
            services.check_alive()
            await services.stop()  # idle, but the ceiling should have the box to itself
        ceiling: PhaseResult | None = None
        ceiling_cpu: list[CpuShare] = []
        if options.ceiling:
            ceiling, ceiling_cpu = await _measure_ceiling(options, fleet, data_dir)
    return Results(
        started_at=started_at, command=options.command,
        machine=describe_machine(postgres_version), settings=_settings(options, kinds, fleet),
        system=system, batches=window.batches, cpu=window.cpu, ceiling=ceiling,
        ceiling_cpu=ceiling_cpu, pgbench=pgbench, ratios=_ratios(system, ceiling, pgbench),
        profiles=sorted(window.profiles, key=lambda profile: SERVICE_NAMES.index(
            profile.service)),
        latency_rate=latency_rate, latency_phase=latency_phase,
        latency_phase_cpu=latency_phase_cpu,
        partitions=(dict(zip(host_names, window.approvals_per_s, strict=True))
                    if len(host_names) > 1 else {}),
    )


async def _start_system(services: Services, options: Options) -> tuple[tuple[str, int],
                                                                        list[str]]:
    ports = SystemPorts.free()
    work_dir = Path(options.work_dir)
    sections = apply_overrides(system_sections(options.database_url, ports), options.overrides)
    others = [(partition, free_port(), free_port()) for partition in options.partitions[1:]]
    for partition, host_port, _ in others:
        sections = with_partition_host(sections, partition.name, host_port)
    write_config(work_dir / "system.toml", sections)
    await services.start("host", ports.host)
    metrics_urls = [f"http://127.0.0.1:{ports.host_metrics}/metrics"]
    for partition, host_port, metrics_port in others:
        path = work_dir / f"host-{partition.name}.toml"
        write_config(path, partition_host_sections(sections, partition.name, partition.url,
                                                   host_port, metrics_port, work_dir / "pki"))
        await services.start(f"host-{partition.name}", host_port, path, "host")
        metrics_urls.append(f"http://127.0.0.1:{metrics_port}/metrics")
    await services.start("switch", ports.switch)
    await services.start("front", ports.front)
    return ("127.0.0.1", ports.front), metrics_urls


async def _measure_system(
    options: Options, front: tuple[str, int], metrics_urls: list[str], fleet: FleetData,
    pans: list[bytes], kinds: list[Kind], data_dir: str | None,
) -> tuple[PhaseResult, _Window]:
    async with anyio.create_task_group() as group:
        window = _Window(metrics_urls, options.drive.duration_s, options.profile_dir, data_dir,
                         group)
        system = await drive("system", front, fleet.stations, pans, kinds, options.skew,
                             options.drive, on_window=window, progress=options.progress)
    return system, window


def _latency_rate(options: Options, system: PhaseResult,
                  pgbench: PgbenchResult | None) -> LatencyRate | None:
    """None when there is no latency phase to speak of: an open-loop run (it is one already),
    or one asked not to have it; else its rate, or why it is skipped."""
    if not options.latency_phase or options.drive.rate_per_s is not None:
        return None
    if system.correct_per_s <= 0:
        return LatencyRate.skipped("the closed loop had no correct answers")
    return choose_latency_rate(pgbench, options.latency_rate_per_s)


async def _measure_latency_phase(
    options: Options, front: tuple[str, int], fleet: FleetData, pans: list[bytes],
    kinds: list[Kind], rate_per_s: float, data_dir: str | None,
) -> tuple[PhaseResult, list[cpu.CpuShare]]:
    """The same system and fleet, as an open loop at `rate_per_s` (0.7x pgbench's TPS, or as
    given): latency when the system is not pushed to its limit."""
    window = _CpuWindow(data_dir, options.drive.duration_s)
    settings = msgspec.structs.replace(options.drive, rate_per_s=rate_per_s)
    result = await drive("latency", front, fleet.stations, pans, kinds, options.skew,
                         settings, on_window=window, progress=options.progress)
    return result, window.shares


async def _measure_ceiling(options: Options, fleet: FleetData,
                           data_dir: str | None) -> tuple[PhaseResult, list[cpu.CpuShare]]:
    """The same fleet, echoes only, at a front that answers them itself."""
    work_dir = Path(options.work_dir)
    port = free_port()
    write_config(work_dir / "ceiling.toml", ceiling_sections(options.database_url, port))
    services = Services(work_dir / "ceiling.toml", work_dir / "logs-ceiling")
    window = _CpuWindow(data_dir, options.drive.duration_s)
    try:
        await services.start("front", port)
        settings = msgspec.structs.replace(options.drive, sign_on=False)
        echo = parse_mix(f"{ECHO}=1")
        result = await drive("front", ("127.0.0.1", port), fleet.stations, [b"0"], echo,
                             Skew(), settings, on_window=window, progress=options.progress)
    finally:
        await services.stop()
    return result, window.shares


async def _wait_until_served(front: tuple[str, int], fleet: FleetData) -> None:
    """A running system reloads new terminals and cards on notification: wait until the last
    terminal signs on and the last card is known, so that the window measures, not loads."""
    station: Station = fleet.stations[-1]
    last_answer: dict[str, str] = {}
    try:
        with anyio.fail_after(PICK_UP_TIMEOUT_S):
            async with TerminalClient(front[0], front[1], station.terminal_code,
                                      station.merchant_code, timeout_s=PROBE_TIMEOUT_S) as probe:
                while (last_answer := await probe.sign_on()).get("39") != ResponseCode.APPROVED:
                    await anyio.sleep(PICK_UP_RETRY_S)
                while (last_answer := await probe.inquiry(fleet.pans[-1])).get("39") \
                        != ResponseCode.APPROVED:
                    await anyio.sleep(PICK_UP_RETRY_S)
    except TimeoutError as exc:
        raise SetupError(f"the system at {front[0]}:{front[1]} did not take the load-test "
                         f"terminals and cards within {PICK_UP_TIMEOUT_S:g} s (last answer "
                         f"{last_answer.get('t')} {last_answer.get('39')})") from exc
    except DeviceError as exc:
        raise SetupError(f"no system at {front[0]}:{front[1]}: {exc}") from exc


async def _server_facts(database_url: str) -> tuple[str, str | None]:
    """The server's version, and its data directory when we may read it (superuser or
    pg_read_all_settings), to tell its processes from other servers' in the CPU split."""
    connection = await asyncpg.connect(database_url)
    try:
        version = await connection.fetchval("SHOW server_version")
        try:
            data_dir = await connection.fetchval("SHOW data_directory")
        except asyncpg.InsufficientPrivilegeError:
            data_dir = None
        return version, data_dir
    finally:
        await connection.close()


def _ratios(system: PhaseResult, ceiling: PhaseResult | None,
            pgbench: PgbenchResult | None) -> Ratios:
    return Ratios(
        to_pgbench=system.approved_per_s / pgbench.tps if pgbench and pgbench.tps else None,
        to_ceiling=(system.approved_per_s / ceiling.correct_per_s
                    if ceiling and ceiling.correct_per_s else None),
    )


def _settings(options: Options, kinds: list[Kind], fleet: FleetData) -> dict[str, str]:
    drive_settings = options.drive
    load = (f"open loop, {drive_settings.rate_per_s:,.0f} requests/s in all"
            if drive_settings.rate_per_s is not None
            else f"closed loop, {drive_settings.in_flight} in flight per terminal")
    settings = {
        "system": "started by the load test" if options.start
        else f"running at {options.front[0]}:{options.front[1]}",
        "terminals": f"{len(fleet.stations):,d}",
        "load": load,
        "window": f"{drive_settings.duration_s:g} s after {drive_settings.warmup_s:g} s of "
                  "warm-up",
        "mix": describe_mix(kinds),
        "cards": f"{len(fleet.pans):,d}, {options.skew.describe()}",
        "amount": f"{drive_settings.amount:,d}",
    }
    if options.overrides:
        settings["overrides"] = " ".join(options.overrides)
    if len(options.partitions) > 1:
        settings["partitions"] = (", ".join(partition.name for partition in options.partitions)
                                  + ", each an embedded server, the cards shared evenly")
    return settings
