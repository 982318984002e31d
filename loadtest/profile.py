"""Optional: py-spy profiles of the services during the window (`--profile DIR`).

py-spy is not a dependency of Jifen (install it by hand: `pip install py-spy`). It samples
each service for the window without stopping it (--nonblocking); the raw (collapsed-stack)
files stay in DIR for flame graphs, and the top functions by own time go into the results.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections import Counter
from pathlib import Path

import anyio
import msgspec

from loadtest.errors import UsageError

SAMPLES_PER_S = 100
TOP_FUNCTIONS = 10
# py-spy attaches within a second; it stops by itself after --duration.
MARGIN_S = 30.0
_LINE_NUMBER = re.compile(r":\d+\)$")


class FunctionShare(msgspec.Struct, frozen=True):
    function: str        # "name (file)"
    self_percent: float  # of the samples where the process was busy
    total_percent: float


class Profile(msgspec.Struct, frozen=True):
    service: str
    pid: int
    samples: int
    raw_path: str
    top: list[FunctionShare]


def py_spy_path() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise UsageError("--profile needs py-spy: pip install py-spy")
    return found


async def record(service: str, pid: int, duration_s: float, directory: Path) -> Profile:
    directory.mkdir(parents=True, exist_ok=True)
    raw_path = directory / f"{service}.txt"
    command = [py_spy_path(), "record", "--pid", str(pid), "--duration", str(int(duration_s)),
               "--rate", str(SAMPLES_PER_S), "--format", "raw", "--nonblocking",
               "--output", str(raw_path)]
    with anyio.fail_after(duration_s + MARGIN_S):
        result = await anyio.run_process(command, check=False)
    if result.returncode != 0 or not raw_path.exists():
        message = result.stderr.decode(errors="replace")[-500:]
        raise UsageError(f"py-spy on {service} (pid {pid}) failed: {message}")
    return summarise(service, pid, raw_path)


def summarise(service: str, pid: int, raw_path: Path) -> Profile:
    """Top functions by own time from py-spy's collapsed stacks ("f1;f2;...;leaf count")."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    samples = 0
    for line in raw_path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(frame) for frame in stack.split(";")]
        frames = [frame for frame in frames if not frame.startswith("process ")]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    top = [FunctionShare(name, 100 * count / samples, 100 * inclusive[name] / samples)
           for name, count in own.most_common(TOP_FUNCTIONS)] if samples else []
    return Profile(service, pid, samples, str(raw_path), top)


def _function(frame: str) -> str:
    """'send (anyio/_backends/_asyncio.py:1234)' -> 'send (anyio/_backends/_asyncio.py)'."""
    frame = _LINE_NUMBER.sub(")", frame.strip())
    name, _, location = frame.partition(" (")
    if location:
        location = "/".join(Path(location.rstrip(")")).parts[-2:])
        return f"{name} ({location})"
    return name
