"""What the host keeps for risk control: each alliance's settings, the velocity and growth
counters, and the baselines (none of it costs a request a round trip)."""

from __future__ import annotations

from account_host.risk.growth import Baselines, GrowthCounters
from account_host.risk.settings import RiskSettings
from account_host.risk.velocity import VelocityCounters


class RiskState:
    __slots__ = ("baselines", "growth", "settings", "velocity")

    def __init__(self) -> None:
        self.settings: dict[int, RiskSettings] = {}   # by alliance id: only those with some
        self.velocity = VelocityCounters()
        self.growth = GrowthCounters()
        self.baselines = Baselines()
