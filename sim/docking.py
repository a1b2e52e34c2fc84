"""Docking of the two engines: run both on the same seed and config, week by week.

    python -m sim.docking                                  # 300 customers, 104 weeks
    python -m sim.docking customers.n=500 steps=260 experiment=newcomer

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


def compare(overrides: list[str] | None = None) -> tuple[int, Divergence | None]:
    """Step both engines for the configured weeks; return (weeks compared, first divergence)."""
    overrides = [o for o in (overrides or []) if not o.startswith("engine=")]
    base = ["customers.n=300", "steps=104", "progress=false", *overrides]
    vectorized = LoyaltyMarket(load([*base, "engine=vectorized"]))
    agents = LoyaltyMarket(load([*base, "engine=agents"]))
    if d := first_difference(vectorized, agents, 0):
        return 0, d
    steps = vectorized.settings.steps
    for week in range(1, steps + 1):
        vectorized.step()
        agents.step()
        if d := first_difference(vectorized, agents, week):
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
