"""The alliances' gift catalogues (docs/back-office.md, "Gifts"): HQ adds gifts with their
first stock; after that the account host keeps the stock (a redemption takes one, its reversal
gives it back), so a restock or a withdrawal is a command to the host (proto.host_commands)."""

from back_office.gifts.catalogue import GiftEntry, add_gift, list_gifts, restock_gift, withdraw_gift

__all__ = ["GiftEntry", "add_gift", "list_gifts", "restock_gift", "withdraw_gift"]
