"""The loyalty market: firms with policies compete for remembering, talking customers."""

from __future__ import annotations

import mesa
import numpy as np

from . import policies
from .config import Engine, Settings, Shock
from .customers import Customers, Offer
from .firms import Firm
from .metrics import Ledger
from .network import build_network
from .shocks import conditions_at
from .streams import Streams


class LoyaltyMarket(mesa.Model):
    """A market of firms (Mesa agents) and a customer population.

    The population is vectorized (``sim.customers``) or one Mesa agent per customer
    (``sim.agents``, ``engine=agents``); the rules are the same. One step is one week:
    firms follow their plans, customers live the week, firms learn and book the week.
    """

    def __init__(self, settings: Settings):
        super().__init__(rng=settings.seed)
        self.settings = settings
        self.streams = Streams(settings.seed)
        self.network = build_network(settings.network, settings.customers.n, self.streams.network)
        self.firm_agents = [Firm(self, name, spec, i) for i, (name, spec) in enumerate(settings.firms.items())]
        self.names = [f.name for f in self.firm_agents]
        self.shocks: list[Shock] = list(settings.market.shocks)
        weights = np.array([f.spec.initial_share if f.entered else 0.0 for f in self.firm_agents])
        offer = self.offer(0)
        args = (settings.customers, settings.market, len(self.firm_agents), weights, offer.service)
        if settings.engine is Engine.AGENTS:
            from .agents import CustomerAgents  # one Mesa agent per customer: readable, slow

            self.customers = CustomerAgents(self, *args, self.network, self.streams)
        else:
            self.customers = Customers(*args, self.streams)
        self.customers.classify(offer)
        self.ledger = Ledger(self)
        self.ledger.record_start(offer)

    @property
    def week(self) -> int:
        return self.steps

    def offer(self, week: int) -> Offer:
        """This week's offers of all firms, after shocks; index F is "no firm"."""
        m = self.settings.market
        firms = self.firm_agents
        cond = conditions_at(self.shocks, week, self.names, m.reach)
        lev = policies.lever_table([f.levers for f in firms])

        def pad(a, fill=0.0):
            return np.append(np.asarray(a, dtype=float), fill)

        service = np.array([policies.service_level(f.levers, f.quality, m.service_weights) for f in firms])
        available = np.array([f.entered for f in firms])
        return Offer(
            available=np.append(available, True),
            price=pad(lev["price"] * cond.price_factor),
            service=pad(service * (1 - cond.outage)),
            speed=pad(lev["speed"]),
            humanity=pad(lev["humanity"]),
            generosity=pad(lev["generosity"]),
            advice=pad(lev["proactive_advice"]),
            upsell=pad(lev["upsell"]),
            discount=pad(lev["discount"]),
            advertising=pad(lev["advertising"] * available),
            listening=pad(lev["listening"]),
            claims=pad(lev["claims"]),
            acts=pad([policies.acts(f.levers) for f in firms]),
            incident_multiplier=pad(1 + m.outage_incidents * cond.outage, 1.0),
            price_sensitivity=cond.price_sensitivity,
            reach=cond.reach,
        )

    def trigger(self, shock: Shock) -> None:
        """Add a shock during a run (a classroom moment: an outage, a price cut, a recession)."""
        if shock.firm is not None and shock.firm not in self.names:
            raise ValueError(f"unknown firm {shock.firm!r}; firms: {', '.join(self.names)}")
        self.shocks.append(shock)

    def step(self) -> None:
        week = self.week
        for firm in self.firm_agents:
            firm.follow_plan(week)
        offer = self.offer(week)
        tally = self.customers.step(week, offer, self.network, self.streams)
        self.ledger.record_week(week, offer, tally)

    def run(self, steps: int | None = None, progress: bool = False) -> LoyaltyMarket:
        """Run for ``steps`` weeks (default: the configured number)."""
        from tqdm.auto import tqdm

        steps = self.settings.steps if steps is None else steps
        for _ in tqdm(range(steps), disable=not progress, desc=self.settings.experiment, unit="week"):
            self.step()
        return self
