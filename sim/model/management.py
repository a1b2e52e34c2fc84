"""Firm management: rules that move a firm's levers from what a real firm sees (``conf/management/``).

A managed firm decides after every ``review`` weeks in the market, at the start of a week, from
its own books (``Books``: revenue, cost, profit, customers, share, advocacy, complaints of each
week) and from market reports on its rivals (``Report``: the levers it can observe now, and their
weekly profits, known ``lag`` weeks late). Never from the customers' internal state. Exploration
draws from the firm's own random stream, so the customers' common random numbers hold.

Rules (``sim.config.ManagementKind``):

- ``myopic`` / ``patient`` (``HillClimb``): measure the current levers' mean weekly profit over
  ``horizon`` weeks; try a change (each managed lever up or down by ``step`` of its range, at random);
  after ``horizon`` weeks keep it if its mean weekly profit beat the window before, else go back and
  measure again. Myopic judges on a quarter, patient on a longer window.
- ``imitate`` (``Imitate``): every ``review`` weeks, compare reported profits over the ``horizon``
  weeks ending ``lag`` weeks ago; if a rival's beat the firm's own, close ``rate`` of the gap to the
  best rival's levers, for the managed levers the firm can observe.
- ``learner`` (``Learner``): CMA-ES (the ``cma`` package) proposes lever vectors a generation of
  ``population`` at a time; the firm runs each for ``horizon`` weeks and tells the strategy its mean
  weekly profit, so it learns from its own realized results, one vector at a time.

Levers move in a unit cube: each managed lever's allowed range (``sim.config.Levers``) maps to
[0, 1]; price, whose allowed range is wide, moves within half to one and a half times its starting
value. A change costs ``change_cost`` per customer per unit moved (``Firm.change_levers``).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np

from ..config import Levers, Management, ManagementKind, Start, allowed_range

PRICE_BAND = (0.5, 1.5)  # management moves price within these multiples of its starting value


@dataclass(frozen=True)
class Books:
    """A firm's week as its own books show it."""

    week: int
    revenue: float
    cost: float
    profit: float
    customers: int
    share: float
    advocacy: float
    complaints: int


@dataclass(frozen=True)
class Report:
    """What a firm knows of a rival: the levers it can observe now and its weekly profits, ``lag`` weeks late."""

    name: str
    levers: dict[str, float]
    profits: dict[int, float]  # week -> profit, weeks up to the report's date only

    def mean_profit(self, first: int, last: int) -> float | None:
        """Mean weekly profit over weeks first..last, or None if the report does not cover them all."""
        weeks = range(first, last + 1)
        if not all(w in self.profits for w in weeks):
            return None
        return float(np.mean([self.profits[w] for w in weeks]))


class Space:
    """The managed levers as a unit cube: each lever's range maps to [0, 1]."""

    def __init__(self, start: Levers, names: list[str]):
        self.names = list(names)
        lo, hi = [], []
        for k in self.names:
            if k == "price":
                a, b = (start.price * f for f in PRICE_BAND)
                top = allowed_range("firms.x.price")[1]
                lo.append(a)
                hi.append(min(b, top))
            else:
                a, b = allowed_range(f"firms.x.{k}")
                lo.append(float(a))
                hi.append(float(b))
        self.lo, self.hi = np.array(lo), np.array(hi)

    @property
    def span(self) -> dict[str, float]:
        return dict(zip(self.names, (self.hi - self.lo).tolist(), strict=True))

    def to_unit(self, levers: Levers) -> np.ndarray:
        x = np.array([getattr(levers, k) for k in self.names])
        return np.clip((x - self.lo) / (self.hi - self.lo), 0.0, 1.0)

    def from_unit(self, u: np.ndarray) -> dict[str, float]:
        x = self.lo + np.clip(u, 0.0, 1.0) * (self.hi - self.lo)
        return {k: float(min(max(v, lo), hi)) for k, v, lo, hi in zip(self.names, x, self.lo, self.hi, strict=True)}


def mean_profit(books: list[Books], first: int = 0) -> float:
    """Mean weekly profit of the books from index ``first`` on."""
    return float(np.mean([b.profit for b in books[first:]]))


class Manager:
    """A management rule: ``decide`` returns new values of managed levers, or None to leave them."""

    def __init__(self, config: Management, start: Levers, rng: np.random.Generator):
        self.config = config
        self.rng = rng
        self.space = Space(start, config.levers)

    def start(self, levers: Levers) -> dict[str, float] | None:
        """The managed levers' starting values: the plan's, or drawn at random (``start: random``)."""
        if self.config.start is Start.RANDOM:
            return self.space.from_unit(self.rng.random(len(self.space.names)))
        return None

    def decide(self, books: list[Books], reports: list[Report], levers: Levers) -> dict[str, float] | None:
        raise NotImplementedError


