"""Firms: Mesa agents that follow a policy or a management rule, settle their weekly accounts and learn
from complaints."""

from __future__ import annotations

import mesa
import numpy as np

from ..config import FirmConfig, Levers
from . import management, policies
from .vocabulary import PAYING, Count, Ladder


class Firm(mesa.Agent):
    """A firm with a giving, taking or other policy, managed by a fixed plan or by a rule.

    Besides its levers and running totals, a firm holds what it saw this week (its counts
    from the customers' tally, its customers by ladder state, its offer) and its books (one
    ``management.Books`` per week in the market: what a firm knows of itself); the ledger
    (``sim.model.metrics``) records these, and records only.
    """

    def __init__(self, model: mesa.Model, name: str, config: FirmConfig, index: int):
        super().__init__(model)
        self.name = name
        self.config = config
        self.index = index
        self.policy = config.policy
        self.levers = policies.levers_at(config, 0)
        self.management = config.management
        # None under a fixed plan; else the rule, exploring with the firm's own random stream (not the customers')
        self.manager = management.manager(self.management, self.levers, model.streams.generator(f"management.{name}"))
        if self.manager is not None and (start := self.manager.start(self.levers)):
            self.levers = management.replace_levers(self.levers, start)
        self.books: list[management.Books] = []
        self.lever_change_cost = 0.0  # this week's cost of lever changes
        self.management_moves = 0  # levers changed by management this week
        self.quality = self.levers.quality  # the quality lever, plus what listening adds (see ``learn``)
        self.entered = config.enters_at == 0
        self.cumulative_revenue = 0.0
        self.cumulative_profit = 0.0
        self.npv = 0.0
        # This week: accounts, counts, customers by ladder state, share, the offer's service and price.
        self.revenue = self.cost = self.profit = 0.0
        # This week's costs, by what they pay for (their sum, with lever changes, is ``cost``).
        self.running_cost = self.fixed_cost = self.contact_cost = self.gift_cost = self.complaint_cost = 0.0
        self.advertising_cost = self.referral_rewards = 0.0
        self.counts = [0.0] * len(Count)
        self.ladder = np.zeros(len(Ladder), np.int64)
        self.customers = 0
        self.share = 0.0
        self.grudges_held = 0  # people, buying elsewhere or nowhere, who left this firm unhappy
        self.service_level = self.price = 0.0

    def follow_plan(self, week: int) -> None:
        """Apply planned lever changes and enter the market when due.

        Quality is the lever: a change of the quality lever changes the firm's quality by as much,
        at once (within [0, 1]), keeping what listening has added.
        """
        if self.config.changes:  # levers without planned changes stay as they started
            before = self.levers.quality
            self.levers = policies.levers_at(self.config, week)
            if self.levers.quality != before:
                self.quality = min(max(self.quality + self.levers.quality - before, 0.0), 1.0)
        self.entered = week >= self.config.enters_at

    def manage(self, seen: dict[str, Levers]) -> None:
        """After every ``review`` weeks in the market, let the firm's rule change its levers (at a cost).

        ``seen``: every firm's levers at the start of the week, before any firm decides, so that no
        firm sees a rival's decision of the same week (the order of firms does not matter).
        """
        self.lever_change_cost, self.management_moves = 0.0, 0
        if self.manager is None or not self.entered or not self.books or len(self.books) % self.management.review:
            return
        target = self.manager.decide(self.books, self.market_reports(seen), self.levers)
        if target:
            self.change_levers(target)

    def market_reports(self, seen: dict[str, Levers]) -> list[management.Report]:
        """What the firm knows of its rivals: the levers it can observe, their profits ``lag`` weeks late."""
        last = self.model.week - 1 - self.management.lag
        return [
            management.Report(
                f.name,
                {k: getattr(seen[f.name], k) for k in self.management.observe},
                {b.week: b.profit for b in f.books if b.week <= last},
            )
            for f in self.model.firms
            if f is not self and f.entered
        ]

    def change_levers(self, values: dict[str, float]) -> None:
        """Set levers, paying ``change_cost`` per customer per unit of change (a lever's range is 1).

        As with a planned change, a change of the quality lever moves the firm's quality by as much.
        """
        moved = {k: v for k, v in values.items() if abs(v - getattr(self.levers, k)) > 1e-12}
        if not moved:
            return
        span = self.manager.space.span
        units = sum(abs(v - getattr(self.levers, k)) / span[k] for k, v in moved.items())
        self.lever_change_cost += self.management.change_cost * self.customers * units
        self.management_moves += len(moved)
        before = self.levers.quality
        self.levers = management.replace_levers(self.levers, moved)
        if self.levers.quality != before:
            self.quality = min(max(self.quality + self.levers.quality - before, 0.0), 1.0)

    def observe_week(
        self, counts: list[float], ladder: np.ndarray, share: float, grudges: int, service: float, price: float
    ) -> None:
        """What the firm sees of its week: its counts, customers by ladder state, share, grudges held, offer."""
        self.counts, self.ladder, self.share, self.grudges_held = counts, ladder, share, grudges
        self.customers = int(ladder[list(PAYING)].sum())  # paying: merely satisfied, loyal, devoted, detractors
        self.service_level, self.price = service, price

    def settle_week(self, discount_factor: float) -> None:
        """Book the week's revenue and costs, then learn from the complaints handled."""
        settings = self.model.settings
        market, costs, counts = settings.market, settings.market.costs, self.counts
        n = self.customers
        typical = settings.customers.n / len(self.model.firms)  # a firm of average size, for the fixed costs
        running, fixed = policies.running_cost(self.levers, costs, n, typical) if self.entered else (0.0, 0.0)
        devoted = self.ladder[Ladder.DEVOTED] / n if n else 0.0
        self.running_cost, self.fixed_cost = running, fixed
        # The community answers some of the calls a firm's devoted customers' peers would make (a forum, giffgaff).
        self.contact_cost = costs.contact * counts[Count.CONTACTS] * (1.0 - market.community_support * devoted)
        self.gift_cost = costs.free_fix * counts[Count.FREE_FIXES]
        self.complaint_cost = costs.complaint * counts[Count.COMPLAINTS_HANDLED]
        self.advertising_cost = (
            costs.advertising_per_capita * self.levers.advertising * settings.customers.n * self.entered
        )
        self.referral_rewards = self.config.referral_reward * counts[Count.ACQUIRED_REFERRAL]
        cost = (
            running
            + self.contact_cost
            + self.gift_cost
            + self.complaint_cost
            + self.advertising_cost
            + self.referral_rewards
        )
        if self.lever_change_cost:
            cost += self.lever_change_cost
        self.book(float(counts[Count.REVENUE]), cost, discount_factor)
        self.learn(float(counts[Count.COMPLAINTS_HANDLED]), n)
        if self.entered:
            self.books.append(
                management.Books(
                    self.model.week,
                    self.revenue,
                    self.cost,
                    self.profit,
                    n,
                    self.share,
                    self.advocacy,
                    int(counts[Count.COMPLAINTS]),
                )
            )

    @property
    def advocacy(self) -> float:
        """100 x (devoted - detractors) / customers (net-promoter style; 0 without customers)."""
        n = self.customers
        return float(100.0 * (self.ladder[Ladder.DEVOTED] - self.ladder[Ladder.DETRACTOR]) / n) if n else 0.0

    def book(self, revenue: float, cost: float, discount_factor: float) -> None:
        """Record a week's revenue, cost and profit, and the running totals."""
        self.revenue, self.cost, self.profit = revenue, cost, revenue - cost
        self.cumulative_revenue += revenue
        self.cumulative_profit += self.profit
        self.npv += self.profit * discount_factor

    def learn(self, handled: float, customers: float) -> None:
        """Handled complaints are ideas: quality rises above the lever, and what is not renewed fades back to it."""
        market = self.model.settings.market
        rate = handled / customers if customers else 0.0
        self.quality += market.innovation * rate * (1.0 - self.quality)
        self.quality -= market.obsolescence * (self.quality - self.levers.quality)
        self.quality = min(max(self.quality, 0.0), 1.0)
