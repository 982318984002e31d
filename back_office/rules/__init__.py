"""Rules administration (docs/rules.md): the alliance's earn rules, versioned by the local date
from which each is in force, checked here and applied by the account host."""

from back_office.rules.earn_rules import RuleSetVersion, list_versions, rules_in_force, set_rules

__all__ = ["RuleSetVersion", "list_versions", "rules_in_force", "set_rules"]
