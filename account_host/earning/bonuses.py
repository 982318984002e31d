"""The referral bonus, posted with the purchase it rewards: the earn rules' `[bonuses]
referral` points to the referrer's card, against the alliance's bonus account, as a
transaction of its own that names the purchase. None when the rules in force give none, the
referrer has no card to credit (none, or closed), or it would go over the balance limit: the
first purchase is the occasion, once. A referrer's card of another partition is owed it: a row
in the purchase's statement, which central makes a credit there (migration 042)."""

from __future__ import annotations

from account_host.chart import POINTS_LEDGER, AccountKind
from account_host.context import ApplyContext
from account_host.earning.referrals import Referral
from account_host.expiry.keeping import record_lots
from account_host.movements import TransactionType
from account_host.transactions.base import over_balance_limit


def post_referral_bonus(
    context: ApplyContext, referral: Referral, alliance_id: int, purchase_id: int,
) -> int:
    """The points posted (0: none)."""
    rules = context.earning(alliance_id).rules
    points = 0 if rules is None else rules.rules.bonuses.referral
    if not points or referral.referrer_hmac is None:
        return 0
    state = context.state
    referrer = state.cards.get(referral.referrer_hmac)
    if referrer is None and referral.referrer_card_id is not None:
        # Another partition's card: owed there, in this purchase's statement (migration 042).
        context.batch.owe_bonus(purchase_id, referral.referrer_card_id, alliance_id, points,
                                referral.member_id)
        return 0
    if referrer is None or referrer.id in state.closed_cards \
            or over_balance_limit(context, referrer.points_account_id, points):
        return 0
    transaction_id = context.approve(with_rrn=False).transaction_id
    day = context.business_date(alliance_id)
    member = context.member_points_account(referrer)
    alliance = context.owner_account(AccountKind.ALLIANCE_POINTS_BONUS, alliance_id)
    context.post(transaction_id, POINTS_LEDGER, day, ((member, points), (alliance, -points)))
    context.batch.add_bonus_transaction(
        transaction_id, TransactionType.REFERRAL_BONUS, day, card_id=referrer.id,
        points=points, original_transaction_id=purchase_id)
    record_lots(context, transaction_id, member, alliance_id, earned=points)
    return points
