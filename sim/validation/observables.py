"""The default world's observable numbers against published ranges (``docs/validation.md``).

    python -m sim.validate observables                 # 5,000 customers, ten years, seeds 0-4
    python -m sim.validate observables --seeds 10 customers/segments=alike

Per firm of the default duopoly, over replicated runs: annual churn, advocacy (NPS-style), the
share of acquisitions by referral, the share of problems voiced as complaints, and the retention of
acquisition cohorts by year of tenure; each with its mean and 95% interval over seeds, beside the
published range and its source. Writes ``results/validation/observables.csv``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from ..config import load
from ..intervals import mean_interval
from ..model.metrics import annual_churn, economics
from ..runs.arguments import add_customers, add_jobs, add_seeds
from ..runs.errors import ArgumentParser, failing_as
from ..runs.results import write_atomic
from . import facts

YEAR = 52

# Observable: (low, high, source) of its published range. Ranges are for subscription services
# (mobile telephony where there is a figure for it), wide on purpose: the model is not one market.
PUBLISHED: dict[str, tuple[float, float, str]] = {
    "annual_churn": (
        0.05,
        0.40,
        "postpaid mobile 5-32% a year (TM Forum, 2019); US postpaid about 1% a month (AT&T, Verizon: "
        "Strategy Analytics, 2012); the global average, prepaid included, under 3% a month (Strategy Analytics, 2018)",
    ),
    "advocacy": (
        -20.0,
        40.0,
        "NPS of telecom firms: industry averages +5 (WDS, 2014) and +24 (Satmetrix, 2018); internet providers -1 "
        "(Satmetrix, 2018); Comcast -9, Verizon +7, AT&T +15 (2018)",
    ),
    "referral_share": (
        0.20,
        0.50,
        "word of mouth is the primary factor in 20-50% of purchase decisions (Bughin, Doogan & Vetvik, "
        "McKinsey Quarterly, 2010)",
    ),
    "complaint_rate": (
        0.04,
        0.50,
        "of customers with a problem, about 4% complain to the firm ('1 in 27', TARP) and fewer than half "
        "report it at all (TARP studies, 1979-1986)",
    ),
    "retention_year_1": (
        0.63,
        0.87,
        "first-year retention of two cohorts, regular 0.63 and high-end 0.87 (Fader & Hardie 2007, from "
        "Berry & Linoff 2004)",
    ),
    "retention_year_4": (
        0.85,
        0.91,
        "fourth-year retention, regular 0.853 and high-end 0.908 (Fader & Hardie 2007)",
    ),
    # A firm's economics (after the first year).
    "margin": (
        0.20,
        0.45,
        "EBITDA margins of six large European operators 30.7-41.7% in 2019 (Telecom Italia 41.7, Vodafone 31.9, BT "
        "31.6, Telefonica 31.2, Orange 30.8, Deutsche Telekom 30.7; the operators' reports); 25-35% generally "
        "(Quayle 2008)",
    ),
    "acquisition_retention_share": (
        0.05,
        0.20,
        "acquisition and retention (SAC+SRC) 15-20% of service revenue, the average mature-market mobile operator "
        "in 2014 (tefficient 2015), in the era of subsidised handsets",
    ),
    "contact_cost_share": (
        0.05,
        0.12,
        "2.5 calls a mobile subscriber-year (Oliver Wyman 2013) at GBP 6.26 a call (ContactBabel 2023-24) over GBP "
        "14.9 a month (Ofcom CMR 2016): 8.7% of revenue",
    ),
    "failure_demand_share": (
        0.40,
        0.90,
        "failure demand 40-60% of demand in typical service organisations, 70-90% in telecoms (Seddon, Vanguard)",
    ),
    "calls_per_customer_year": (
        1.5,
        3.5,
        "2.5 calls a mobile subscriber-year, 1.8 for fixed lines (Oliver Wyman 2013)",
    ),
}


def per_run(n: int, seed: int, overrides: list[str]) -> pd.DataFrame:
    """The observables of one run, per firm."""
    settings = facts.settings_with([f"customers.n={n}", f"seed={seed}", "steps=520", "progress=false", *overrides])
    rec = facts.run_tracked(settings)
    ts = rec["timeseries"]
    late = ts[ts.week > YEAR]
    cohorts = facts.acquisition_retention(rec, max_years=4)
    rows = []
    for firm, g in ts.groupby("firm", sort=False):
        mine = late[late.firm == firm]
        row = {
            "seed": seed,
            "firm": str(firm),
            "annual_churn": annual_churn(g, skip_years=2),
            "advocacy": g.advocacy.iloc[-YEAR:].mean(),
            "referral_share": mine.acquired_referral.sum() / max(mine.acquisitions.sum(), 1),
            "complaint_rate": mine.complaints.sum() / max(mine.problems.sum(), 1),
            "long_run_share": g.share.iloc[-YEAR:].mean(),
            **economics(g[g.week > YEAR]),
        }
        for year in (1, 2, 3, 4):
            c = cohorts.loc[(firm, year)] if (firm, year) in cohorts.index else None
            row[f"retention_year_{year}"] = c.retained / c.at_risk if c is not None and c.at_risk else np.nan
        rows.append(row)
    total = late.groupby("week")[["acquired_referral", "acquisitions"]].sum().sum()
    rows.append({"seed": seed, "firm": "market", "referral_share": total.acquired_referral / total.acquisitions})
    return pd.DataFrame(rows)


def measure(n: int, seeds: int, overrides: list[str], jobs: int = 2) -> pd.DataFrame:
    """One row per seed and firm (and the market)."""
    runs = Parallel(n_jobs=jobs)(delayed(per_run)(n, seed, overrides) for seed in range(seeds))
    return pd.concat(runs, ignore_index=True)


def table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per observable and firm: mean and 95% interval (Student t over seeds), the published range, and a verdict."""
    rows = []
    for observable, (lo, hi, source) in PUBLISHED.items():
        for firm, g in runs.groupby("firm", sort=False):
            v = g[observable].dropna()
            if not len(v):
                continue
            mean, ci_low, ci_high = mean_interval(v)
            rows.append(
                {
                    "observable": observable,
                    "firm": firm,
                    "mean": mean,
                    "ci_low": ci_low,
                    "ci_high": ci_high,
                    "published_low": lo,
                    "published_high": hi,
                    "in_range": bool(lo <= mean <= hi),
                    "source": source,
                }
            )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    ap = ArgumentParser(prog="python -m sim.validate observables", description=__doc__.splitlines()[0])
    add_customers(ap, 5000, "customers")
    add_seeds(ap, 5, "replications (seeds 0..k-1)", low=2)
    add_jobs(ap)
    ap.add_argument("--out", default="results/validation/observables.csv")
    ap.add_argument("override", nargs="*", help="Hydra overrides")
    a = ap.parse_args(argv)
    load(a.override)  # one-line errors before any run
    runs = measure(a.n, a.seeds, a.override, a.jobs)
    result = table(runs)
    shown = result.drop(columns="source")
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    out = Path(a.out)
    with failing_as("writing", out):
        write_atomic(out.with_name(out.stem + "_runs.csv"), lambda p: runs.to_csv(p, index=False))
        write_atomic(out, lambda p: result.to_csv(p, index=False))
    print(f"written: {out}")
