"""The ledger in plain Python, for the stateful end-to-end test (test_ledger_model.py).

Given the requests the terminals send, in order, it predicts each answer's code, field 54 and
tag PT, every account's balance and each terminal batch's totals. It follows the host interface
(docs/host-interface.md §4) and the chart of accounts (docs/ledger.md), and shares no code with
account_host/: where the two disagree, one of them is wrong.

What it models, in the host's order of checks: retransmission (the first answer again, or 94),
batch open (12), card (14: unknown, or of another alliance than the terminal's merchant), then
per message: amount (13), original (25), amount limit (61: a member balance above
999,999,999,999, except by a 0220), balance (51), and last the late original of a remembered
reversal (05). A lottery draw (910000) is decided as the host interface says, by the
campaign's secret, the card and its standing draws (the contract's own function,
proto/lottery.py). A reversal answers 25 for an original never seen (and remembers it), 00 for one
declined or reversed already, else 61, 51 (stored value spent since) or 05 (a purchase with
returns standing) before it undoes the original's postings.

Tiers (docs/rules.md, "Tiers"; tag TR): where the alliance has tiers, every approved 0110,
0210 and 0230 shows the card's tier (the model's cards have no member: each is its own
holder). Every request of a sequence falls in one month, so the rolling total is one count:
purchases add their fen (a month counts at most 2**32 - 1), returns and reversals of purchases
take theirs off (never below zero), a reversed return adds its fen back; only a purchase
upgrades, to the highest tier the total reaches, and nothing downgrades.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from fractions import Fraction

from proto.codes import Mti, ProcessingCode, ResponseCode
from proto.fields import parse_tlv, totals_from_fields
from proto.frames import Totals
from proto.lottery import NO_PRIZE, PrizeTable, draw_value, prize_index

Fields = dict[str, str]
AccountKey = tuple[str, str]   # (account kind, owner: PAN, merchant code or alliance code)
RequestKey = tuple[str, str, str, str]   # fields 41, MTI, 11, 7

# The content a retransmission must repeat (host interface §4), else 94.
COMPARED_FIELDS = ("2", "3", "4", "37", "42", "48", "49", "60", "90")
FEN_PER_YUAN = 100
# The most a member's points or stored value may reach by a purchase, load or exchange (61):
# field 54 shows 12 digits (docs/ledger.md, "Member limits").
MEMBER_BALANCE_MAX = 999_999_999_999
MONTH_COUNT_MAX = 2**32 - 1   # a tier standing's month counts at most this (proto/tiers.py)
LAST_BATCH_NUMBER = 999_999
FINANCIAL_CODES = frozenset({
    ProcessingCode.PURCHASE, ProcessingCode.PURCHASE_STORED_VALUE, ProcessingCode.REDEMPTION,
    ProcessingCode.RETURN, ProcessingCode.STORED_VALUE_LOAD,
    ProcessingCode.POINTS_TO_STORED_VALUE,
    ProcessingCode.LOTTERY,
})
# transactions.kind of the requests that may be returned (by RRN).
RETURNABLE = frozenset({"purchase", "stored_value_purchase", "offline_purchase"})
# Reconciliation classes: transaction kind -> index of its count in Totals (amount follows).
TOTALS_CLASS = {
    "purchase": 0, "stored_value_purchase": 0, "offline_purchase": 0, "return": 2,
    "redemption": 4, "points_exchange": 4, "lottery": 4, "stored_value_load": 6,
}


@dataclass
class Lottery:
    """The alliance's open campaign, as the host draws it (proto/lottery.py)."""

    price: int
    table: PrizeTable
    secret: bytes
    stock: list[int | None]
    card_ids: dict[str, int]                                  # PAN -> card id
    draws: dict[str, int] = field(default_factory=dict)       # PAN -> standing draws


@dataclass
class Gift:
    points: int
    stock: int | None    # None: not counted
    active: bool         # False: withdrawn (05)


