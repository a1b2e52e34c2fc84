"""Shocks at chosen weeks: outages, price cuts, recessions, a louder customer voice."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import Shock, ShockKind


@dataclass(frozen=True)
class Conditions:
    """Market conditions in one week."""

    outage: np.ndarray  # severity per firm, in [0, 1]
    price_factor: np.ndarray  # price multiplier per firm
    price_sensitivity: float  # market-wide multiplier of price sensitivity
    reach: float  # chance a word of mouth is broadcast


def active(shock: Shock, week: int) -> bool:
    return week >= shock.week and (shock.duration == 0 or week < shock.week + shock.duration)


def conditions_at(shocks: list[Shock], week: int, firms: list[str], reach: float) -> Conditions:
    """Combine the shocks active at ``week`` into this week's conditions."""
    outage = np.zeros(len(firms))
    price = np.ones(len(firms))
    sensitivity = 1.0
    for s in shocks:
        if not active(s, week):
            continue
        match s.kind:
            case ShockKind.OUTAGE:
                i = firms.index(s.firm)
                outage[i] = max(outage[i], s.size)
            case ShockKind.PRICE_CUT:
                price[firms.index(s.firm)] *= max(1.0 - s.size, 0.0)
            case ShockKind.RECESSION:
                sensitivity *= 1.0 + s.size
            case ShockKind.VOICE:
                reach = s.size
    return Conditions(outage, price, sensitivity, reach)
