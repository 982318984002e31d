"""Rules administration (docs/rules.md): the alliance's earn rules, versioned by the local date
from which each is in force, checked here and applied by the account host."""

from back_office.rules.earn_rules import RuleSetVersion, list_versions, rules_in_force, set_rules
from back_office.rules.expiry import ExpiryRun, expire_points

__all__ = ["ExpiryRun", "RuleSetVersion", "expire_points", "list_versions", "rules_in_force",
           "set_rules"]
