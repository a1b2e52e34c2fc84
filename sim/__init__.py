"""An agent-based simulator of customer loyalty strategies: giving vs taking firms."""

from .config import ConfigError, Settings, load
from .customers import Channel, Ladder
from .market import LoyaltyMarket

__all__ = ["ConfigError", "Settings", "load", "Channel", "Ladder", "LoyaltyMarket"]
