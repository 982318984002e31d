"""A switch's `KeysWanted`, answered from the retransmission memory (account_host/key_digests.py,
RetransmissionMemory.keys_since): the keys from the second asked on, newest first, in messages
of KEY_DIGESTS_PER_MESSAGE_MAX digests, the last one `done`."""

from __future__ import annotations

import pytest

from account_host.idempotency import KEYS_SINCE_SLACK_S, RetransmissionMemory
from account_host.key_digests import send_key_digests
from proto.frames import KEY_DIGESTS_PER_MESSAGE_MAX, KeyDigests, KeysWanted
from proto.retransmission import key_digest_bytes

pytestmark = pytest.mark.anyio

NOW_S = 1_796_000_000


def key(number: int) -> str:
    return f"T0000001|0200|{number:06d}|1207120000"


def remembered(times: list[int]) -> RetransmissionMemory:
    memory = RetransmissionMemory(7 * 86_400)
    for number, received_at_s in enumerate(times):
        memory.remember(key(number), b"d" * 16, b"a", received_at_s)
    return memory


class FakePeer:
    """A LinkPeer's one method the handler uses."""

    name = "switch"

    def __init__(self) -> None:
        self.sent: list[KeyDigests] = []

    async def send_message(self, message: KeyDigests) -> bool:
        self.sent.append(message)
        return True


class TestKeysSince:
    def test_the_keys_from_since_on_newest_first(self) -> None:
        times = [NOW_S - 5_000, NOW_S - 1_000, NOW_S - 900, NOW_S - 899, NOW_S - 10]
        memory = remembered(times)
        assert list(memory.keys_since(NOW_S - 900)) == [
            (key(4), NOW_S - 10), (key(3), NOW_S - 899), (key(2), NOW_S - 900)]

    def test_the_walk_stops_past_the_slack(self) -> None:
        """Keys far older than asked are not read at all (an hour bucket may hold millions)."""
        times = [NOW_S - 900 - KEYS_SINCE_SLACK_S - 1, NOW_S - 100]
        memory = remembered(times)
        walked = memory.keys_since(NOW_S - 900)
        assert next(walked) == (key(1), NOW_S - 100)
        assert list(walked) == []


class TestSendKeyDigests:
    async def test_in_messages_of_the_most_digests_the_last_done(self) -> None:
        count = KEY_DIGESTS_PER_MESSAGE_MAX * 2 + 5
        memory = remembered([NOW_S - 600 + number // 100 for number in range(count)])
        peer = FakePeer()
        await send_key_digests(lambda: memory, peer,   # type: ignore[arg-type]
                               KeysWanted(NOW_S - 900))
        assert [len(message.digests) // 8 for message in peer.sent] == [
            KEY_DIGESTS_PER_MESSAGE_MAX, KEY_DIGESTS_PER_MESSAGE_MAX, 5]
        assert [message.done for message in peer.sent] == [False, False, True]
        digests = b"".join(message.digests for message in peer.sent)
        assert digests == b"".join(key_digest_bytes(key(number))
                                   for number in reversed(range(count)))
        # No digest in a message was received after the message's received_at_s.
        assert peer.sent[0].received_at_s == NOW_S - 600 + (count - 1) // 100

    async def test_before_the_state_is_loaded_only_done(self) -> None:
        peer = FakePeer()
        await send_key_digests(lambda: None, peer, KeysWanted(NOW_S))  # type: ignore[arg-type]
        assert peer.sent == [KeyDigests(b"", NOW_S, done=True)]
