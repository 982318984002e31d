"""The switch's key memory (switch/key_memory.py), measured in process: memory per key, the
lookup's cost (hit and miss), the per-frame cost the forwarder adds with two hosts next to the
route lookup it always does, a minute's close (the frame that ends the minute, and the sweep's
steps that sort it: the longest a frame waits behind either), and a restart's digests at both
ends.

    python -m loadtest.key_memory_bench [--rate 5000] [--window-s 900] [--json]

Fills the memory as a switch at --rate card frames a second for --window-s would (random keys,
two hosts; the sweep's step once a second), then times each operation over many calls. One
host adds nothing: the forwarder builds no memory and its per-frame test is one `is not None`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from collections.abc import Callable

import anyio
import structlog

from proto.frames import Answer, Request
from proto.retransmission import key_digest, key_digest_bytes, retransmission_key
from switch.config import SwitchConfig
from switch.forwarder import Forwarder
from switch.key_memory import BUCKET_S, KeyMemory
from switch.routes import CardRange, RouteBook, RouteTable

CALLS = 200_000


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def per_call_us(function: Callable[[int], object], calls: int = CALLS) -> float:
    started = time.perf_counter()
    for call in range(calls):
        function(call)
    return (time.perf_counter() - started) / calls * 1e6


def key_of(number: int) -> str:
    return retransmission_key(f"T{number % 50_000:07d}", "0200", f"{number % 999_999:06d}",
                              f"1207{number // 1_000_000:06d}")


class _Link:
    is_up = True

    def send(self, requests: list[Request]) -> bool:
        return True


class _Peer:
    name = "front"

    async def send_answers(self, answers: list[Answer]) -> None:
        raise AssertionError("nothing is refused here")


def forwarder_frame_us(hosts: list[str], memory: KeyMemory | None) -> float:
    """The forwarder's whole per-frame cost, a frame a call (new keys: each a miss, then
    remembered), answers left pending (the map is emptied as it fills)."""
    async def run() -> float:
        config = SwitchConfig(hosts={host: f"127.0.0.1:{8585 + at}"
                                     for at, host in enumerate(hosts)}, default_host=hosts[0],
                              pending_requests_max=10_000_000)
        routes = RouteBook(default_host=hosts[0], known_hosts=hosts)
        routes.update([CardRange("622188", "622188", hosts[0]),
                       CardRange("622189", "622189", hosts[-1])])
        forwarder = Forwarder(config, routes, {host: _Link() for host in hosts})
        if memory is not None:
            forwarder.keys = memory
        peer = _Peer()
        frames = [[Request(at, "0200", "T0000001", "M00000000000001", f"{at % 999_999:06d}",
                           f"1208{at // 999_999:06d}", 0, "000000", "6221890000000001", 100,
                           "156")] for at in range(CALLS)]
        started = time.perf_counter()
        for frame in frames:
            await forwarder.on_front_requests(peer, frame)   # type: ignore[arg-type]
        return (time.perf_counter() - started) / CALLS * 1e6

    return anyio.run(run)


def measure(rate: int, window_s: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    # The window ends now: the forwarder's own clock finds the memory full.
    start_s = int(time.time()) - window_s
    start_s -= start_s % BUCKET_S
    rng = random.Random(7)
    digests = [rng.getrandbits(64) - (1 << 63) for _ in range(rate * window_s)]
    before = resident_bytes()
    memory = KeyMemory(2, window_s, 50_000_000, start_s)
    closes: list[float] = []
    steps: list[float] = []
    steps_working = 0
    for second in range(window_s):
        now_s = start_s + second
        if now_s % BUCKET_S == 0 and second:
            started = time.perf_counter()
            memory.lookup(0, now_s)   # the minute that ended is set aside to be sorted
            closes.append(time.perf_counter() - started)
        for digest in digests[second * rate:(second + 1) * rate]:
            memory.remember(digest, digest & 1, now_s)
        started = time.perf_counter()
        moved = memory.step(now_s)   # the forwarder's sweep, once a second
        steps.append(time.perf_counter() - started)
        steps_working += moved > 0
    now_s = start_s + window_s - 1
    figures["keys"] = len(memory)
    figures["bytes_per_key"] = round((resident_bytes() - before) / len(memory), 1)
    figures["minute_close_ms_max"] = round(max(closes) * 1e3, 1)
    figures["sweep_step_ms_max"] = round(max(steps) * 1e3, 1)
    figures["sweep_steps_a_minute"] = round(steps_working / max(1, len(closes)), 1)
    newest = digests[-1]
    recent = digests[-rate * BUCKET_S * 2]   # two minutes back: a closed bucket, the newest
    oldest = digests[rate]                   # the oldest bucket
    misses = [rng.getrandbits(64) - (1 << 63) for _ in range(CALLS)]
    figures["lookup_us_current_minute"] = round(per_call_us(
        lambda _: memory.lookup(newest, now_s)), 3)
    figures["lookup_us_two_minutes_back"] = round(per_call_us(
        lambda _: memory.lookup(recent, now_s)), 3)
    figures["lookup_us_oldest_minute"] = round(per_call_us(
        lambda _: memory.lookup(oldest, now_s)), 3)
    figures["lookup_us_miss"] = round(per_call_us(lambda call: memory.lookup(misses[call], now_s)),
                                      3)
    keys = [key_of(number) for number in range(CALLS)]
    table = RouteTable([CardRange("622188", "622188", "main"),
                        CardRange("622189", "622189", "p2")],
                       default_host="main", known_hosts={"main", "p2"})
    pan = "6221890000000001"
    figures["route_us_by_pan"] = round(per_call_us(lambda _: table.host_for(pan)), 3)
    figures["key_digest_us"] = round(per_call_us(lambda call: key_digest(retransmission_key(
        "T0000001", "0200", f"{call:06d}", "1207120000"))), 3)
    fresh = [rng.getrandbits(64) - (1 << 63) for _ in range(CALLS)]

    def miss_then_remember(call: int) -> None:
        digest = key_digest(retransmission_key("T0000001", "0200", f"{call:06d}", "1207120000"))
        if memory.lookup(fresh[call] ^ digest, now_s) is None:
            memory.remember(fresh[call] ^ digest, 0, now_s)

    figures["frame_us_added_two_hosts"] = round(per_call_us(miss_then_remember), 3)
    figures["forwarder_frame_us_one_host"] = round(forwarder_frame_us(["main"], None), 3)
    figures["forwarder_frame_us_two_hosts_full_memory"] = round(
        forwarder_frame_us(["main", "p2"], memory), 3)
    started = time.perf_counter()
    chunk = b"".join(key_digest_bytes(key) for key in keys)
    figures["host_digests_per_s"] = round(len(keys) / (time.perf_counter() - started))
    restored = KeyMemory(2, window_s, 50_000_000, now_s)
    whole = b"".join(digest.to_bytes(8, "big", signed=True) for digest in digests)
    started = time.perf_counter()
    for at in range(0, len(whole), 8 * 4_096):
        second = at // 8 // rate
        restored.restore(whole[at:at + 8 * 4_096], 1, start_s + second, now_s)
    staged_s = time.perf_counter() - started
    started = time.perf_counter()
    restored.seal(now_s, held_from_s=now_s - window_s)
    figures["restore_stage_s"] = round(staged_s, 2)
    figures["restore_seal_s"] = round(time.perf_counter() - started, 2)
    assert len(chunk) == 8 * len(keys) and len(restored) > 0
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.key_memory_bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=5_000, help="card frames a second")
    parser.add_argument("--window-s", type=int, default=900, help="key_window_s")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    arguments = parser.parse_args(argv)
    # As a service runs: info and up (a debug line per frame would be most of the cost).
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    figures = measure(arguments.rate, arguments.window_s)
    if arguments.json:
        print(json.dumps(figures))
    else:
        for name, value in figures.items():
            print(f"{name:32} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
