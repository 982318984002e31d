"""Risk control's administration (docs/rules.md, "Risk control"; docs/back-office.md): the
alliances' velocity limits and growth levels, the review queue the account host fills, and
the nightly baseline of points per day."""

from back_office.risk.baseline import BaselineRun, compute_baselines
from back_office.risk.reviews import (
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

__all__ = ["BaselineRun", "GrowthLevels", "RiskReview", "RiskSettings",
           "VelocityLimit", "compute_baselines", "confirm_review", "needs_unblock",
           "open_review_for_update", "open_reviews", "release_review",
           "set_settings", "show_review", "settings_in_force"]
