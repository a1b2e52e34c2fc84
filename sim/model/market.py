"""The loyalty market: firms with policies compete for remembering, talking customers."""

from __future__ import annotations

from typing import Any

import mesa
import numpy as np
import pandas as pd

from ..config import LEVERS, Regulation, Settings, Shock
from ..config import settings as config_settings
from . import metrics, policies
from .firms import Firm
from .network import build_network
from .population import Population, populate
from .shocks import conditions_at
from .streams import Streams
from .vocabulary import OFFER_EXTRAS, PAYING, Ladder, Offer, Tally, cohorts


class LoyaltyMarket(mesa.Model):
    """A market of firms (Mesa agents) and a customer population.

    The population is held by an engine (``sim.model.population``): compiled kernels (the default) or one Mesa
    agent per customer (``engine=agents``); the rules are the same. One step is one week:
    firms follow their plans or management rules, customers live the week, firms settle their accounts and
    learn, and the week is recorded (``sim.model.metrics``).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        /,
        *,
        rng: int | None = None,
        seed: int | None = None,
        experiment: str | None = None,
        presets: dict[str, str] | None = None,
        engine_options: dict[str, Any] | None = None,
        **config: Any,
    ):
        """Build the market from validated ``Settings``, or from keywords as Mesa models are built.

        ``LoyaltyMarket()`` is the default experiment; ``LoyaltyMarket(rng=3, experiment="monopoly",
        customers={"n": 5000}, firms={"incumbent": {"generosity": 0.8}})`` composes the experiment, applies
        the values (nested as the config's keys) and validates them through the one gate
        (``sim.config.settings``; a bad value raises ``ConfigError``). ``presets={"giving": "taking"}``
        chooses a firm's policy preset. ``rng`` is the seed (``seed`` too, for ``mesa.batch_run``);
        ``None`` keeps the configured seed, so a run is always reproducible. ``engine_options`` go to the
        engine (the compiled engine's ``chunk``); they never change a number.
        """
        if settings is None:
            chosen = seed if seed is not None else rng
            settings = config_settings(experiment=experiment, presets=presets, seed=chosen, **config)
        elif rng is not None or seed is not None or experiment is not None or presets or config:
            raise TypeError("LoyaltyMarket takes either validated Settings or keywords, not both")
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
        args = (settings.customers, settings.market, len(self.firms), weights, offer.service, self.streams)
        options = {"n_cohorts": cohorts(settings.steps), **(engine_options or {})}
        self.customers: Population = populate(settings.engine, self, self.network, *args, **options)
        self.customers.classify(offer)
        self.prospects = self.non_buyers = 0  # people buying from no firm: without a grudge, and all of them
        self.datacollector = metrics.ledger()
        nothing = Tally(len(self.firms), len(settings.customers.segments.groups), cohorts(settings.steps))
        self.observe(offer, nothing)  # week 0: nothing booked
        self.datacollector.collect(self)

    @property
    def week(self) -> int:
        return self.steps

    def offer(self, week: int) -> Offer:
        """This week's offers of all firms, after shocks; index F is "no firm"."""
        market = self.settings.market
        firms = self.firms
        cond = conditions_at(self.shocks, week, self.names, market.reach)
        available = np.array([*(f.entered for f in firms), True])  # "no firm" is always there
        # One table, a row per offered quantity, a column per firm and one for "no firm" (zeros): one allocation.
        names = (*LEVERS, *OFFER_EXTRAS)
        table = np.zeros((len(names), len(firms) + 1))
        table[: len(LEVERS), :-1] = [[getattr(f.levers, k) for f in firms] for k in LEVERS]
        row = dict(zip(names, table, strict=False))
        row["price"][:-1] *= cond.price_factor
        row["advertising"][:-1] *= available[:-1]
        if market.regulation is Regulation.NO_PRICE_WALKING:  # no new customer pays less than those who stay
            row["discount"][:] = 0.0
        service = np.array([policies.service_level(f.levers, f.quality, market.service_weights) for f in firms])
        row["service"][:-1] = service * (1 - cond.outage)
        row["acts"][:-1] = [policies.acts(f.levers) for f in firms]
        row["incident_multiplier"][:] = 1.0
        row["incident_multiplier"][:-1] = 1 + market.outage_incidents * cond.outage
        arrays = {name: row[name] for name in names if name != "available"}
        arrays["available"] = available
        return Offer(arrays, price_sensitivity=cond.price_sensitivity, reach=cond.reach)

    def trigger(self, shock: Shock) -> None:
        """Add a shock during a run (a classroom moment: an outage, a price cut, a recession)."""
        if shock.firm is not None and shock.firm not in self.names:
            raise ValueError(f"unknown firm {shock.firm!r}; firms: {', '.join(self.names)}")
        self.shocks.append(shock)

    def observe(self, offer: Offer, tally: Tally) -> None:
        """Give every firm what it sees of the week (its counts, customers by ladder state, share, grudges
        held, offer), count the people buying nothing, and record the week's rows of the segments table."""
        customers, n_firms = self.customers, len(self.firms)
        segments = list(self.settings.customers.segments.groups)
        stocks, grudges = customers.census()  # everyone by firm, segment and ladder state; grudges held per firm
        by_state = stocks[:n_firms].sum(axis=1)
        paying = by_state[:, list(PAYING)].sum(axis=1)
        total = max(int(paying.sum()), 1)
        for i, firm in enumerate(self.firms):
            service, price = float(offer.service[i]), float(offer.price[i])
            counts = tally.counts[:, i].tolist()  # read by many records: plain floats are quicker to read than numpy's
            firm.observe_week(counts, by_state[i], int(paying[i]) / total, int(grudges[i]), service, price)
        self.non_buyers = customers.n - int(paying.sum())
        self.prospects = int(stocks[:, :, Ladder.PROSPECT].sum())
        rows = metrics.segment_rows(self.week, self.firms, segments, stocks[:n_firms], tally)
        self.datacollector.add_table_rows("segments", rows)
        for table, by in (("tenure", "tenure_year"), ("cohorts", "cohort")):
            self.datacollector.add_table_rows(table, metrics.bucket_rows(self.week, self.firms, tally, by))

    def step(self) -> None:
        week = self.week
        for firm in self.firms:
            firm.follow_plan(week)
        # What rivals see: the levers before any decision, so no firm sees a rival decide in the same week.
        seen = {firm.name: firm.levers for firm in self.firms}
        for firm in self.firms:
            firm.manage(seen)
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

    def segment_timeseries(self) -> pd.DataFrame:
        """One row per week, firm and customer segment (``sim.model.metrics.SEGMENT_RECORD``)."""
        return metrics.segment_timeseries(self.datacollector)

    def tenure_timeseries(self) -> pd.DataFrame:
        """One row per week, firm and tenure year (``sim.model.metrics.TENURE_RECORD``)."""
        return metrics.bucket_timeseries(self.datacollector, "tenure")

    def cohort_timeseries(self) -> pd.DataFrame:
        """One row per week, firm and acquisition cohort (``sim.model.metrics.COHORT_RECORD``)."""
        return metrics.bucket_timeseries(self.datacollector, "cohorts")

    def run(self, steps: int | None = None, progress: bool = False) -> LoyaltyMarket:
        """Run for ``steps`` weeks (default: the configured number)."""
        from tqdm.auto import tqdm

        steps = self.settings.steps if steps is None else steps
        for _ in tqdm(range(steps), disable=not progress, desc=self.settings.experiment, unit="week"):
            self.step()
        return self


def prepare() -> float:
    """Build the compiled kernels (or load them from the cache on disk) with a market of 60 customers over two
    weeks, before a run or a class needs them: the first run after install compiles them, about 15 s on two
    cores, and a week that waits for that would look frozen. Returns the seconds it took."""
    import time

    start = time.perf_counter()
    LoyaltyMarket(customers={"n": 60}, steps=2, progress=False).run()
    return time.perf_counter() - start