@dataclass(frozen=True)
class Alliance:
    code: str
    exchange_points_per_yuan: int
    gifts: dict[str, Gift]   # gift code -> the gift (the host's; its stock changes)
    order_points_share_bp: int = 5000   # the most of an order (tag OA) points may pay
    lottery: Lottery | None = None
    tiers: tuple[tuple[str, int], ...] = ()   # (code, threshold in fen), the base first


@dataclass(frozen=True)
class Merchant:
    code: str
    alliance: Alliance
    earn_points_per_yuan: int


@dataclass(frozen=True)
class Card:
    alliance: Alliance
    decline: str | None = None   # what the card check answers (41, 43, 54, 05), else None


@dataclass
class Purchase:
    """A purchase that returns may name: what it earned and what its returns took back."""

    card: str
    merchant: Merchant
    amount: int
    points: int
    from_stored_value: bool
    returned: int = 0
    clawed: int = 0
    reversed: bool = False


@dataclass
class Movement:
    """What an approved request posted, so that a reversal can undo it."""

    kind: str                       # transactions.kind
    amount: int                     # as the batch totals count it
    batch_number: int
    card: str | None = None         # None: an advice for a card the host cannot use
    points: int = 0                 # the member's side
    postings: list[tuple[AccountKey, int]] = field(default_factory=list)
    stored_value_account: AccountKey | None = None
    stored_value_fen: int = 0       # the member's side
    purchase: Purchase | None = None   # a purchase: itself; a return: what it returned
    claw: int = 0                   # a return: the points it clawed back
    prize: int | None = None        # a lottery draw: the prize won (its index), if any
    gift: Gift | None = None        # a redemption of a gift: the gift, back in stock if undone
    reversed: bool = False


@dataclass
class Seen:
    content: tuple[str | None, ...]
    movement: Movement | None       # None: declined, or moved nothing reversible


@dataclass
class Batch:
    number: int = 1
    counts: list[int] = field(default_factory=lambda: [0] * 8)

    def count(self, kind: str, amount: int, times: int = 1) -> None:
        index = TOTALS_CLASS.get(kind)
        if index is not None:
            self.counts[index] += times
            self.counts[index + 1] += times * amount

    def totals(self) -> Totals:
        return Totals(*self.counts)


@dataclass(frozen=True)
class Expected:
    """The answer the model predicts. `retransmission`: the first answer to this key, whole."""

    code: str = ResponseCode.APPROVED
    retransmission: bool = False
    balances: dict[str, int] | None = None     # field 54 blocks -> amount
    points_moved: int | None = None            # tag PT
    prize: str | None = None                   # tag LD of a lottery draw
    totals: Totals | None = None               # a 0510 with 95
    tier: str | None = None                    # tag TR of an approval (None: no TR)
    purchase: Purchase | None = None           # an approved purchase: learn its RRN


def request_key(request: Fields) -> RequestKey:
    return request["41"], request["t"], request["11"], request["7"]


