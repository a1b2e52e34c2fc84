"""The observable numbers of a market, per firm: what a market card reports and a run is measured by.

Each KPI is declared once here, with its definition; the market card (``conf/market_data/``), the
calibration, the what-if report and ``python -m sim.validate observables`` all read this table.
Flows are measured after the first year (the run's start is not a market's history).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ..config import Settings
from ..model.market import LoyaltyMarket
from ..model.metrics import LONG_RUN_WEEKS, annual_churn

YEAR = LONG_RUN_WEEKS


def _late(g: pd.DataFrame) -> pd.DataFrame:
    return g[g.week > YEAR]


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else np.nan


# KPI: (definition, how it is read off a firm's timeseries; retention KPIs read the acquisition tracking).
KPIS: dict[str, tuple[str, Callable[[pd.DataFrame], float] | None]] = {
    "share": ("market share: the mean over the last 52 weeks", lambda g: float(g.share.iloc[-YEAR:].mean())),
    "annual_churn": (
        "customers lost a year (defections and departures) over mean customers, years after the first",
        lambda g: annual_churn(g, skip_years=1),
    ),
    "advocacy": (
        "NPS-style: 100 x (devoted - detractors) / customers, mean of the last 52 weeks",
        lambda g: float(g.advocacy.iloc[-YEAR:].mean()),
    ),
    "referral_share": (
        "share of acquisitions prompted by a referral, after the first year",
        lambda g: _ratio(_late(g).acquired_referral.sum(), _late(g).acquisitions.sum()),
    ),
    "complaint_rate": (
        "share of problems voiced as complaints, after the first year",
        lambda g: _ratio(_late(g).complaints.sum(), _late(g).problems.sum()),
    ),
    "arpu": (
        "revenue per customer-week (in the card's price units), after the first year",
        lambda g: _ratio(_late(g).revenue.sum(), _late(g).customers.sum()),
    ),
    "retention_year_1": ("of the customers acquired in a week, the share still there a year later", None),
    "retention_year_2": ("of those there a year after acquisition, the share still there a year after that", None),
}
RETENTION = tuple(k for k, (_, read) in KPIS.items() if read is None)


def acquisition_retention(joined: np.ndarray, firm: np.ndarray, names: list[str], years: int) -> dict:
    """Fader & Hardie's measure from per-week arrays of join week and firm: {(firm, year): retention}."""
    steps = joined.shape[0] - 1
    at_risk = np.zeros((len(names), years))
    kept = np.zeros((len(names), years))
    for w in range(1, steps - YEAR + 1):
        new = np.flatnonzero(joined[w] == w)
        if not len(new):
            continue
        f = firm[w, new]
        alive = np.ones(len(new), bool)
        for k in range(years):
            t = w + (k + 1) * YEAR
            if t > steps:
                break
            still = alive & (joined[t, new] == w)
            at_risk[:, k] += np.bincount(f[alive], minlength=len(names))[: len(names)]
            kept[:, k] += np.bincount(f[still], minlength=len(names))[: len(names)]
            alive = still
    return {
        (name, k + 1): kept[i, k] / at_risk[i, k] if at_risk[i, k] else np.nan
        for i, name in enumerate(names)
        for k in range(years)
    }


def run(settings: Settings, retention: bool = False) -> dict[tuple[str, str], float]:
    """Run one market and measure every KPI of every firm: {(firm, kpi): value}."""
    model = LoyaltyMarket(settings)
    c, steps = model.customers, settings.steps
    if retention:
        joined = np.empty((steps + 1, c.n), np.int32)
        firm = np.empty((steps + 1, c.n), np.int16)
        joined[0], firm[0] = c.joined_week, c.firm
    for week in range(1, steps + 1):
        model.step()
        if retention:
            joined[week], firm[week] = c.joined_week, c.firm
    ts = model.timeseries()
    out = {}
    for name, g in ts.groupby("firm", sort=False):
        for kpi, (_, read) in KPIS.items():
            if read is not None:
                out[str(name), kpi] = read(g)
    if retention:
        for (name, year), value in acquisition_retention(joined, firm, model.names, len(RETENTION)).items():
            out[name, f"retention_year_{year}"] = value
    return out
