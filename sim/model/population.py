"""The customer population: what every engine offers the market, and the engines that exist.

Two engines hold the same declared state (``sim.model.state``) and apply the same rules, each rule a function or
method of the same name (the ODD's process overview): ``agents``, one Mesa agent per customer, the readable
reference; and ``compiled``, the same rules as Numba kernels on all cores, the default. They are docked bit for
bit (``tests/test_docking.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..config import Engine

if TYPE_CHECKING:
    from .market import LoyaltyMarket
    from .network import SocialNetwork
    from .streams import Streams
    from .vocabulary import Offer, Tally


class Population(Protocol):
    """Every customer of the market, as an engine holds them.

    Each state variable declared in ``sim.model.state`` reads as an array indexed by customer
    (``population.bond``; a firm index of "no firm" reads as ``n_firms``).
    """

    n: int  # customers
    n_firms: int
    no_firm: int  # the index of "no firm": n_firms
    week: int  # the week last lived

    def step(self, week: int, offer: Offer, net: SocialNetwork, streams: Streams) -> Tally:
        """One week in the life of every customer; what happened, counted per firm."""
        ...

    def classify(self, offer: Offer) -> None:
        """Every customer's place on the ladder, read off their state (at week 0, before any week)."""
        ...

    def census(self) -> tuple[np.ndarray, np.ndarray]:
        """(stocks, grudges): everyone by firm (F: none; the defected: the firm they left), segment and ladder
        state, shape (F + 1, segments, len(Ladder)); people holding a grudge, by firm (F + 1)."""
        ...

    def counts_by_state(self) -> np.ndarray:
        """(F, len(Ladder)) customers by ladder state per firm; the defected by the firm they left."""
        ...

    @property
    def remembered(self) -> np.ndarray:
        """Every customer's remembered experience (recency trace plus weighted peaks)."""
        ...

    @property
    def has_firm(self) -> np.ndarray: ...

    def __getattr__(self, name: str) -> Any: ...


def _agents(model: LoyaltyMarket, network: SocialNetwork, *args, **options) -> Population:
    from .agents import CustomerAgents  # Mesa's discrete space: imported only for this engine

    return CustomerAgents(model, *args, network, **options)


def _compiled(model: LoyaltyMarket, network: SocialNetwork, *args, **options) -> Population:
    from .compiled import CompiledCustomers  # Numba: imported only for this engine

    return CompiledCustomers(*args, **options)


# Each engine's constructor: (model, network, customers config, market config, firms, initial weights, service,
# streams, **options), options as the engine takes them (the compiled engine's ``chunk``).
ENGINES: dict[Engine, Callable[..., Population]] = {Engine.AGENTS: _agents, Engine.COMPILED: _compiled}


def populate(engine: Engine, model: LoyaltyMarket, network: SocialNetwork, *args, **options) -> Population:
    """The customers of ``model``, held by ``engine``."""
    return ENGINES[engine](model, network, *args, **options)
