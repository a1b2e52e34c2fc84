"""An agent-based simulator of customer loyalty strategies: giving vs taking firms."""

from .config import ConfigError, Settings, load
from .model.market import LoyaltyMarket
from .model.vocabulary import Channel, Ladder

__all__ = ["ConfigError", "Settings", "load", "Channel", "Ladder", "LoyaltyMarket"]
