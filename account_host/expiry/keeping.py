"""Keeping a points account's lots in step with its balance as the transaction kinds post
(lots.py has the rules): each kind calls `keep_lots` with the balance its posting leaves, and
keeps the moves it returns with what it posted, for its reversal."""

from __future__ import annotations

from account_host.context import ApplyContext
from account_host.expiry.lots import Moves, encode_moves, moved


def keep_lots(
    context: ApplyContext, account_id: int, alliance_id: int, balance_after: int, *,
    earned: int = 0, claw: int = 0, claw_day: int = 0, undo: Moves = (),
) -> Moves:
    """The account's lots after a posting that leaves `balance_after`; its moves. `earned`:
    points earned now (a lot at the day the rules in force give; none where they do not
    expire); `claw` from the lot at `claw_day` first; `undo` an earlier posting's moves."""
    lots = context.state.lots
    earned_day = context.earning(alliance_id).lot_day if earned > 0 else 0
    packed = lots.get(account_id) or b""
    if not packed and not earned_day and not undo:
        return ()   # points that never expire (most alliances: one dict lookup)
    after, moves = moved(packed, balance_after, earned=earned, earned_day=earned_day,
                         claw=claw, claw_day=claw_day, undo=undo)
    if after:
        lots[account_id] = after
    else:
        lots.pop(account_id, None)
    if moves:
        context.batch.lots_moved = True
    return moves


def record_lots(
    context: ApplyContext, transaction_id: int, account_id: int, alliance_id: int, *,
    earned: int = 0, claw: int = 0, claw_day: int = 0, undo: Moves = (),
) -> Moves:
    """`keep_lots` for the transaction just added to the batch, whose posting to `account_id`
    is done: its moves go with its row (transactions.lot_moves), for a reversal after a
    restart."""
    moves = keep_lots(context, account_id, alliance_id, context.state.balance(account_id),
                      earned=earned, claw=claw, claw_day=claw_day, undo=undo)
    if moves:
        encoded = encode_moves(moves)
        assert encoded is not None
        context.batch.set_lot_moves(transaction_id, encoded)
    return moves
