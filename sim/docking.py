"""Docking of the engines: run the compiled and the agents engine on the same seed and config, week by week.

    python -m sim.docking                                  # 300 customers, 104 weeks
    python -m sim.docking customers.n=500 steps=260 experiment=newcomer
    python -m sim.docking --chunk 256 customers.n=2000     # the compiled engine's work in chunks of 256 customers

The engines draw the same random numbers, so every customer's
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
from .runs.errors import ArgumentParser, command, number

COMPARED = (*(v.name for v in STATE), "remembered")  # every declared state variable, and the memory they imply


@dataclass
class Divergence:
    week: int
    what: str  # a customer state variable, or "ledger"
    customers: list[int]

    def __str__(self) -> str:
        who = f" (customers {self.customers})" if self.customers else ""
        return f"engines differ in week {self.week}: {self.what}{who}"


def first_difference(one: LoyaltyMarket, other: LoyaltyMarket, week: int) -> Divergence | None:
    """The first customer state variable or recorded row in which the two models differ, if any."""
    for name in COMPARED:
        x, y = np.asarray(getattr(one.customers, name)), np.asarray(getattr(other.customers, name))
        if x.shape != y.shape or not np.array_equal(x.astype(y.dtype), y):
            differ = (x.reshape(len(x), -1) != y.reshape(len(y), -1)).any(axis=1)
            return Divergence(week, name, np.flatnonzero(differ)[:10].tolist())
    for what, table in (
        ("ledger", LoyaltyMarket.timeseries),
        ("segments", LoyaltyMarket.segment_timeseries),
        ("tenure", LoyaltyMarket.tenure_timeseries),
        ("cohorts", LoyaltyMarket.cohort_timeseries),
    ):
        if not table(one).equals(table(other)):
            return Divergence(week, what, [])
    return None


def compare(overrides: list[str] | None = None, chunk: int | None = None) -> tuple[int, Divergence | None]:
    """Step the compiled and the agents engine for the configured weeks; return (weeks compared, first divergence).

    ``chunk``: the compiled engine's customers per unit of parallel work (default: its own).
    """
    base = [
        "customers.n=300",
        "steps=104",
        "progress=false",
        *(o for o in overrides or [] if not o.startswith("engine=")),
    ]
    options = {} if chunk is None else {"chunk": chunk}
    one = LoyaltyMarket(load([*base, "engine=compiled"]), engine_options=options)
    other = LoyaltyMarket(load([*base, "engine=agents"]))
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
    ap = ArgumentParser(prog="python -m sim.docking", description="Dock the compiled and the agents engine.")
    ap.add_argument("--chunk", type=number(int, 1, 1 << 20), default=None, help="the compiled engine's chunk size")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides (customers.n=500 experiment=newcomer ...)")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    weeks, divergence = compare(args.overrides, args.chunk)
    if divergence:
        print(divergence)
        return 1
    print(f"identical: every customer's state and every recorded row, weeks 0-{weeks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
