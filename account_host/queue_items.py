"""What travels through the writer's queue: (peer, request) pairs from the links, (outcomes,
command) pairs and control items from the change listener, so that only the writer mutates
the state."""

from __future__ import annotations

from typing import Protocol

import msgspec

from account_host.commands.item import Command
from account_host.state import Alliance, Gift, HostState, LoadedCard, Merchant, Terminal
from proto.frames import Answer, Request


class NewCards(msgspec.Struct, frozen=True):
    cards: list[LoadedCard]

    def apply(self, state: HostState) -> None:
        state.merge_cards(self.cards)


class NewMerchants(msgspec.Struct, frozen=True):
    merchants: list[Merchant]

    def apply(self, state: HostState) -> None:
        state.replace_merchants(self.merchants)


class NewTerminals(msgspec.Struct, frozen=True):
    terminals: dict[str, Terminal]

    def apply(self, state: HostState) -> None:
        state.replace_terminals(self.terminals)


class NewAlliances(msgspec.Struct, frozen=True):
    alliances: list[Alliance]

    def apply(self, state: HostState) -> None:
        state.replace_alliances(self.alliances)


class NewGifts(msgspec.Struct, frozen=True):
    gifts: dict[tuple[int, str], Gift]

    def apply(self, state: HostState) -> None:
        state.merge_gifts(self.gifts)


Control = NewCards | NewMerchants | NewTerminals | NewAlliances | NewGifts
class Peer(Protocol):
    """Where a batch's answers go: a link's peer (proto.links.LinkPeer) for requests, the
    commands' outcomes (account_host/commands/outcomes.py) for commands."""

    async def send_answers(self, answers: list[Answer]) -> None: ...


Applicable = Request | Command
QueueItem = tuple[Peer, Applicable] | Control
