"""What the writer decides a draw from, without a database round trip: the open campaign of
each alliance, the stock of its limited prizes, the number of each card's draws in it that
stand, and the draws of the retransmission window (a reversal undoes one: stake, prize, stock
and count)."""

from __future__ import annotations

from collections import OrderedDict

import msgspec

from proto.lottery import NO_PRIZE, PrizeTable, draw_value, prize_index


class Campaign(msgspec.Struct):
    id: int
    alliance_id: int
    price: int
    table: PrizeTable
    secret: bytes
    # Stock of each prize, by its index in the table (None: unlimited): the writer's.
    stock: list[int | None]

    def __repr__(self) -> str:   # never the secret
        return f"Campaign({self.id}, alliance={self.alliance_id})"


class Draw(msgspec.Struct, frozen=True):
    campaign_id: int
    card_id: int
    prize: int | None          # index in the table; None: no prize
    posted_s: int


class Outcome(msgspec.Struct, frozen=True):
    draw_number: int
    value: int
    prize: int | None          # won (in stock); None: nothing, or out of stock
    code: str                  # tag LD
    points: int                # a points prize's points


class LotteryBook:
    __slots__ = ("campaigns", "_draws", "_recent", "_window_s")

    def __init__(self, window_s: int) -> None:
        self.campaigns: dict[int, Campaign] = {}            # alliance id -> open campaign
        self._draws: dict[tuple[int, int], int] = {}         # (campaign, card) -> standing
        self._recent: OrderedDict[int, Draw] = OrderedDict()  # transaction id -> draw
        self._window_s = window_s

    def replace_campaigns(self, campaigns: list[Campaign]) -> None:
        """Campaigns as read: a campaign already open keeps the stock in memory (ahead of the
        database by a batch in flight); a new one takes what was read."""
        known = {campaign.id: campaign for campaign in self.campaigns.values()}
        self.campaigns = {}
        for campaign in campaigns:
            kept = known.get(campaign.id)
            self.campaigns[campaign.alliance_id] = campaign if kept is None else kept

    def load_draws(self, standing: list[tuple[int, int, int]],
                   recent: list[tuple[int, Draw]]) -> None:
        for campaign_id, card_id, count in standing:
            self._draws[campaign_id, card_id] = count
        for transaction_id, draw in recent:
            self._recent[transaction_id] = draw

    def draw(self, campaign: Campaign, card_id: int) -> Outcome:
        """The card's next draw in the campaign (not yet taken)."""
        number = self._draws.get((campaign.id, card_id), 0)
        value = draw_value(campaign.secret, card_id, number)
        index = prize_index(campaign.table, value)
        if index is not None and campaign.stock[index] == 0:
            index = None   # out of stock counts as none
        if index is None:
            return Outcome(number, value, None, NO_PRIZE, 0)
        prize = campaign.table.prizes[index]
        return Outcome(number, value, index, prize.code, prize.points)

    def take(self, campaign: Campaign, card_id: int, outcome: Outcome, transaction_id: int,
             now_s: int) -> int | None:
        """The draw applied: the card's count, the prize's stock (returned when limited)."""
        self._draws[campaign.id, card_id] = outcome.draw_number + 1
        self._recent[transaction_id] = Draw(campaign.id, card_id, outcome.prize, now_s)
        if outcome.prize is None:
            return None
        stock = campaign.stock[outcome.prize]
        if stock is None:
            return None
        assert stock > 0, "a prize out of stock is not won"
        campaign.stock[outcome.prize] = stock - 1
        return stock - 1

    def undo(self, transaction_id: int) -> tuple[Campaign, int, int] | None:
        """A reversed draw: its count and stock back. (campaign, prize index, new stock) when
        a limited prize's stock changed; None otherwise."""
        draw = self._recent.pop(transaction_id, None)
        if draw is None:
            return None
        key = (draw.campaign_id, draw.card_id)
        self._draws[key] = max(0, self._draws.get(key, 0) - 1)
        campaign = next((c for c in self.campaigns.values() if c.id == draw.campaign_id), None)
        if campaign is None or draw.prize is None or campaign.stock[draw.prize] is None:
            return None
        stock = campaign.stock[draw.prize]
        assert stock is not None
        campaign.stock[draw.prize] = stock + 1
        return campaign, draw.prize, stock + 1

    def evict(self, now_s: int) -> None:
        """Draws older than the window can no longer be reversed."""
        recent = self._recent
        while recent:
            transaction_id, draw = next(iter(recent.items()))
            if now_s - draw.posted_s <= self._window_s:
                return
            del recent[transaction_id]
