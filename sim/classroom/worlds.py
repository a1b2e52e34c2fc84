"""Twin worlds: the same customers, network and luck under two policies for the first firm.

Two ``LoyaltyMarket`` models built with the same seed and settings share everything drawn from
the seed: the week-0 population, the network, and every customer's dice (common random numbers,
``sim.model.draws``). They differ only in the first firm's policy, and step together; a classroom
moment strikes both. So a customer who is with the same firm in both worlds meets the same
incidents in both, and what differs is how they are served and what they make of it.

Each firm is shown under its policy's name and comes whole: a preset's levers are passed
explicitly, so nothing of the experiment's own firm (or of another preset) leaks into it.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import yaml

from ..config import LEVERS, PRESETS_DIR, Settings, Shock, ShockKind, presets, settings
from ..model.market import LoyaltyMarket
from ..model.metrics import RECORD
from ..model.network import SocialNetwork
from ..model.vocabulary import Happened
from .journey import Journal

PRESETS = presets()
FIRM_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
WORLDS = ("A", "B")
SAMPLE_SIZE = 400  # customers drawn in the network view: enough to see communities, few enough to read
CURVES = ("share", "cumulative_profit", "advocacy", "customers", "n_devoted", "n_detractor", "incidents")


def colour(j: int) -> str:
    """Firm ``j``'s colour, the same in every view."""
    return FIRM_COLOURS[j % len(FIRM_COLOURS)]


@cache
def preset_levers(name: str) -> dict[str, float]:
    """Every lever of the preset ``name`` (``conf/policy/<name>.yaml``)."""
    values = yaml.safe_load((PRESETS_DIR / f"{name}.yaml").read_text())
    return {k: float(values[k]) for k in LEVERS}


@cache
def experiment_settings(name: str) -> Settings:
    """An experiment as its file sets it (firm names, market values, scheduled shocks)."""
    return settings(experiment=name)


@dataclass(frozen=True)
class Choice:
    """A firm's policy: a preset, whole, with optional lever changes; shown under ``label``."""

    label: str
    preset: str
    levers: dict[str, float] = field(default_factory=dict)

    @property
    def values(self) -> dict[str, float]:
        """Every lever as this choice sets it."""
        return {**preset_levers(self.preset), **self.levers}

    @classmethod
    def of(cls, preset: str) -> Choice:
        return cls(preset, preset)


@dataclass(frozen=True)
class Setup:
    """What the two worlds are made of. World B differs from world A only in firm 1's policy."""

    experiment: str = "giving_vs_taking"
    first: Choice = Choice.of("giving")  # firm 1 in world A
    twin: Choice = Choice.of("taking")  # firm 1 in world B
    others: tuple[Choice, ...] = (Choice.of("taking"),)  # firms 2, 3, ... in both worlds
    levers: tuple[tuple[int, str, float], ...] = ()  # moved lever sliders: (firm, lever, value); firm 1's: world A
    market: tuple[tuple[str, float], ...] = ()  # moved market sliders (both worlds)
    customers: int = 2000
    seed: int = 0

    def choice(self, world: int, firm: int) -> Choice:
        return (self.first if world == 0 else self.twin) if firm == 0 else self.others[firm - 1]

    def lever_values(self, world: int, firm: int) -> dict[str, float]:
        """Firm ``firm``'s levers in ``world``: its choice's, with the moved sliders that apply there."""
        values = self.choice(world, firm).values
        for j, lever, value in self.levers:
            if j == firm and (firm > 0 or world == 0):
                values[lever] = value
        return values


def build(setup: Setup, world: int) -> LoyaltyMarket:
    """One of the twin worlds; shocks come only from classroom moments."""
    names = list(experiment_settings(setup.experiment).firms)
    firms, chosen = {}, {}
    for j, name in enumerate(names):
        choice = setup.choice(world, j)
        chosen[name] = choice.preset
        firms[name] = {**setup.lever_values(world, j), "policy": choice.label}
    market = {**dict(setup.market), "shocks": []}
    return LoyaltyMarket(
        rng=setup.seed,
        experiment=setup.experiment,
        presets=chosen,
        firms=firms,
        market=market,
        customers={"n": setup.customers},
        progress=False,
    )


