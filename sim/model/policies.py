"""Policies: a firm's levers over time and what each lever does and costs.

A policy is a set of levers (``conf/policy/*.yaml``, the ``sim.config.Levers`` fields).
Planned ``changes`` move levers linearly over a ramp, so a firm can drift from giving
to taking and back.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import numpy as np

from ..config import Costs, FirmConfig, Levers

# Levers whose settings are acts of customer-centricity; upsell counts inverted.
GIVING_ACTS = ("generosity", "proactive_advice", "humanity", "speed", "ease", "listening")


def levers_at(firm: FirmConfig, week: int) -> Levers:
    """The firm's levers at ``week``, after its planned changes (linear ramps)."""
    levers = {k: float(v) for k, v in dataclasses.asdict(firm.levers).items()}
    for change in sorted(firm.changes, key=lambda c: c.week):
        if week < change.week:
            break
        t = 1.0 if change.ramp == 0 else min(1.0, (week - change.week + 1) / change.ramp)
        for k, target in change.levers.items():
            levers[k] += t * (target - levers[k])
    return Levers(**levers)


def service_level(levers: Levers, quality: float, weights: list[float]) -> float:
    """Service level in [0, 1]: weighted quality, speed, ease and humanity of contact."""
    parts = np.array([quality, levers.speed, levers.ease, levers.humanity])
    w = np.asarray(weights, dtype=float)
    return float(parts @ w / w.sum()) if w.sum() > 0 else 0.0


# Asked every week of levers that seldom change: remembered (levers are frozen, hence hashable).
@lru_cache(maxsize=1024)
def acts(levers: Levers) -> float:
    """How customer-centric the firm's acts are, on the scale of its claims."""
    return float(np.mean([getattr(levers, k) for k in GIVING_ACTS] + [1.0 - levers.upsell]))


def running_cost(levers: Levers, costs: Costs, customers: float, typical: float) -> tuple[float, float]:
    """Weekly running cost of serving ``customers`` at these lever settings (events excluded), and its fixed part.

    The base and quality costs of a firm of ``typical`` customers are split: a share ``fixed_share`` is fixed per
    firm (network, systems, brand), the rest is per customer, so a larger firm serves each customer for less. The
    service levers' costs are per customer.
    """
    variable = 1.0 - costs.fixed_share
    per = (
        costs.per_customer * variable
        + costs.quality * variable * levers.quality
        + costs.speed * levers.speed
        + costs.ease * levers.ease
        + costs.humanity * levers.humanity
        + costs.listening * levers.listening
    )
    fixed = costs.fixed_share * (costs.per_customer + costs.quality * levers.quality) * typical
    return per * customers + fixed, fixed
