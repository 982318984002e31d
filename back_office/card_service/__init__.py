"""Card service (卡管理): a card's life after issue: activate, lost, stolen, found, block,
unblock, expire and renew. Each step is a row change the host hears (NOTIFY) and applies to the
card in memory, so the next request from a terminal gets its new answer."""

from back_office.card_service.lifecycle import (
    CardChange,
    CardStep,
    card_of,
    change_card,
    change_card_by_id,
    expire_card,
    renew_card,
)

__all__ = [
    "CardChange", "CardStep", "card_of", "change_card", "change_card_by_id", "expire_card",
    "renew_card",
]
