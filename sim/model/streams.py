"""Common random numbers: the run's random sources, derived from its seed.

Customers' decisions draw from ``dice`` (``sim.model.draws``): each number a pure function of
(seed, kind of decision, week, customer identity, index), so a customer meets the same luck in
two worlds whatever the others do. What is drawn once for the whole market (the social network)
comes from numpy Generators, one per name, each derived from the seed and the name, so adding a
stream never shifts another. A managed firm explores with a Generator of its own (``generator``),
never with the customers' dice.
"""

from __future__ import annotations

import zlib

import numpy as np

from .draws import Dice

STREAMS: tuple[str, ...] = ("network",)  # market-level draws: the social graph


class Streams:
    """The run's random sources: ``streams.dice`` for customers, ``streams.network`` for the graph."""

    def __init__(self, seed: int):
        self.seed = seed
        self.dice = Dice(seed)
        for name in STREAMS:
            setattr(self, name, self.generator(name))

    def generator(self, name: str) -> np.random.Generator:
        """A Generator of its own for ``name`` (e.g. one firm's management), derived from the seed and the name."""
        ss = np.random.SeedSequence(entropy=self.seed, spawn_key=(zlib.crc32(name.encode()),))
        return np.random.Generator(np.random.PCG64(ss))

    def __getattr__(self, name: str) -> np.random.Generator:  # only reached for unknown names
        raise AttributeError(f"no random stream named {name!r}; known: dice, {', '.join(STREAMS)}")
