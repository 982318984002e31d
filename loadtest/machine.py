"""The machine a run measured: results mean little without it."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import msgspec

GIT_TIMEOUT_S = 5.0


class Machine(msgspec.Struct, frozen=True):
    cpus: int               # usable by this process (nproc)
    cpu_model: str
    memory_gib: float
    python: str
    kernel: str
    postgres: str
    commit: str             # the code measured: short hash, "+dirty" with local changes


def describe_machine(postgres_version: str) -> Machine:
    return Machine(
        cpus=len(os.sched_getaffinity(0)), cpu_model=_cpu_model(), memory_gib=_memory_gib(),
        python=platform.python_version(), kernel=platform.release(),
        postgres=postgres_version, commit=_commit(),
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return 0.0


def _commit() -> str:
    repository = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repository,
                                capture_output=True, text=True, timeout=GIT_TIMEOUT_S,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=repository, capture_output=True, text=True,
                               timeout=GIT_TIMEOUT_S, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")
