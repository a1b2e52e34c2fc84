"""Common random numbers that hold: every draw of a customer is a pure function of who and what.

A customer's random number is ``mix(key(seed, decision, week, j) ^ identity)``, the ``j``-th die of
that customer for that kind of decision in that week: a counter-based generator (the splitmix64
finalizer as a hash, as in Starsim), not a stream consumed in customer order. So a customer draws
the same numbers in two worlds whatever the other customers do, and a run's numbers do not depend
on how many customers drew before, on the engine, or on the number of threads.

Identity: each customer slot starts with the label ``mix(slot + GOLDEN)``; a newcomer who takes a
slot after a departure takes the slot's next label, ``mix(label)`` (``next_identity``). Two worlds
whose customer left the market at the same week give the newcomer the same identity.

Uniforms come from the top 24 (float32) or 53 (float64) bits of the hash, so they are exact and
lie in [0, 1). Normals are ``scipy.special.ndtri`` of a float64 uniform (elementwise, the same on a
scalar and an array).
"""

from __future__ import annotations

import zlib
from enum import IntEnum

import numpy as np
from numba import njit
from scipy.special import ndtri

U64 = np.uint64
MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
_C1, _C2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


class Decision(IntEnum):
    """The kinds of a customer's random decisions: each has its own keys (common random numbers).

    One enumeration for every engine: a decision's keys are labelled by its name (``Dice``), and its number is
    its row in this week's table of keys that compiled code reads (``Dice.table``: ``keys[Decision.GIFTS, 0]``).
    """

    INIT = 0  # the week-0 population: who buys where, since when, how bonded
    TRAITS = 1  # a person's traits, drawn when they enter the market
    TURNOVER = 2  # who leaves the market
    INCIDENTS = 3  # who needs service this week
    EXPERIENCE = 4  # noise in how service is experienced
    GIFTS = 5  # free fixes
    COMPLAINTS = 6  # voicing (die 0) and handling (die 1) of complaints
    DETECTION = 7  # seeing through claims that exceed acts
    OFFERS = 8  # proactive advice (die 0), upsell contact (1), acceptance (2), advice taken up (3), upsell fits (4)
    WOM = 9  # who talks (die 0), to which tie (1), broadcast or not (2)
    BROADCAST = 10  # who hears a word of mouth broadcast beyond one's ties
    VENT = 11  # who talks against a firm they left unhappy (die 0), to which tie (1), broadcast or not (2)
    VENT_BROADCAST = 12  # who hears such venting broadcast beyond one's ties
    ADVERTISING = 13  # ad exposure (die 0) and whose ad (1)
    REVIEW = 14  # who reconsiders their supplier
    CHOICE = 15  # logit choice among firms (one Gumbel die per option)
    CONTACTS = 16  # settling an incident by self-service (die 0), fixing it at the first call (1)
    DISCOVERY = 17  # finding out one pays above one's need (die 0), acting on it (1)

    @property
    def label(self) -> str:
        """The name the decision's keys are derived from (``Dice``)."""
        return self.name.lower()


def mix(x: int) -> int:
    """The splitmix64 finalizer on a Python int (keys; the compiled ``_mix`` is the same function)."""
    x &= MASK
    x = ((x ^ (x >> 30)) * _C1) & MASK
    x = ((x ^ (x >> 27)) * _C2) & MASK
    return x ^ (x >> 31)


@njit(cache=True, inline="always")
def _mix(x):
    x = (x ^ (x >> U64(30))) * U64(_C1)
    x = (x ^ (x >> U64(27))) * U64(_C2)
    return x ^ (x >> U64(31))


@njit(cache=True, inline="always")
def die32(key, identity):
    """One float32 die in [0, 1): the top 24 bits of ``mix(key ^ identity)`` (compiled code calls it per customer)."""
    return np.float32(_mix(key ^ identity) >> U64(40)) * np.float32(1.0 / 16777216.0)


