"""The loyalty market: firms with policies compete for remembering, talking customers."""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd

from ..config import LEVERS, Engine, Settings, Shock
from . import metrics, policies
from .customers import Customers
from .firms import Firm
from .network import build_network
from .shocks import conditions_at
from .streams import Streams
from .vocabulary import PAYING, Ladder, Offer, Tally


class LoyaltyMarket(mesa.Model):
    """A market of firms (Mesa agents) and a customer population.

    The population is vectorized (``sim.model.customers``) or one Mesa agent per customer
    (``sim.model.agents``, ``engine=agents``); the rules are the same. One step is one week:
    firms follow their plans, customers live the week, firms settle their accounts and
    learn, and the week is recorded (``sim.model.metrics``).
    """

    def __init__(self, settings: Settings):
        super().__init__(rng=settings.seed)
        self.settings = settings
        self.streams = Streams(settings.seed)
        self.network = build_network(settings.network, settings.customers.n, self.streams.network)
        self.firms = [Firm(self, name, config, i) for i, (name, config) in enumerate(settings.firms.items())]
        self.names = [f.name for f in self.firms]
        self.shocks: list[Shock] = list(settings.market.shocks)
        self.weekly_discount = (1 + settings.market.annual_discount_rate) ** (-1 / 52)
        weights = np.array([f.config.initial_share if f.entered else 0.0 for f in self.firms])
        offer = self.offer(0)
        args = (settings.customers, settings.market, len(self.firms), weights, offer.service)
        if settings.engine is Engine.AGENTS:
            from .agents import CustomerAgents  # one Mesa agent per customer: readable, slow

            self.customers = CustomerAgents(self, *args, self.network, self.streams)
        else:
            self.customers = Customers(*args, self.streams)
        self.customers.classify(offer)
        self.prospects = self.non_buyers = 0  # people buying from no firm: without a grudge, and all of them
        self.datacollector = metrics.ledger()
        self.observe(offer, Tally(len(self.firms)))  # week 0: the starting position, nothing booked
        self.datacollector.collect(self)

    @property
    def week(self) -> int:
        return self.steps

    def offer(self, week: int) -> Offer:
        """This week's offers of all firms, after shocks; index F is "no firm"."""
        market = self.settings.market
        firms = self.firms
        cond = conditions_at(self.shocks, week, self.names, market.reach)
        available = np.array([f.entered for f in firms])
        levers = {k: np.array([getattr(f.levers, k) for f in firms], dtype=float) for k in LEVERS}
        levers["price"] = levers["price"] * cond.price_factor
        levers["advertising"] = levers["advertising"] * available
        service = np.array([policies.service_level(f.levers, f.quality, market.service_weights) for f in firms])
        extras = {
            "service": service * (1 - cond.outage),
            "acts": np.array([policies.acts(f.levers) for f in firms], dtype=float),
            "incident_multiplier": 1 + market.outage_incidents * cond.outage,
        }
        arrays = {name: np.append(values, 0.0) for name, values in {**levers, **extras}.items()}
        arrays["incident_multiplier"][-1] = 1.0
        arrays["available"] = np.append(available, True)
        return Offer(arrays, price_sensitivity=cond.price_sensitivity, reach=cond.reach)

    def trigger(self, shock: Shock) -> None:
        """Add a shock during a run (a classroom moment: an outage, a price cut, a recession)."""
        if shock.firm is not None and shock.firm not in self.names:
            raise ValueError(f"unknown firm {shock.firm!r}; firms: {', '.join(self.names)}")
        self.shocks.append(shock)

    def observe(self, offer: Offer, tally: Tally) -> None:
        """Give every firm what it sees of the week: its counts, customers by ladder state, share and offer."""
        customers, n_firms = self.customers, len(self.firms)
        by_state = customers.counts_by_state()
        paying = list(PAYING)
        total = max(int(by_state[:, paying].sum()), 1)
        grudge_firm = customers.grudge_firm
        grudges = np.bincount(grudge_firm[customers.grudge > 0], minlength=n_firms + 1)
        for i, firm in enumerate(self.firms):
            share = int(by_state[i, paying].sum()) / total
            service, price = float(offer.service[i]), float(offer.price[i])
            firm.observe_week(tally.counts[:, i], by_state[i], share, int(grudges[i]), service, price)
        self.non_buyers = int(np.sum(customers.firm == n_firms))
        self.prospects = int(np.sum(customers.state == Ladder.PROSPECT))

    def step(self) -> None:
        week = self.week
        for firm in self.firms:
            firm.follow_plan(week)
        offer = self.offer(week)
        tally = self.customers.step(week, offer, self.network, self.streams)
        self.observe(offer, tally)
        discount_factor = self.weekly_discount**week
        for firm in self.firms:
            firm.settle_week(discount_factor)
        self.datacollector.collect(self)

    def timeseries(self) -> pd.DataFrame:
        """One row per week per firm (``sim.model.metrics.RECORD``)."""
        return metrics.timeseries(self.datacollector)

    def run(self, steps: int | None = None, progress: bool = False) -> LoyaltyMarket:
        """Run for ``steps`` weeks (default: the configured number)."""
        from tqdm.auto import tqdm

        steps = self.settings.steps if steps is None else steps
        for _ in tqdm(range(steps), disable=not progress, desc=self.settings.experiment, unit="week"):
            self.step()
        return self
