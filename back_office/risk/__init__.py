"""Risk control's administration (docs/rules.md, "Risk control"; docs/back-office.md): the
alliances' velocity limits and growth levels, the review queue the account host fills, and
the nightly baseline of points per day."""

from back_office.risk.baseline import BaselineRun, compute_baselines
from back_office.risk.partitions import (
    ONLY_CENTRAL,
    ReviewPartitions,
    ReviewRef,
    parse_ref,
    resolve,
    review_partitions,
)
from back_office.risk.reviews import (
    OpenReview,
    RiskReview,
    confirm_review,
    needs_unblock,
    open_review_for_update,
    open_reviews,
    release_review,
    show_review,
)
from back_office.risk.settings import (
    GrowthLevels,
    RiskSettings,
    VelocityLimit,
    set_settings,
    settings_in_force,
)

__all__ = ["ONLY_CENTRAL", "BaselineRun", "GrowthLevels", "OpenReview", "ReviewPartitions",
           "ReviewRef", "RiskReview", "parse_ref", "resolve", "review_partitions", "RiskSettings",
           "VelocityLimit", "compute_baselines", "confirm_review", "needs_unblock",
           "open_review_for_update", "open_reviews", "release_review",
           "set_settings", "show_review", "settings_in_force"]