@njit(cache=True, inline="always")
def die64(key, identity):
    """One float64 die in [0, 1): the top 53 bits of ``mix(key ^ identity)``."""
    return np.float64(_mix(key ^ identity) >> U64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def _hash(keys, identity, out):
    for i in range(identity.shape[0]):
        h = identity[i]
        for j in range(keys.shape[0]):
            out[i, j] = _mix(keys[j] ^ h)


@njit(cache=True, nogil=True)
def _uniform32(keys, identity, out):
    for i in range(identity.shape[0]):
        h = identity[i]
        for j in range(keys.shape[0]):
            out[i, j] = die32(keys[j], h)


@njit(cache=True, nogil=True)
def _uniform64(keys, identity, out):
    for i in range(identity.shape[0]):
        h = identity[i]
        for j in range(keys.shape[0]):
            out[i, j] = die64(keys[j], h)


@njit(cache=True)
def _weekly_keys(bases, week, out):
    """``out[d, j]``: the key of die ``j`` of the decision whose base is ``bases[d]``, in ``week`` (as ``Dice.keys``)."""
    golden = U64(GOLDEN)
    salt = _mix(U64(week) + golden)
    for d in range(bases.shape[0]):
        weekly = _mix(bases[d] ^ salt)
        for j in range(out.shape[1]):
            out[d, j] = _mix(weekly + U64(j + 1) * golden)


@njit(cache=True)
def _next(identity, who):
    for i in who:
        identity[i] = _mix(identity[i])


def first_identities(n: int) -> np.ndarray:
    """The labels of slots 0..n-1 at week 0."""
    out = np.empty((n, 1), U64)
    _hash(np.array([GOLDEN], U64), np.arange(n, dtype=U64), out)
    return out[:, 0]


def next_identity(identity: np.ndarray, who: np.ndarray) -> None:
    """Newcomers take the next label of their slot, in place."""
    _next(identity, np.asarray(who, np.int64))


class Dice:
    """Each customer's dice for each kind of decision, week and index: ``dice.uniform(Decision.OFFERS, week, ids, 3)``."""

    def __init__(self, seed: int):
        self.seed = seed
        self._base = {d: mix(mix(seed + GOLDEN) ^ mix(zlib.crc32(d.label.encode()))) for d in Decision}
        self._bases = np.array([self._base[d] for d in Decision], U64)
        self._keys: dict[tuple, np.ndarray] = {}  # this week's keys, computed once

    def keys(self, decision: Decision, week: int, k: int) -> np.ndarray:
        """The keys of dice 0..k-1 of ``decision`` in ``week``."""
        cached = self._keys.get((decision, week, k))
        if cached is None:
            if len(self._keys) > 64:
                self._keys.clear()
            weekly = mix(self._base[decision] ^ mix(week + GOLDEN))
            cached = np.array([mix(weekly + (j + 1) * GOLDEN) for j in range(k)], U64)
            self._keys[(decision, week, k)] = cached
        return cached

    def table(self, week: int, k: int) -> np.ndarray:
        """The keys of dice 0..k-1 of every decision in ``week``: row ``d`` is ``keys(Decision(d), week, k)``."""
        out = np.empty((len(Decision), k), U64)
        _weekly_keys(self._bases, week, out)
        return out

    def uniform(self, decision: Decision, week: int, identity: np.ndarray, k: int = 1) -> np.ndarray:
        """Float32 uniforms on [0, 1): shape (len(identity), k)."""
        identity = np.ascontiguousarray(identity, U64)
        out = np.empty((len(identity), k), np.float32)
        _uniform32(self.keys(decision, week, k), identity, out)
        return out

    def uniform64(self, decision: Decision, week: int, identity: np.ndarray, k: int = 1) -> np.ndarray:
        """Float64 uniforms on [0, 1): shape (len(identity), k)."""
        identity = np.ascontiguousarray(identity, U64)
        out = np.empty((len(identity), k), np.float64)
        _uniform64(self.keys(decision, week, k), identity, out)
        return out

    def normal(self, decision: Decision, week: int, identity: np.ndarray, k: int = 1) -> np.ndarray:
        """Float32 standard normals: shape (len(identity), k)."""
        u = self.uniform64(decision, week, identity, k)
        return ndtri(np.maximum(u, 2.0**-54)).astype(np.float32)  # u = 0 would give -inf
