"""The switch: routes front frames to account hosts by card range, and answers back."""

from switch.config import SwitchConfig
from switch.errors import RouteLoadError, SwitchError
from switch.routes import CardRange, RouteTable
from switch.service import Switch, run_switch

__all__ = [
    "CardRange", "RouteLoadError", "RouteTable", "Switch", "SwitchConfig", "SwitchError",
    "run_switch",
]
