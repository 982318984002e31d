"""Rules administration (docs/rules.md): the alliance's earn rules, versioned by the local date
from which each is in force, checked here and applied by the account host."""

from back_office.rules.earn_rules import RuleSetVersion, list_versions, rules_in_force, set_rules
from back_office.rules.expiry import ExpiryRun, expire_points
from back_office.rules.tier_review import TierReviewRun, review_tiers

__all__ = ["ExpiryRun", "RuleSetVersion", "TierReviewRun", "expire_points", "list_versions",
           "review_tiers", "rules_in_force", "set_rules"]
