"""Asking the hosts for their keys after a start (switch/key_restore.py): each host asked when
its link comes up until it has answered, `all_in` once every host is done, the held window the
whole key_window_s only then; a host that drops its link after every ask is given up."""

from __future__ import annotations

import pytest

from proto.frames import KeyDigests, KeysWanted
from proto.retransmission import key_digest, key_digest_bytes
from switch.key_memory import KeyMemory
from switch.key_restore import ASKS_MAX, KeyRestore

pytestmark = pytest.mark.anyio

NOW_S = 1_796_000_000
WINDOW_S = 900


def restore() -> tuple[KeyMemory, KeyRestore]:
    memory = KeyMemory(2, WINDOW_S, 10 ** 6, NOW_S)
    return memory, KeyRestore(memory, {"main": 0, "p2": 1}, clock=lambda: NOW_S)


async def test_every_host_answered_sets_all_in_and_the_whole_window() -> None:
    memory, keys = restore()
    assert keys.wanted("main") == KeysWanted(NOW_S - WINDOW_S)
    assert keys.wanted("p2") == KeysWanted(NOW_S - WINDOW_S)
    keys.on_digests("main", KeyDigests(key_digest_bytes("a"), NOW_S - 10))
    keys.on_digests("main", KeyDigests(b"", NOW_S - WINDOW_S, done=True))
    assert memory.lookup(key_digest("a"), NOW_S) == 0
    assert not keys.all_in.is_set() and memory.held_window_s(NOW_S) == 0
    assert keys.wanted("main") is None   # answered: not asked again
    keys.on_digests("p2", KeyDigests(key_digest_bytes("b"), NOW_S - 20, done=True))
    assert keys.all_in.is_set()
    assert memory.lookup(key_digest("b"), NOW_S) == 1
    assert memory.held_window_s(NOW_S) == WINDOW_S


async def test_a_host_that_never_answers_is_given_up_after_its_asks() -> None:
    memory, keys = restore()
    keys.on_digests("main", KeyDigests(b"", NOW_S, done=True))
    for _ in range(ASKS_MAX):
        assert keys.wanted("p2") is not None   # each link up, each dropped
    assert keys.wanted("p2") is None
    assert keys.all_in.is_set()
    # Its keys are held from the switch's start on only.
    assert memory.held_window_s(NOW_S) == 0
    assert memory.held_window_s(NOW_S + 60) == 60