def labels(worlds: tuple[LoyaltyMarket, ...]) -> tuple[list[str], ...]:
    """Each firm under its policy's name, in words ("fake love"); a name that two firms of a world share is
    told apart by the firm's number, and a firm present in both worlds keeps one label in both."""
    policies = [[f.policy for f in w.firms] for w in worlds]
    shared = {p for names in policies for p in names if names.count(p) > 1}  # ambiguous in some world

    def label(world: int, j: int) -> str:
        p = policies[world][j]
        ambiguous = p in shared if j > 0 else policies[world].count(p) > 1
        return p.replace("_", " ") + (f" #{j + 1}" if ambiguous else "")

    return tuple([label(w, j) for j in range(len(names))] for w, names in enumerate(policies))


@dataclass(frozen=True)
class Moment:
    """A classroom moment: a shock from next week on, in both worlds."""

    key: str
    kind: ShockKind
    firm: int | None  # firm index (outages, price cuts)
    size: float
    duration: int  # weeks; 0: for the rest of the run

    @property
    def button(self) -> str:
        match self.kind:
            case ShockKind.OUTAGE:
                return f"Outage at firm {self.firm + 1}"
            case ShockKind.PRICE_CUT:
                return f"Firm {self.firm + 1} cuts its price"
            case ShockKind.RECESSION:
                return "Recession"
        return "Customers find their voice"

    def shock(self, week: int, names: list[str]) -> Shock:
        """The moment as the model's shock, striking from ``week`` (``names``: the market's firms)."""
        firm = names[self.firm] if self.firm is not None else None
        return Shock(kind=self.kind, week=week, duration=self.duration, size=self.size, firm=firm)

    def text(self, label: str | None) -> str:
        lasting = f"for {self.duration} weeks" if self.duration else "from now on"
        match self.kind:
            case ShockKind.OUTAGE:
                return f"firm {self.firm + 1} ({label}) suffers an outage {lasting}: service fails, incidents multiply"
            case ShockKind.PRICE_CUT:
                return f"firm {self.firm + 1} ({label}) cuts its price by {self.size:.0%} {lasting}"
            case ShockKind.RECESSION:
                return f"a recession {lasting}: customers are {1 + self.size:g} times as price-sensitive"
        return f"customers find their voice {lasting}: a word of mouth reaches strangers with chance {self.size:g}"


MOMENTS = {
    "outage": Moment("outage", ShockKind.OUTAGE, 0, 0.8, 4),
    "price_cut": Moment("price_cut", ShockKind.PRICE_CUT, 1, 0.3, 0),
    "recession": Moment("recession", ShockKind.RECESSION, None, 1.0, 104),
    "voice": Moment("voice", ShockKind.VOICE, None, 0.3, 0),
}


def moments_for(experiment: str) -> dict[str, Moment]:
    """The moments a class can trigger; an experiment's own scheduled shock sets its kind's size and length."""
    s = experiment_settings(experiment)
    names = list(s.firms)
    out = {}
    for key, m in MOMENTS.items():
        if m.firm is not None and m.firm >= len(names):
            continue  # no firm 2 to cut its price
        for shock in s.market.shocks:
            if shock.kind is m.kind:
                firm = names.index(shock.firm) if shock.firm is not None else m.firm
                m = Moment(key, m.kind, firm, shock.size, shock.duration)
                break
        out[key] = m
    return out


def connected_sample(net: SocialNetwork, seed: int, size: int = SAMPLE_SIZE) -> np.ndarray:
    """Customers to draw: a connected neighbourhood grown from one customer (all of a small market; a random
    set without ties). Uses its own generator, so drawing never shifts the model's random numbers."""
    n = net.n
    rng = np.random.default_rng([seed, 7])
    if n <= size:
        return np.arange(n)
    if net.mixed or not len(net.indices):
        return np.sort(rng.choice(n, size=size, replace=False))
    seen = np.zeros(n, bool)
    frontier = np.array([int(rng.integers(n))])
    seen[frontier] = True
    while seen.sum() < size and len(frontier):
        nbrs = np.concatenate([net.indices[net.indptr[i] : net.indptr[i + 1]] for i in frontier])
        frontier = np.unique(nbrs[~seen[nbrs]])[: size - int(seen.sum())]
        seen[frontier] = True
    return np.flatnonzero(seen)


