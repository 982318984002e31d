"""Where the two cores went during a window: CPU seconds per process group, from /proc.

On a 2-core box the generator, PostgreSQL and the three services share the cores, so the
throughput alone does not say what to optimise; the split does. Processes are grouped by
what they are: postgres (the system's server: every process working in its data directory),
other postgres servers on the box, the jifen services by subcommand, the generator (this
process), pgbench, and the rest. Anything but "other" that is busy means the box was not quiet.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

_CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_SERVICES = ("host", "switch", "front")
_PROC = Path("/proc")


class CpuShare(msgspec.Struct, frozen=True):
    group: str
    cores: float           # CPU seconds per second of the window


def snapshot(postgres_data_dir: str | None = None) -> dict[int, tuple[str, int]]:
    """pid -> (group, CPU ticks used so far); empty where there is no /proc. Without the
    system's data directory, every postgres process counts as the system's."""
    result: dict[int, tuple[str, int]] = {}
    if not _PROC.is_dir():
        return result
    own = os.getpid()
    data_dir = os.path.realpath(postgres_data_dir) if postgres_data_dir else None
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # the process ended meanwhile
        # The command name may hold spaces and parentheses: fields follow the last ')'.
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        ticks = int(fields[11]) + int(fields[12])   # utime, stime
        pid = int(entry.name)
        group = _group(pid, own, name, cmdline)
        if group == "postgres" and data_dir is not None and _cwd(entry) != data_dir:
            group = "other postgres"
        result[pid] = (group, ticks)
    return result


def _cwd(entry: Path) -> str | None:
    try:
        return os.readlink(entry / "cwd")
    except OSError:
        return None


def shares(before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]],
           window_s: float) -> list[CpuShare]:
    """Cores used per group between two snapshots, largest first (new processes count whole;
    processes that ended in between are not seen)."""
    totals: dict[str, int] = {}
    for pid, (group, ticks) in after.items():
        _, earlier = before.get(pid, (group, 0))
        totals[group] = totals.get(group, 0) + max(ticks - earlier, 0)
    rows = [CpuShare(group, ticks / _CLOCK_TICKS_PER_S / window_s)
            for group, ticks in totals.items() if ticks]
    return sorted(rows, key=lambda row: -row.cores)


def _group(pid: int, own: int, name: str, cmdline: list[bytes]) -> str:
    if pid == own:
        return "generator"
    if name in ("postgres", "pgbench"):
        return name
    words = [word.decode(errors="replace") for word in cmdline if word]
    if any("jifen" in word for word in words):
        for word in reversed(words):
            if word in _SERVICES:
                return word
    return "other"
