"""Firms: Mesa agents that follow a policy, learn from complaints and keep accounts."""

from __future__ import annotations

import mesa

from . import policies
from .config import Firm as FirmSpec


class Firm(mesa.Agent):
    """A firm with a giving, taking or other policy."""

    def __init__(self, model: mesa.Model, name: str, spec: FirmSpec, index: int):
        super().__init__(model)
        self.name = name
        self.spec = spec
        self.index = index
        self.policy = spec.policy
        self.levers = policies.levers_at(spec, 0)
        self.quality = spec.quality  # grows above the quality lever by listening
        self.entered = spec.enters_at == 0
        self.cumulative_revenue = 0.0
        self.cumulative_profit = 0.0
        self.npv = 0.0

    def follow_plan(self, week: int) -> None:
        """Apply planned lever changes and enter the market when due."""
        self.levers = policies.levers_at(self.spec, week)
        self.entered = week >= self.spec.enters_at

    def learn(self, handled: float, customers: float) -> None:
        """Handled complaints are ideas: quality rises, then slowly returns to the lever."""
        market = self.model.settings.market
        rate = handled / customers if customers else 0.0
        self.quality += market.innovation * rate * (1.0 - self.quality)
        self.quality -= market.obsolescence * (self.quality - self.levers["quality"])
        self.quality = min(max(self.quality, 0.0), 1.0)

    def book(self, revenue: float, cost: float, discount_factor: float) -> float:
        """Record a week's revenue and cost; return profit."""
        profit = revenue - cost
        self.cumulative_revenue += revenue
        self.cumulative_profit += profit
        self.npv += profit * discount_factor
        return profit
