"""The operator roles: each a PostgreSQL NOLOGIN group role `jifen_op_<role>` with its grants
(migration 011), beside the services' roles of 006. An operator is a LOGIN role of its own
name, member of one of them."""

from __future__ import annotations

import enum


class OperatorRole(enum.StrEnum):
    HQ_ADMIN = "hq_admin"              # everything the back office does, and operators
    CARD_SERVICE = "card_service"      # cards: issue, status
    MERCHANT_ADMIN = "merchant_admin"  # reads its own merchant's data, changes nothing
    CLEARING = "clearing"              # nightly clearing: seal, run, adjust, reports
    AUDITOR = "auditor"                # reads everything, changes nothing

    @property
    def group_role(self) -> str:
        return f"jifen_op_{self.value}"

    @property
    def spoken(self) -> str:
        """As a person says it: "hq admin", "clearing operator"."""
        return _TITLES[self]


_TITLES = {
    OperatorRole.HQ_ADMIN: "hq admin",
    OperatorRole.CARD_SERVICE: "card service",
    OperatorRole.MERCHANT_ADMIN: "merchant admin",
    OperatorRole.CLEARING: "clearing operator",
    OperatorRole.AUDITOR: "auditor",
}
