"""Firms: Mesa agents that follow a policy, settle their weekly accounts and learn from complaints."""

from __future__ import annotations

import mesa
import numpy as np

from ..config import FirmConfig
from . import policies
from .vocabulary import PAYING, Count, Ladder


class Firm(mesa.Agent):
    """A firm with a giving, taking or other policy.

    Besides its levers and running totals, a firm holds what it saw this week (its counts
    from the customers' tally, its customers by ladder state, its offer); the ledger
    (``sim.model.metrics``) records these, and records only.
    """

    def __init__(self, model: mesa.Model, name: str, config: FirmConfig, index: int):
        super().__init__(model)
        self.name = name
        self.config = config
        self.index = index
        self.policy = config.policy
        self.levers = policies.levers_at(config, 0)
        self.quality = config.quality  # grows above the quality lever by listening
        self.entered = config.enters_at == 0
        self.cumulative_revenue = 0.0
        self.cumulative_profit = 0.0
        self.npv = 0.0
        # This week: accounts, counts, customers by ladder state, share, the offer's service and price.
        self.revenue = self.cost = self.profit = 0.0
        self.counts = np.zeros(len(Count))
        self.ladder = np.zeros(len(Ladder), np.int64)
        self.share = 0.0
        self.service_level = self.price = 0.0

    @property
    def customers(self) -> int:
        """Paying customers: merely satisfied, loyal, devoted and detractors."""
        return int(self.ladder[list(PAYING)].sum())

    def follow_plan(self, week: int) -> None:
        """Apply planned lever changes and enter the market when due."""
        if self.config.changes:  # levers without planned changes stay as they started
            self.levers = policies.levers_at(self.config, week)
        self.entered = week >= self.config.enters_at

    def observe_week(self, counts: np.ndarray, ladder: np.ndarray, share: float, service: float, price: float) -> None:
        """What the firm sees of its week: its counts, its customers by ladder state, its share and offer."""
        self.counts, self.ladder, self.share = counts, ladder, share
        self.service_level, self.price = service, price

    def settle_week(self, discount_factor: float) -> None:
        """Book the week's revenue and costs, then learn from the complaints handled."""
        costs = self.model.settings.market.costs
        n = self.customers
        running = policies.running_cost(self.levers, costs, n) if self.entered else 0.0
        cost = (
            running
            + costs.incident * self.counts[Count.INCIDENTS]
            + costs.free_fix * self.counts[Count.FREE_FIXES]
            + costs.complaint * self.counts[Count.COMPLAINTS_HANDLED]
            + costs.advertising_per_capita * self.levers.advertising * self.model.settings.customers.n * self.entered
        )
        self.book(float(self.counts[Count.REVENUE]), cost, discount_factor)
        self.learn(float(self.counts[Count.COMPLAINTS_HANDLED]), n)

    def book(self, revenue: float, cost: float, discount_factor: float) -> None:
        """Record a week's revenue, cost and profit, and the running totals."""
        self.revenue, self.cost, self.profit = revenue, cost, revenue - cost
        self.cumulative_revenue += revenue
        self.cumulative_profit += self.profit
        self.npv += self.profit * discount_factor

    def learn(self, handled: float, customers: float) -> None:
        """Handled complaints are ideas: quality rises, then slowly returns to the lever."""
        market = self.model.settings.market
        rate = handled / customers if customers else 0.0
        self.quality += market.innovation * rate * (1.0 - self.quality)
        self.quality -= market.obsolescence * (self.quality - self.levers.quality)
        self.quality = min(max(self.quality, 0.0), 1.0)
