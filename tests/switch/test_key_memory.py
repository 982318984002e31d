"""The switch's key memory (switch/key_memory.py) against a dict model with expiry: a key is
found with its host for window_s after it was remembered, gone one bucket after that, never
more than keys_max held, also while closed minutes are sorted in slices by `step`, which moves
a bounded number of keys a call and which the forwarder's sweep calls; digests restored from
hosts after a restart are found once sealed."""

from __future__ import annotations

import random
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from proto.retransmission import key_digest, key_digest_bytes, retransmission_key
from switch.config import SwitchConfig
from switch.forwarder import Forwarder
from switch.key_memory import BUCKET_S, RUN_ITEMS, KeyMemory
from switch.routes import RouteBook

START_S = 1_796_000_000
KEYS = [retransmission_key("T0000001", "0200", f"{stan:06d}", "1207120000") for stan in range(40)]

steps = st.lists(st.tuples(
    st.integers(min_value=0, max_value=len(KEYS) - 1),   # which key
    st.integers(min_value=0, max_value=3),               # the host its PAN routes to
    st.integers(min_value=0, max_value=150),             # seconds since the step before
), min_size=1, max_size=200)
# Keys a sweep's step moves after each frame (0: no sweep, the minutes stay dicts), in runs of 3
# and ranges of about 2, so that a minute is seen half sorted.
sweeps = st.integers(min_value=0, max_value=8)


def small_memory(hosts: int, window_s: int, keys_max: int) -> KeyMemory:
    return KeyMemory(hosts, window_s, keys_max, START_S, run_items=3, range_items=2)


class TestAgainstModel:
    @given(steps, st.integers(min_value=60, max_value=900), st.integers(min_value=2, max_value=4),
           sweeps)
    @settings(max_examples=300)
    def test_found_within_the_window_and_gone_a_bucket_after(
            self, script: list[tuple[int, int, int]], window_s: int, hosts: int,
            sweep_items: int) -> None:
        memory = small_memory(hosts, window_s, 10 ** 6)
        memory.seal(START_S, held_from_s=START_S - window_s)
        model: dict[str, tuple[int, int]] = {}   # key -> (host, remembered at)
        now_s = START_S
        for which, index, elapsed_s in script:
            now_s += elapsed_s
            key = KEYS[which]
            index %= hosts
            held = model.get(key)
            found = memory.lookup(key_digest(key), now_s)
            if held is not None and now_s - held[1] < window_s:
                assert found == held[0]
            elif held is not None and now_s - held[1] >= window_s + BUCKET_S:
                assert found is None
            if found is None:
                memory.remember(key_digest(key), index, now_s)
                model[key] = (index, now_s)
            else:
                assert held is not None and found == held[0]
            assert memory.held_window_s(now_s) == window_s
            if sweep_items:
                memory.step(now_s, sweep_items)

    @given(steps, st.integers(min_value=1, max_value=30), sweeps)
    @settings(max_examples=300)
    def test_keys_max_bounds_it_and_the_held_window_says_what_is_left(
            self, script: list[tuple[int, int, int]], keys_max: int, sweep_items: int) -> None:
        window_s = 600
        memory = small_memory(2, window_s, keys_max)
        memory.seal(START_S, held_from_s=START_S - window_s)
        model: dict[str, tuple[int, int]] = {}
        now_s = START_S
        for which, index, elapsed_s in script:
            now_s += elapsed_s
            key = KEYS[which]
            held = model.get(key)
            found = memory.lookup(key_digest(key), now_s)
            if held is not None and now_s - held[1] < window_s \
                    and held[1] >= memory.held_from_s:
                assert found == held[0]
            if found is None:
                memory.remember(key_digest(key), index % 2, now_s)
                model[key] = (index % 2, now_s)
            assert len(memory) <= keys_max
            assert 0 <= memory.held_window_s(now_s) <= window_s
            if sweep_items:
                memory.step(now_s, sweep_items)
                assert len(memory) <= keys_max


