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
from ..model.metrics import LONG_RUN_WEEKS, annual_churn, economics, summarize_tenure
from ..model.vocabulary import TENURE_YEARS

YEAR = LONG_RUN_WEEKS
MAX_YEARS = 20  # the longest retention curve a card may hold


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
    "margin": ("profit over revenue, after the first year", lambda g: economics(_late(g))["margin"]),
    "acquisition_cost": (
        "advertising, discounts and referral rewards per customer acquired (price units), after the first year",
        lambda g: economics(_late(g))["acquisition_cost"],
    ),
    "contact_cost_share": (
        "the cost of handling calls over revenue, after the first year",
        lambda g: economics(_late(g))["contact_cost_share"],
    ),
    "retention_year_1": ("of the customers acquired in a week, the share still there a year later", None),
    **{
        f"retention_year_{k}": (
            f"of those there {k - 1} year{'s' if k > 2 else ''} after acquisition, the share still there a year later",
            None,
        )
        for k in range(2, MAX_YEARS + 1)
    },
    **{
        f"{what}_tenure_year_{k}": (
            f"{text} per customer-week (price units) of customers in year {k} with the firm"
            f"{' or later' if k == TENURE_YEARS + 1 else ''}, after the first year",
            None,
        )
        for what, text in (("arpu", "revenue"), ("profit", "revenue less cost to serve"))
        for k in range(1, TENURE_YEARS + 2)
    },
}
RETENTION = tuple(k for k in KPIS if k.startswith("retention_year_"))
TENURE = tuple(k for k in KPIS if "_tenure_year_" in k)
NONNEGATIVE = ("arpu", "acquisition_cost", "contact_cost_share", *(k for k in TENURE if "arpu" in k))
FRACTIONS = ("share", "annual_churn", "referral_share", "complaint_rate", *RETENTION)  # KPIs between 0 and 1


def allowed() -> str:
    """The KPIs a card may observe, families by their range (for a one-line error)."""
    single = [k for k in KPIS if k not in RETENTION and k not in TENURE]
    families = [f"retention_year_1..{MAX_YEARS}"] + [
        f"{w}_tenure_year_1..{TENURE_YEARS + 1}" for w in ("arpu", "profit")
    ]
    return ", ".join([*single, *families])


def retention_year(kpi: str) -> int:
    """The year a retention KPI is of (0 for any other KPI)."""
    return int(kpi.rsplit("_", 1)[1]) if kpi in RETENTION else 0


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


def by_tenure(model: LoyaltyMarket, ts: pd.DataFrame) -> dict[tuple[str, str], float]:
    """Each firm's revenue and profit per customer-week by the year of its customers' tenure, after the first
    year: {(firm, kpi): value}."""
    tenure = model.tenure_timeseries()
    table = summarize_tenure(tenure[tenure.week > YEAR], ts).reset_index()
    out = {}
    for row in table.itertuples(index=False):
        k = int(row.tenure_year) + 1
        out[str(row.firm), f"arpu_tenure_year_{k}"] = float(row.revenue_per_customer_week)
        out[str(row.firm), f"profit_tenure_year_{k}"] = float(row.profit_per_customer_week)
    return out


def run(settings: Settings, retention: int = 0, tenure: bool = False) -> dict[tuple[str, str], float]:
    """Run one market and measure every KPI of every firm: {(firm, kpi): value}, with the retention of
    acquisition cohorts in each of their first ``retention`` years and, with ``tenure``, the KPIs by tenure."""
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
        for (name, year), value in acquisition_retention(joined, firm, model.names, retention).items():
            out[name, f"retention_year_{year}"] = value
    if tenure:
        out |= by_tenure(model, ts)
    return out
