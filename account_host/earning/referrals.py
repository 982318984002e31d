"""Referred members who have not made their first purchase: by each of their cards, the
referrer's card, so that the first purchase of any of them posts the referral bonus once
(docs/rules.md, "Bonuses"). Only pending referrals are kept: a few entries."""

from __future__ import annotations

# (card id, referred member id, the referrer's card's PAN hash and id, or None: no card to
# credit)
ReferralRow = tuple[int, int, bytes | None, int | None]


class Referral:
    __slots__ = ("member_id", "paid", "referrer_card_id", "referrer_hmac")

    def __init__(self, member_id: int, referrer_hmac: bytes | None,
                 referrer_card_id: int | None = None) -> None:
        self.member_id = member_id
        self.referrer_hmac = referrer_hmac
        # The referrer's card when it is another partition's: the bonus is owed to it there.
        self.referrer_card_id = referrer_card_id
        self.paid = False


class Referrals:
    __slots__ = ("_by_member", "by_card")

    def __init__(self) -> None:
        # Read per purchase (empty, mostly): a plain attribute, not a method.
        self.by_card: dict[int, Referral] = {}
        self._by_member: dict[int, Referral] = {}

    def merge(self, rows: list[ReferralRow]) -> None:
        """Pending referrals as read (at start, or for cards just issued): a member already
        known keeps its entry (paid or not), so a new card of it shares it."""
        for card_id, member_id, referrer_hmac, referrer_card_id in rows:
            referral = self._by_member.get(member_id)
            if referral is None:
                referral = self._by_member[member_id] = Referral(member_id, referrer_hmac,
                                                                 referrer_card_id)
            self.by_card[card_id] = referral

    def take(self, card_id: int) -> Referral | None:
        """The card's member's referral at its first purchase, once; None after."""
        referral = self.by_card.pop(card_id, None)
        if referral is None or referral.paid:
            return None
        referral.paid = True
        return referral