class LedgerModel:
    def __init__(self, terminals: dict[str, Merchant], cards: dict[str, Card]) -> None:
        self.terminals = terminals
        self.cards = cards
        self.balances: defaultdict[AccountKey, int] = defaultdict(int)
        self.batches = {terminal: Batch() for terminal in terminals}
        self.seen: dict[RequestKey, Seen] = {}
        self.tombstones: set[RequestKey] = set()
        self.purchases: dict[str, Purchase] = {}   # by RRN
        # Tiers, by PAN: the rolling total of fen, and the rank held.
        self.tier_totals: defaultdict[str, int] = defaultdict(int)
        self.tier_ranks: defaultdict[str, int] = defaultdict(int)

    # ---- what the test reads ---------------------------------------------------------------

    def member_balances(self, pan: str) -> tuple[int, int]:
        return (self.balances[("member_points", pan)],
                self.balances[("member_stored_value", pan)])

    def learn_rrn(self, purchase: Purchase, rrn: str) -> None:
        assert rrn not in self.purchases, f"RRN {rrn} given twice"
        self.purchases[rrn] = purchase

    # ---- one request -----------------------------------------------------------------------

    def expect(self, request: Fields) -> Expected:
        """The answer to `request`, sent now; the model's state moves as the host's should."""
        key = request_key(request)
        content = tuple(request.get(name) for name in COMPARED_FIELDS)
        seen = self.seen.get(key)
        if seen is not None:
            if seen.content == content:
                return Expected(retransmission=True)
            return Expected(ResponseCode.DUPLICATE_MISMATCH)
        expected, movement = self._decide(request, key)
        self.seen[key] = Seen(content, movement if expected.code == ResponseCode.APPROVED
                              else None)
        return expected

    def _decide(self, request: Fields, key: RequestKey) -> tuple[Expected, Movement | None]:
        terminal = request["41"]
        batch = self.batches[terminal]
        if "60" in request and int(request["60"]) != batch.number:
            return Expected(ResponseCode.INVALID_TRANSACTION), None
        mti = request["t"]
        if mti in (Mti.REVERSAL, Mti.REVERSAL_ADVICE) and request["3"] not in FINANCIAL_CODES:
            raise AssertionError("the front answers this 12 (never sent by the test)")
        if mti == Mti.RECONCILIATION:
            return self._reconcile(request, batch), None
        if mti in (Mti.REVERSAL, Mti.REVERSAL_ADVICE):
            return self._reverse(request, batch), None
        merchant = self.terminals[terminal]
        pan = request["2"]
        card = self.cards.get(pan)
        known = card is not None and card.alliance == merchant.alliance
        if mti == Mti.FINANCIAL_ADVICE:
            return self._offline_purchase(request, key, batch, merchant, pan if known else None)
        if not known:
            return Expected(ResponseCode.CARD_UNKNOWN), None
        if card.decline is not None:
            return Expected(card.decline), None
        if mti == Mti.AUTHORISATION:
            points, stored_value = self.member_balances(pan)
            return Expected(balances={"0001999": points, "6001156": stored_value},
                            tier=self._tier(pan)), None
        handler = {
            ProcessingCode.PURCHASE: self._purchase,
            ProcessingCode.PURCHASE_STORED_VALUE: self._stored_value_purchase,
            ProcessingCode.REDEMPTION: self._redemption,
            ProcessingCode.RETURN: self._return,
            ProcessingCode.STORED_VALUE_LOAD: self._stored_value_load,
            ProcessingCode.POINTS_TO_STORED_VALUE: self._points_exchange,
            ProcessingCode.LOTTERY: self._lottery,
        }[request["3"]]
        return handler(request, key, batch, merchant, pan)

    # ---- the messages, each checking in the spec's order -----------------------------------

    def _purchase(self, request, key, batch, merchant, pan):
        amount = int(request["4"])
        if amount <= 0:
            return Expected(ResponseCode.INVALID_AMOUNT), None
        if self._over_limit(("member_points", pan), _earned(amount, merchant)):
            return Expected(ResponseCode.AMOUNT_LIMIT), None
        if key in self.tombstones:
            return Expected(ResponseCode.DO_NOT_HONOUR), None
        return self._post_purchase("purchase", amount, batch, merchant, pan)

    def _stored_value_purchase(self, request, key, batch, merchant, pan):
        amount = int(request["4"])
        if amount <= 0:
            return Expected(ResponseCode.INVALID_AMOUNT), None
        if self._over_limit(("member_points", pan), _earned(amount, merchant)):
            return Expected(ResponseCode.AMOUNT_LIMIT), None
        if self.member_balances(pan)[1] < amount:
            return Expected(ResponseCode.INSUFFICIENT_FUNDS), None
        if key in self.tombstones:
            return Expected(ResponseCode.DO_NOT_HONOUR), None
        return self._post_purchase("stored_value_purchase", amount, batch, merchant, pan)

    def _offline_purchase(self, request, key, batch, merchant, pan):
        """0220: acknowledged whatever the card; a card this host cannot use posts nothing."""
        amount = int(request["4"])
        if amount <= 0:
            return Expected(ResponseCode.INVALID_AMOUNT), None
        if key in self.tombstones:
            return Expected(ResponseCode.DO_NOT_HONOUR), None
        if pan is None:
            movement = Movement("offline_purchase", amount, batch.number)   # no card
            batch.count(movement.kind, amount)
            tiers = merchant.alliance.tiers   # no card: the base tier
            return Expected(balances=_blocks(0, 0, 0), points_moved=0,
                            tier=tiers[0][0] if tiers else None), movement
        return self._post_purchase("offline_purchase", amount, batch, merchant, pan)

    def _post_purchase(self, kind, amount, batch, merchant, pan):
        points = _earned(amount, merchant)
        from_stored_value = kind == "stored_value_purchase"
        purchase = Purchase(pan, merchant, amount, points, from_stored_value)
        movement = Movement(kind, amount, batch.number, pan, purchase=purchase)
        if points:
            self._post(movement, ("member_points", pan), points,
                       ("merchant_points_issued", merchant.code))
        if from_stored_value:
            self._post_stored_value(movement, pan, -amount,
                                    ("merchant_stored_value_spent", merchant.code))
        batch.count(kind, amount)
        self._count_tier(pan, amount)
        return self._approved(pan, points, purchase), movement

    def _redemption(self, request, key, batch, merchant, pan):
        tags = parse_tlv(request.get("48", ""))
        gift = None
        if "GC" in tags:
            gift = merchant.alliance.gifts.get(tags["GC"])
            if gift is None:
                return Expected(ResponseCode.INVALID_TRANSACTION), None
        points = int(request["4"])
        if points <= 0 or (gift is not None and points != gift.points):
            return Expected(ResponseCode.INVALID_AMOUNT), None
        if "OA" in tags:   # points worth more than the share of the order, in exact fractions
            alliance = merchant.alliance
            worth_fen = Fraction(points * 100, alliance.exchange_points_per_yuan)
            if worth_fen > Fraction(alliance.order_points_share_bp, 10_000) * int(tags["OA"]):
                return Expected(ResponseCode.AMOUNT_LIMIT), None
        if self.member_balances(pan)[0] < points:
            return Expected(ResponseCode.INSUFFICIENT_FUNDS), None
        if gift is not None and (not gift.active or gift.stock == 0):
            return Expected(ResponseCode.DO_NOT_HONOUR), None   # withdrawn, or out of stock
        if key in self.tombstones:
            return Expected(ResponseCode.DO_NOT_HONOUR), None
        movement = Movement("redemption", points, batch.number, pan, gift=gift)
        if gift is not None and gift.stock is not None:
            gift.stock -= 1
        self._post(movement, ("member_points", pan), -points,
                   ("merchant_points_redeemed", merchant.code))
        batch.count(movement.kind, points)
        return self._approved(pan, -points), movement

    def _return(self, request, key, batch, merchant, pan):
        amount = int(request["4"])
        if amount <= 0:
            return Expected(ResponseCode.INVALID_AMOUNT), None
        purchase = self.purchases.get(request.get("37", ""))
        if purchase is None or purchase.reversed or purchase.card != pan:
            return Expected(ResponseCode.ORIGINAL_NOT_FOUND), None
        returned = purchase.returned + amount
        if returned > purchase.amount:
            return Expected(ResponseCode.INVALID_AMOUNT), None
        if purchase.from_stored_value and \
                self._over_limit(("member_stored_value", pan), amount):
            return Expected(ResponseCode.AMOUNT_LIMIT), None
        if key in self.tombstones:
            return Expected(ResponseCode.DO_NOT_HONOUR), None
        # The running total: floor(P x R / A) clawed back in all (never a negative claw).
        claw = max(0, purchase.points * returned // purchase.amount - purchase.clawed)
        movement = Movement("return", amount, batch.number, pan, purchase=purchase, claw=claw)
        if claw:
            self._post(movement, ("member_points", pan), -claw,
                       ("merchant_points_issued", purchase.merchant.code))
        if purchase.from_stored_value:
            self._post_stored_value(movement, pan, amount,
                                    ("merchant_stored_value_spent", purchase.merchant.code))
        purchase.returned = returned
        purchase.clawed += claw
        self._count_tier(pan, -amount)
        batch.count(movement.kind, amount)
        return self._approved(pan, -claw), movement

    def _stored_value_load(self, request, key, batch, merchant, pan):
        amount = int(request["4"])
        if amount <= 0:
            return Expected(ResponseCode.INVALID_AMOUNT), None
        if self._over_limit(("member_stored_value", pan), amount):
            return Expected(ResponseCode.AMOUNT_LIMIT), None
        if key in self.tombstones:
            return Expected(ResponseCode.DO_NOT_HONOUR), None
        movement = Movement("stored_value_load", amount, batch.number, pan)
        self._post_stored_value(movement, pan, amount,
                                ("merchant_stored_value_loaded", merchant.code))
        batch.count(movement.kind, amount)
        return self._approved(pan, 0), movement

    def _points_exchange(self, request, key, batch, merchant, pan):
        alliance = merchant.alliance
        points = int(request["4"])
        fen = points * FEN_PER_YUAN // alliance.exchange_points_per_yuan
        if points <= 0 or fen <= 0:
            return Expected(ResponseCode.INVALID_AMOUNT), None
        if self._over_limit(("member_stored_value", pan), fen):
            return Expected(ResponseCode.AMOUNT_LIMIT), None
        if self.member_balances(pan)[0] < points:
            return Expected(ResponseCode.INSUFFICIENT_FUNDS), None
        if key in self.tombstones:
            return Expected(ResponseCode.DO_NOT_HONOUR), None
        movement = Movement("points_exchange", points, batch.number, pan)
        self._post(movement, ("member_points", pan), -points,
                   ("alliance_points_exchanged", alliance.code))
        self._post_stored_value(movement, pan, fen,
                                ("alliance_stored_value_exchange", alliance.code))
        batch.count(movement.kind, points)
        return self._approved(pan, -points), movement

    def _lottery(self, request, key, batch, merchant, pan):
        lottery = merchant.alliance.lottery
        if lottery is None:
            return Expected(ResponseCode.INVALID_TRANSACTION), None
        stake = int(request["4"])
        if stake != lottery.price:
            return Expected(ResponseCode.INVALID_AMOUNT), None
        if self.member_balances(pan)[0] < stake:
            return Expected(ResponseCode.INSUFFICIENT_FUNDS), None
        if key in self.tombstones:
            return Expected(ResponseCode.DO_NOT_HONOUR), None
        number = lottery.draws.get(pan, 0)
        index = prize_index(lottery.table, draw_value(lottery.secret, lottery.card_ids[pan],
                                                      number))
        if index is not None and lottery.stock[index] == 0:
            index = None
        lottery.draws[pan] = number + 1
        won = 0
        code = NO_PRIZE
        if index is not None:
            prize = lottery.table.prizes[index]
            won, code = prize.points, prize.code
            stock = lottery.stock[index]
            if stock is not None:
                lottery.stock[index] = stock - 1
        movement = Movement("lottery", stake, batch.number, pan, prize=index)
        if won - stake:
            self._post(movement, ("member_points", pan), won - stake,
                       ("alliance_points_lottery", merchant.alliance.code))
        batch.count(movement.kind, stake)
        expected = self._approved(pan, won - stake)
        return replace(expected, prize=code), movement

    def _reverse(self, request: Fields, batch: Batch) -> Expected:
        """0400/0420: undo the original (found by 41 and 90) exactly once."""
        original_data = request["90"]
        original_key = (request["41"], original_data[:4], original_data[4:10],
                        original_data[10:20])
        seen = self.seen.get(original_key)
        if seen is None:
            self.tombstones.add(original_key)
            return Expected(ResponseCode.ORIGINAL_NOT_FOUND)
        movement = seen.movement
        if movement is None or movement.reversed:
            return Expected()
        card = movement.card
        if (movement.points < 0 and self._over_limit(("member_points", card), -movement.points)) \
                or (movement.stored_value_fen < 0 and
                    self._over_limit(("member_stored_value", card), -movement.stored_value_fen)):
            return Expected(ResponseCode.AMOUNT_LIMIT)   # flagged
        if movement.stored_value_fen > 0 and \
                self.balances[movement.stored_value_account] < movement.stored_value_fen:
            return Expected(ResponseCode.INSUFFICIENT_FUNDS)   # spent since: flagged
        purchase = movement.purchase
        if movement.kind in RETURNABLE and purchase is not None and purchase.returned > 0:
            return Expected(ResponseCode.DO_NOT_HONOUR)   # reverse its returns first
        for account, amount in movement.postings:
            self.balances[account] -= amount
        movement.reversed = True
        if movement.gift is not None and movement.gift.stock is not None:
            movement.gift.stock += 1
        if movement.batch_number == batch.number:
            batch.count(movement.kind, movement.amount, times=-1)
        if movement.kind in RETURNABLE and purchase is not None:
            purchase.reversed = True
            self._count_tier(purchase.card, -movement.amount)
        elif movement.kind == "return":
            assert purchase is not None
            purchase.returned -= movement.amount
            purchase.clawed -= movement.claw
            self._count_tier(purchase.card, movement.amount, upgrades=False)
        elif movement.kind == "lottery":   # the draw count and the prize's stock come back
            assert card is not None
            lottery = self.cards[card].alliance.lottery
            assert lottery is not None
            lottery.draws[card] -= 1
            if movement.prize is not None and lottery.stock[movement.prize] is not None:
                lottery.stock[movement.prize] += 1   # type: ignore[operator]
        return Expected()

    def _reconcile(self, request: Fields, batch: Batch) -> Expected:
        """0500: 00 when the terminal's totals are the host's, else 95 with the host's; the
        batch closes either way."""
        theirs = totals_from_fields(request)
        ours = batch.totals()
        batch.number = 1 if batch.number == LAST_BATCH_NUMBER else batch.number + 1
        batch.counts = [0] * 8
        if theirs == ours:
            return Expected()
        return Expected(ResponseCode.OUT_OF_BALANCE, totals=ours)

    def _over_limit(self, account: AccountKey, credit: int) -> bool:
        return self.balances[account] + credit > MEMBER_BALANCE_MAX

    # ---- postings --------------------------------------------------------------------------

    def _post(self, movement: Movement, member: AccountKey, amount: int,
              counter: AccountKey) -> None:
        if member[0] == "member_points":
            movement.points = amount
        for account, posted in ((member, amount), (counter, -amount)):
            self.balances[account] += posted
            movement.postings.append((account, posted))

    def _post_stored_value(self, movement: Movement, pan: str, fen: int,
                           counter: AccountKey) -> None:
        member = ("member_stored_value", pan)
        self._post(movement, member, fen, counter)
        movement.stored_value_account = member
        movement.stored_value_fen = fen

    def _approved(self, pan: str, points_moved: int,
                  purchase: Purchase | None = None) -> Expected:
        points, stored_value = self.member_balances(pan)
        return Expected(balances=_blocks(points, stored_value, points_moved),
                        points_moved=points_moved, purchase=purchase, tier=self._tier(pan))

    # ---- tiers -----------------------------------------------------------------------------

    def _tier(self, pan: str) -> str | None:
        tiers = self.cards[pan].alliance.tiers
        return tiers[self.tier_ranks[pan]][0] if tiers else None

    def _count_tier(self, pan: str, fen: int, upgrades: bool = True) -> None:
        """`fen` counted in the card's rolling total (negative: taken off); a purchase
        (`upgrades`) takes the card to the highest tier the total reaches, if higher."""
        tiers = self.cards[pan].alliance.tiers
        if not tiers:
            return
        total = min(MONTH_COUNT_MAX, max(0, self.tier_totals[pan] + fen))
        self.tier_totals[pan] = total
        if upgrades and fen > 0:
            reached = max(rank for rank, (_, threshold) in enumerate(tiers)
                          if total >= threshold)
            self.tier_ranks[pan] = max(self.tier_ranks[pan], reached)


def _earned(amount_fen: int, merchant: Merchant) -> int:
    return amount_fen * merchant.earn_points_per_yuan // FEN_PER_YUAN


def _blocks(points: int, stored_value: int, points_moved: int) -> dict[str, int]:
    return {"0001999": points, "6001156": stored_value, "0090999": points_moved}
