"""The points lottery's campaigns (docs/rules.md, "The lottery"): opened with a prize table and
a draw price, ended, their secret published, and any draw re-derived for an auditor."""

from back_office.lottery.campaigns import (
    CampaignView,
    DrawCheck,
    create_campaign,
    end_campaign,
    list_campaigns,
    publish_secret,
    verify_draws,
)

__all__ = ["CampaignView", "DrawCheck", "create_campaign", "end_campaign", "list_campaigns",
           "publish_secret", "verify_draws"]