class TestSlices:
    def test_no_call_moves_more_than_a_bounded_number_of_keys(self) -> None:
        """A minute's 100,000 keys: the lookup that ends the minute moves none (the dict is set
        aside), each step at most its share and one run more, every key found all along."""
        now_s = START_S - START_S % BUCKET_S
        memory = KeyMemory(2, 900, 10 ** 7, now_s)
        rng = random.Random(5)
        digests = [rng.getrandbits(64) - (1 << 63) for _ in range(100_000)]
        for digest in digests:
            memory.remember(digest, digest & 1, now_s + 30)
        assert memory.moved == 0
        now_s += BUCKET_S
        assert memory.lookup(digests[0], now_s) == digests[0] & 1   # the minute ends
        assert memory.moved == 0
        sample = rng.sample(digests, 200)
        misses = [rng.getrandbits(64) - (1 << 63) for _ in range(200)]
        moved: list[int] = []
        while moved_now := memory.step(now_s, 10_000):
            moved.append(moved_now)
            assert all(memory.lookup(digest, now_s) == digest & 1 for digest in sample)
            assert not any(memory.lookup(digest, now_s) is not None for digest in misses)
        assert max(moved) <= 10_000 + RUN_ITEMS
        assert sum(moved) == memory.moved == 2 * len(digests)   # into a run, into the array
        assert len(moved) >= 2 * len(digests) // (10_000 + RUN_ITEMS)
        assert all(memory.lookup(digest, now_s) == digest & 1 for digest in digests)
        assert len(memory) == len(digests) and memory.held_window_s(now_s) == BUCKET_S


class TestRestore:
    def test_digests_from_hosts_are_found_once_sealed_and_not_past_the_window(self) -> None:
        now_s = START_S
        memory = KeyMemory(2, 900, 10 ** 6, now_s)
        assert memory.held_window_s(now_s) == 0
        recent, old = KEYS[:10], KEYS[10:20]
        digests = b"".join(key_digest_bytes(key) for key in recent)
        assert memory.restore(digests, 1, now_s - 30, now_s) == len(recent)
        assert memory.restore(b"".join(key_digest_bytes(key) for key in old), 0,
                              now_s - 900, now_s) == 0
        assert memory.lookup(key_digest(recent[0]), now_s) is None   # staged, not sealed
        memory.seal(now_s, held_from_s=now_s - 900)
        assert memory.held_window_s(now_s) == 900
        assert all(memory.lookup(key_digest(key), now_s) == 1 for key in recent)
        assert all(memory.lookup(key_digest(key), now_s) is None for key in old)
        # Held for the window after the chunk's newest key, then gone.
        assert memory.lookup(key_digest(recent[3]), now_s + 869) == 1
        assert memory.lookup(key_digest(recent[3]), now_s + 870) is None

    def test_two_hosts_digests_of_one_minute_merge_with_live_keys(self) -> None:
        now_s = START_S - START_S % BUCKET_S + 10
        memory = KeyMemory(2, 900, 10 ** 6, now_s)
        memory.remember(key_digest(KEYS[0]), 0, now_s)
        memory.lookup(0, now_s + BUCKET_S)   # the minute closes
        memory.restore(key_digest_bytes(KEYS[1]), 0, now_s + 5, now_s + BUCKET_S)
        memory.seal(now_s + BUCKET_S)
        memory.restore(key_digest_bytes(KEYS[2]), 1, now_s + 6, now_s + BUCKET_S)
        memory.seal(now_s + BUCKET_S)
        found = [memory.lookup(key_digest(key), now_s + BUCKET_S) for key in KEYS[:3]]
        assert found == [0, 0, 1]
        assert len(memory) == 3


class _Link:
    is_up = True

    def send(self, requests: list[object]) -> bool:
        return True


class TestSweep:
    def test_the_forwarders_sweep_sorts_the_minute_that_ended(self) -> None:
        hosts = ["main", "p2"]
        config = SwitchConfig(hosts={host: f"127.0.0.1:{8585 + at}"
                                     for at, host in enumerate(hosts)}, default_host="main")
        routes = RouteBook(default_host="main", known_hosts=hosts)
        forwarder = Forwarder(config, routes, {host: _Link() for host in hosts})
        start_s = int(time.time()) - 2 * BUCKET_S
        memory = KeyMemory(2, 900, 10 ** 6, start_s)
        forwarder.keys = memory
        digests = [key_digest(key) for key in KEYS]
        for at, digest in enumerate(digests):
            memory.remember(digest, at % 2, start_s)
        assert memory.moved == 0
        forwarder.sweep(0.0)   # nothing pending: its clock matters not
        assert memory.moved == 2 * len(digests)   # set aside, sorted: done in one step
        now_s = int(time.time())
        assert [memory.lookup(digest, now_s) for digest in digests] == [
            at % 2 for at in range(len(digests))]
        assert memory.step(now_s) == 0