class HillClimb(Manager):
    """Myopic and patient management: try a change, keep it if profit over the next ``horizon`` weeks rose."""

    def __init__(self, config: Management, start: Levers, rng: np.random.Generator):
        super().__init__(config, start, rng)
        self.trying = False  # a trial change is running (else: measuring the current levers)
        self.since = 0  # index in the books where the current window began
        self.baseline = 0.0  # mean weekly profit of the levers kept
        self.before: dict[str, float] = {}  # the levers before the trial
        self.log: list[
            tuple[int, str, float, float]
        ] = []  # (weeks in the books, keep/revert/measured, score, baseline)

    def decide(self, books, reports, levers):
        if len(books) - self.since < self.config.horizon:
            return None
        score = mean_profit(books, self.since)
        if self.trying and score <= self.baseline:  # the trial did worse: go back and measure again
            self.log.append((len(books), "revert", score, self.baseline))
            self.trying, self.since = False, len(books)
            return self.before
        self.log.append((len(books), "keep" if self.trying else "measured", score, self.baseline))
        self.baseline = score  # the levers in force are kept; their window is the next trial's baseline
        return self.trial(books, levers)

    def trial(self, books: list[Books], levers: Levers) -> dict[str, float]:
        """Each managed lever up or down by ``step`` of its range, at random (reflected at its bounds)."""
        u = self.space.to_unit(levers)
        d = self.rng.choice([-1.0, 1.0], size=len(u)) * self.config.step
        d = np.where((u + d > 1.0) | (u + d < 0.0), -d, d)
        self.before = {k: getattr(levers, k) for k in self.space.names}
        self.trying, self.since = True, len(books)
        return self.space.from_unit(u + d)


class Imitate(Manager):
    """Move towards the observable levers of the rival with the highest reported profit, if it beat one's own."""

    def decide(self, books, reports, levers):
        c = self.config
        last = books[-1].week - c.lag  # the latest week the market reports cover
        first = last - c.horizon + 1
        own = [b.profit for b in books if first <= b.week <= last]
        if len(own) < c.horizon:
            return None
        best, best_profit = None, float(np.mean(own))
        for report in reports:
            profit = report.mean_profit(first, last)
            if profit is not None and profit > best_profit:
                best, best_profit = report, profit
        if best is None:
            return None
        moved = {}
        for k, lo, hi in zip(self.space.names, self.space.lo, self.space.hi, strict=True):
            if k in best.levers:  # a managed lever the firm can observe in the rival
                v = getattr(levers, k)
                moved[k] = float(min(max(v + c.rate * (best.levers[k] - v), lo), hi))
        return moved or None


class Learner(Manager):
    """CMA-ES over the managed levers (unit cube), each candidate judged on ``horizon`` weeks of realized profit."""

    def __init__(self, config: Management, start: Levers, rng: np.random.Generator):
        super().__init__(config, start, rng)
        self.es = None
        self.asked: list[np.ndarray] = []
        self.scores: list[float] = []
        self.since = 0
        self.generations = 0

    def _strategy(self, levers: Levers):
        import cma

        options = {
            "bounds": [0.0, 1.0],
            "popsize": self.config.population,
            "seed": np.nan,  # leave numpy's global state alone: draws come from the firm's own stream
            "randn": lambda *shape: self.rng.standard_normal(shape),
            "verbose": -9,
            "verb_log": 0,
            "verb_disp": 0,
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cma.CMAEvolutionStrategy(self.space.to_unit(levers), self.config.sigma, options)

    def decide(self, books, reports, levers):
        if self.es is None:  # the first decision: the strategy starts from the levers in force
            self.es = self._strategy(levers)
        elif len(books) - self.since < self.config.horizon:
            return None
        else:
            self.scores.append(-mean_profit(books, self.since))  # CMA-ES minimizes
        if len(self.scores) == len(self.asked):  # a generation judged: tell, and ask for the next
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if self.asked:
                    self.es.tell(self.asked, self.scores)
                    self.generations += 1
                self.asked, self.scores = list(self.es.ask()), []
        self.since = len(books)
        return self.space.from_unit(self.asked[len(self.scores)])


class Played(Manager):
    """A person decides: the levers ordered for a review (``orders``, by weeks in the market at that review) are
    set then, at the rule's change cost; no order, no change."""

    def __init__(self, config: Management, start: Levers, rng: np.random.Generator):
        super().__init__(config, start, rng)
        self.orders: dict[int, dict[str, float]] = {}

    def decide(self, books, reports, levers):
        return self.orders.pop(len(books), None)


RULES: dict[ManagementKind, type[Manager]] = {
    ManagementKind.MYOPIC: HillClimb,
    ManagementKind.PATIENT: HillClimb,
    ManagementKind.IMITATE: Imitate,
    ManagementKind.LEARNER: Learner,
    ManagementKind.PLAYED: Played,
}


def manager(config: Management, start: Levers, rng: np.random.Generator) -> Manager | None:
    """The rule that manages a firm, or None for a fixed plan."""
    rule = RULES.get(config.kind)
    return None if rule is None else rule(config, start, rng)


def replace_levers(levers: Levers, values: dict[str, float]) -> Levers:
    """``levers`` with some values replaced (validated: every lever stays in its allowed range)."""
    return dataclasses.replace(levers, **values)
