"""An alliance's risk settings as the host applies them: the newest version of risk_settings
and its risk_limits rows (migration 034)."""

from __future__ import annotations

import msgspec

# The processing codes a limit may name (0200 only: an inquiry posts nothing, an advice and a
# reversal are never refused by velocity), each with its slot in the counters.
LIMITED_CODES: tuple[str, ...] = (
    "000000", "006000", "900000", "910000", "200000", "210000", "400060")
CODE_SLOTS: dict[str, int] = {code: slot for slot, code in enumerate(LIMITED_CODES)}
# A count per hour or day is kept in 16 bits: a limit is at most this (migration 034 too).
REQUESTS_MAX = 60_000


class VelocityLimit(msgspec.Struct, frozen=True, gc=False):
    """One processing code's limits (None: not limited that way)."""

    slot: int
    requests_per_hour_max: int | None
    requests_per_day_max: int | None
    amount_per_day_max: int | None


class GrowthLevels(msgspec.Struct, frozen=True, gc=False):
    """A day's points above multiple x max(30-day average per day, floor): warning, block."""

    warning_multiple: int
    block_multiple: int
    floor_points: int

    def level(self, today_points: int, average_points: int) -> int:
        """0 (nothing), 1 (warning) or 2 (block) for a day's points against the average."""
        base = max(average_points, self.floor_points)
        if today_points > self.block_multiple * base:
            return 2
        if today_points > self.warning_multiple * base:
            return 1
        return 0


class RiskSettings(msgspec.Struct, frozen=True):
    version: int
    limits: dict[str, VelocityLimit]   # by processing code
    growth: GrowthLevels | None
