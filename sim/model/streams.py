"""Common random numbers: one independent numpy Generator per kind of decision.

Each stream is derived from the run's seed and the stream's *name*, so adding a
stream never shifts another, and two policies run on the same seed face the same
network, the same incidents and the same noise: they differ by mechanism only.
"""

from __future__ import annotations

import zlib

import numpy as np

STREAMS: tuple[str, ...] = (
    "network",  # the social graph
    "init",  # initial customers, tastes and bonds
    "incidents",  # which customers need service this week
    "experience",  # noise in how service is experienced
    "gifts",  # free fixes
    "offers",  # proactive advice and upsell contacts
    "complaints",  # voicing and handling of complaints
    "detection",  # seeing through claims that exceed acts
    "wom",  # who talks and to whom
    "broadcast",  # who hears a word of mouth broadcast beyond one's ties
    "advertising",  # ad exposure
    "review",  # who reconsiders their supplier
    "choice",  # logit choice among firms
    "turnover",  # who leaves the market and the newcomers who replace them
)


class Streams:
    """Named generators: ``streams.incidents.random(n)``."""

    def __init__(self, seed: int):
        self.seed = seed
        for name in STREAMS:
            ss = np.random.SeedSequence(entropy=seed, spawn_key=(zlib.crc32(name.encode()),))
            setattr(self, name, np.random.Generator(np.random.PCG64(ss)))

    def __getattr__(self, name: str) -> np.random.Generator:  # only reached for unknown names
        raise AttributeError(f"no random stream named {name!r}; known: {', '.join(STREAMS)}")