def layout(net: SocialNetwork, nodes: np.ndarray) -> np.ndarray:
    """Positions in [0, 1]^2 of the drawn customers: force-directed along their ties, a sunflower without ties."""
    import networkx as nx

    g = net.to_networkx(nodes)
    if g.number_of_edges():
        pos = nx.spring_layout(g, seed=1, iterations=60)
        xy = np.array([pos[i] for i in nodes.tolist()])
    else:
        k = np.arange(len(nodes)) + 0.5
        r, theta = np.sqrt(k / len(nodes)), k * np.pi * (3 - np.sqrt(5))
        xy = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    return (xy - lo) / np.maximum(hi - lo, 1e-9)


@dataclass
class SharedLuck:
    """One week's incidents in the two worlds: customers with the same firm in both meet the same ones."""

    week: int
    incidents: tuple[int, int]  # in world A, in world B
    same_firm: int  # customers with the same firm in both worlds this week
    shared: int  # of them, with an incident in both worlds
    differ: int  # of them, with an incident in one world only (0: common random numbers hold)


class Twins:
    """Two worlds stepped together, with a diary of watched customers in each."""

    def __init__(self, setup: Setup, sample_size: int = SAMPLE_SIZE):
        self.setup = setup
        self.worlds = (build(setup, 0), build(setup, 1))
        self.names = self.worlds[0].names
        self.labels = labels(self.worlds)
        self.moments_available = moments_for(setup.experiment)
        self.moments: list[tuple[int, str]] = []  # (week it strikes, what happens)
        net = self.worlds[0].network  # the same in both worlds: drawn from the seed
        self.sample = connected_sample(net, setup.seed, sample_size)
        self.layout = layout(net, self.sample)
        self.journals = tuple(Journal(w, self.sample) for w in self.worlds)
        self.history: tuple[list[dict], list[dict]] = ([], [])
        self.luck: list[SharedLuck] = []
        self.model_ms: deque[float] = deque(maxlen=50)  # milliseconds per week, both worlds
        self._record()

    @property
    def week(self) -> int:
        return self.worlds[0].steps

    @property
    def n_firms(self) -> int:
        return len(self.names)

    def title(self, world: int) -> str:
        return f"World {WORLDS[world]}: firm 1's policy is {self.labels[world][0]}"

    def step(self, weeks: int = 1) -> None:
        """Run both worlds ``weeks`` weeks, in step."""
        for _ in range(weeks):
            start = time.perf_counter()
            before = [w.customers.firm.copy() for w in self.worlds]
            for world in self.worlds:
                world.step()
            self.model_ms.append(1000 * (time.perf_counter() - start))
            self._record()
            self._compare_luck(before)

    def trigger(self, key: str) -> str:
        """Strike both worlds with a classroom moment from next week on; returns what happens, in words."""
        m = self.moments_available[key]
        week = self.week + 1
        text = m.text(" / ".join(dict.fromkeys(lab[m.firm] for lab in self.labels)) if m.firm is not None else None)
        if (week, text) in self.moments:  # pressed again before the week ran: it strikes once
            return text
        for world in self.worlds:
            world.trigger(m.shock(week, self.names))
        self.moments.append((week, text))
        return text

    def conditions(self, world: int, week: int):
        """What the market's shocks make of ``week`` in ``world``: each firm's outage severity, price factor..."""
        from ..model.shocks import conditions_at

        w = self.worlds[world]
        return conditions_at(w.shocks, week, w.names, w.settings.market.reach)

    def price_factor(self, world: int, week: int) -> np.ndarray:
        """Each firm's price as a share of its lever's in ``week`` (a price cut the class struck: below 1)."""
        return self.conditions(world, week).price_factor

    def outage(self, world: int, week: int) -> np.ndarray:
        """Outage severity per firm in ``week`` (for the customers' stories)."""
        return self.conditions(world, week).outage

    def _record(self) -> None:
        for world, rows in zip(self.worlds, self.history, strict=True):
            rows.append({name: [RECORD[name][1](f) for f in world.firms] for name in CURVES} | {"week": world.steps})
        if self.week > 0:
            for journal in self.journals:
                journal.record()

    def _compare_luck(self, before: list[np.ndarray]) -> None:
        a, b = self.worlds
        hit = [(w.customers.happened & Happened.INCIDENT) != 0 for w in self.worlds]  # as the rule recorded it
        same = (before[0] == before[1]) & (before[0] < self.n_firms) & (a.customers.identity == b.customers.identity)
        shared = int((hit[0] & hit[1] & same).sum())
        differ = int(((hit[0] != hit[1]) & same).sum())
        self.luck.append(SharedLuck(self.week, (int(hit[0].sum()), int(hit[1].sum())), int(same.sum()), shared, differ))
