"""What travels through the writer's queue: (peer, request) pairs from the links, (outcomes,
command) pairs and control items from the change listener, so that only the writer mutates
the state."""

from __future__ import annotations

from datetime import date
from typing import Protocol

import msgspec

from account_host.commands.item import Command
from account_host.earning.referrals import ReferralRow
from account_host.lottery.book import Campaign
from account_host.risk.loading import RiskLoad, apply_risk
from account_host.state import Alliance, Gift, HostState, LoadedCard, Merchant, Terminal
from proto.earn_rules import EarnRules
from proto.frames import Answer, Request


class NewCards(msgspec.Struct, frozen=True):
    cards: list[LoadedCard]
    # The pending referrals of these cards' members: in the same item, so that no request can
    # come between a referred member's new card and its referral.
    referrals: list[ReferralRow] = []

    def apply(self, state: HostState) -> None:
        state.merge_cards(self.cards)
        state.referrals.merge(self.referrals)


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


class NewEarnRules(msgspec.Struct, frozen=True):
    versions: dict[int, list[tuple[date, EarnRules]]]
    # The cards' day and month from the journal, where the rules now in force count them.
    counters: list[tuple[int, int, int, int, int]]

    def apply(self, state: HostState) -> None:
        state.replace_earn_rules(self.versions)
        state.earn_counters.merge(self.counters)


class NewRisk(msgspec.Struct, frozen=True):
    load: RiskLoad

    def apply(self, state: HostState) -> None:
        apply_risk(state.risk, self.load, fresh=False)


class NewLottery(msgspec.Struct, frozen=True):
    campaigns: list[Campaign]

    def apply(self, state: HostState) -> None:
        state.lottery.replace_campaigns(self.campaigns)


class NewGifts(msgspec.Struct, frozen=True):
    gifts: dict[tuple[int, str], Gift]

    def apply(self, state: HostState) -> None:
        state.merge_gifts(self.gifts)


Control = (NewCards | NewMerchants | NewTerminals | NewAlliances | NewGifts | NewEarnRules
           | NewLottery | NewRisk)
class Peer(Protocol):
    """Where a batch's answers go: a link's peer (proto.links.LinkPeer) for requests, the
    commands' outcomes (account_host/commands/outcomes.py) for commands."""

    async def send_answers(self, answers: list[Answer]) -> None: ...


Applicable = Request | Command
QueueItem = tuple[Peer, Applicable] | Control
