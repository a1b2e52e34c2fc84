"""An agent-based simulator of customer loyalty strategies: giving vs taking firms."""

__version__ = "0.3.0"  # semantic: CHANGELOG.md says which model numbers each release moved

from .config import ConfigError, Settings, load
from .model.market import LoyaltyMarket
from .model.vocabulary import Channel, Ladder

__all__ = ["ConfigError", "Settings", "load", "Channel", "Ladder", "LoyaltyMarket"]
