"""Docking of the engines: run two on the same seed and config, week by week.

    python -m sim.docking                                  # the configured engine against agents: 300 customers, 104 weeks
    python -m sim.docking customers.n=500 steps=260 experiment=newcomer
    python -m sim.docking engine=vectorized                # the numpy engine against the agents engine

The engines draw the same random numbers in the same order, so every customer's
state (every variable declared in ``sim.model.state``) and every recorded row must be
identical, bit for bit; the first difference is reported (the week, the variable or
"ledger", the customers).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from .config import load
from .model.market import LoyaltyMarket
from .model.state import STATE
from .runs.errors import command

COMPARED = (*(v.name for v in STATE), "remembered")  # every declared state variable, and the memory they imply


@dataclass
class Divergence:
    week: int
    what: str  # a customer state variable, or "ledger"
    customers: list[int]

    def __str__(self) -> str:
        who = f" (customers {self.customers})" if self.customers else ""
        return f"engines differ in week {self.week}: {self.what}{who}"


def first_difference(vectorized: LoyaltyMarket, agents: LoyaltyMarket, week: int) -> Divergence | None:
    """The first customer state variable or recorded row in which the two models differ, if any."""
    for name in COMPARED:
        x, y = np.asarray(getattr(vectorized.customers, name)), np.asarray(getattr(agents.customers, name))
        if x.shape != y.shape or not np.array_equal(x.astype(y.dtype), y):
            differ = (x.reshape(len(x), -1) != y.reshape(len(y), -1)).any(axis=1)
            return Divergence(week, name, np.flatnonzero(differ)[:10].tolist())
    if not vectorized.timeseries().equals(agents.timeseries()):
        return Divergence(week, "ledger", [])
    return None


def compare(
    overrides: list[str] | None = None, engines: tuple[str, str] | None = None
) -> tuple[int, Divergence | None]:
    """Step two engines for the configured weeks; return (weeks compared, first divergence).

    ``engines``: the two to dock; by default the configured engine (``engine=``) against the agents engine (the
    agents engine against the numpy one).
    """
    base = ["customers.n=300", "steps=104", "progress=false", *(overrides or [])]
    if engines is None:
        chosen = load(base).engine.value
        engines = (chosen, "agents" if chosen != "agents" else "vectorized")
    base = [o for o in base if not o.startswith("engine=")]
    one, other = (LoyaltyMarket(load([*base, f"engine={engine}"])) for engine in engines)
    if d := first_difference(one, other, 0):
        return 0, d
    steps = one.settings.steps
    for week in range(1, steps + 1):
        one.step()
        other.step()
        if d := first_difference(one, other, week):
            return week, d
    return steps, None


@command
def main(argv: list[str] | None = None) -> int:
    overrides = sys.argv[1:] if argv is None else argv
    if {"-h", "--help"} & set(overrides):
        print(__doc__)
        return 0
    weeks, divergence = compare(overrides)
    if divergence:
        print(divergence)
        return 1
    print(f"identical: every customer's state and every recorded row, weeks 0-{weeks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
