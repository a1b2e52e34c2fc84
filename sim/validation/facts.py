"""Stylized facts of the loyalty literature, measured on replicated model runs.

Run:  python -m sim.validate facts [--n 4000] [--seeds 3]
Prints each fact's figures and writes results/validation/stylized_facts.csv.

The model is not changed for measurement: customer arrays are read between weeks (this week's
observations among them: who talked, what became of a complaint).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import Settings, compose, to_plain, validate
from ..model.market import LoyaltyMarket
from ..model.vocabulary import Complaint, Ladder
from ..runs.arguments import add_customers, add_seeds
from ..runs.errors import ArgumentParser, failing_as

YEAR = 52


def settings_with(overrides: list[str], edit: Callable[[dict], None] | None = None) -> Settings:
    """Validated settings from overrides, optionally edited as a plain dict first."""
    raw = to_plain(compose(overrides))
    if edit:
        edit(raw)
    return validate(raw)


def run_tracked(settings: Settings) -> dict:
    """Run a market week by week; keep what the facts need."""
    model = LoyaltyMarket(settings)
    c = model.customers
    F, steps = len(model.names), settings.steps  # F: the index of no firm
    firm = np.empty((steps + 1, c.n), np.int16)
    joined = np.empty((steps + 1, c.n), np.int32)
    state = np.empty((steps + 1, c.n), np.int8)
    departed_by = np.zeros((steps + 1, c.n), np.int16)  # departures from the market (turnover) so far
    talk: list[tuple[np.ndarray, np.ndarray]] = []  # (remembered of customers, talked?) per week
    complaints: list[pd.DataFrame] = []

    firm[0], joined[0], state[0] = c.firm, c.joined_week, c.state
    for w in range(1, steps + 1):
        before = c.joined_week.copy()
        firm_before = c.firm.copy()  # complaints are made to the firm one had during the week
        model.step()
        has = c.firm < F
        talk.append((c.spoke_feeling[has].copy(), c.spoke[has].copy()))
        problem = np.flatnonzero(c.complaint != Complaint.NONE)
        if len(problem):
            complaints.append(
                pd.DataFrame(
                    {
                        "customer": problem,
                        "week": model.week,
                        "firm": firm_before[problem],
                        "outcome": c.complaint[problem],
                        "joined_week": before[problem],
                    }
                )
            )
        gone = (c.joined_week == -1) & (before != -1)
        departed_by[w] = departed_by[w - 1] + gone
        firm[w], joined[w], state[w] = c.firm, c.joined_week, c.state
    return {
        "F": F,
        "names": model.names,
        "firm": firm,
        "joined": joined,
        "state": state,
        "departed_by": departed_by,
        "talk": talk,
        "complaints": pd.concat(complaints, ignore_index=True) if complaints else pd.DataFrame(),
        "timeseries": model.timeseries(),
    }


def _departed_between(rec: dict, start: int, end: int) -> np.ndarray:
    """Customers who left the market in weeks (start, end]: censored, not defections."""
    return rec["departed_by"][end] > rec["departed_by"][start]


def _stayed(rec: dict, start: int, end: int) -> np.ndarray:
    """Customers with the same firm and the same join week at ``end`` as at ``start``."""
    f0, j0 = rec["firm"][start], rec["joined"][start]
    return (rec["firm"][end] == f0) & (rec["joined"][end] == j0) & (f0 < rec["F"])


def acquisition_retention(rec: dict, max_years: int = 4) -> pd.DataFrame:
    """Fader & Hardie's measure: of the customers a firm acquired in a week, the share still with it at each
    anniversary of that week; year k's retention is alive at k over alive at k - 1. Every loss counts, a
    departure from the market (turnover) too, as in their contract data; counts are pooled over
    acquisition weeks, per firm."""
    steps = rec["firm"].shape[0] - 1
    rows = []
    for w in range(1, steps - YEAR + 1):
        new = np.flatnonzero(rec["joined"][w] == w)
        if not len(new):
            continue
        firm = rec["firm"][w, new]
        alive = np.ones(len(new), bool)
        for k in range(1, max_years + 1):
            t = w + k * YEAR
            if t > steps:
                break
            at_risk = alive
            alive = at_risk & (rec["joined"][t, new] == w)
            for f, name in enumerate(rec["names"]):
                mine = firm == f
                rows.append(
                    {
                        "year": k,
                        "firm": name,
                        "at_risk": int((at_risk & mine).sum()),
                        "retained": int((alive & mine).sum()),
                    }
                )
    df = pd.DataFrame(rows)
    return df.groupby(["firm", "year"])[["at_risk", "retained"]].sum()


def retention_by_state(rec: dict, horizon: int = YEAR, burn_in: int = 2 * YEAR) -> pd.DataFrame:
    """Jones & Sasser: share of each ladder state still with its firm ``horizon`` weeks later."""
    steps = rec["firm"].shape[0] - 1
    rows = []
    for a in range(burn_in, steps - horizon + 1, 13):
        at_risk = ~_departed_between(rec, a, a + horizon)
        kept = _stayed(rec, a, a + horizon)
        st = rec["state"][a]
        for s in (Ladder.CUSTOMER, Ladder.LOYAL, Ladder.DEVOTED, Ladder.DETRACTOR):
            m = (st == s) & at_risk
            rows.append({"state": s.name.lower(), "at_risk": int(m.sum()), "retained": int((m & kept).sum())})
    return pd.DataFrame(rows).groupby("state", sort=False).sum()


def wom_by_satisfaction(rec: dict, bins: int = 10, burn_in: int = YEAR) -> pd.DataFrame:
    """Anderson: weekly chance of talking by decile of remembered experience (satisfaction)."""
    rem = np.concatenate([r for r, _ in rec["talk"][burn_in:]])
    talked = np.concatenate([t for _, t in rec["talk"][burn_in:]])
    edges = np.quantile(rem, np.linspace(0, 1, bins + 1))
    decile = np.clip(np.searchsorted(edges, rem, side="right") - 1, 0, bins - 1)
    df = pd.DataFrame({"decile": decile, "remembered": rem, "talked": talked})
    return df.groupby("decile").agg(
        remembered=("remembered", "mean"), talk_rate=("talked", "mean"), n=("talked", "size")
    )


def complaint_retention(rec: dict, horizon: int = YEAR, quick: str = "quick") -> pd.DataFrame:
    """Share of complainants still with the firm ``horizon`` weeks after their first complaint, by outcome."""
    steps = rec["firm"].shape[0] - 1
    df = rec["complaints"]
    df = df[df.week + horizon <= steps].drop_duplicates("customer")  # first problem per customer
    q = rec["names"].index(quick)
    w, i = df.week.to_numpy(), df.customer.to_numpy()
    gone = rec["departed_by"][w + horizon, i] > rec["departed_by"][w, i]
    kept = (rec["firm"][w + horizon, i] == df.firm.to_numpy()) & (
        rec["joined"][w + horizon, i] == df.joined_week.to_numpy()
    )
    at_risk = ~gone
    df = df.assign(kept=kept, at_risk=at_risk)
    df = df[df.at_risk]
    handled = df.outcome == Complaint.HANDLED
    df["outcome"] = np.select(
        [handled & (df.firm == q), handled, df.outcome == Complaint.IGNORED],
        ["resolved quickly", "resolved slowly", "unresolved"],
        "did not complain",
    )
    return df.groupby("outcome").agg(complaints=("kept", "size"), retained=("kept", "mean"))


# ------------------------------------------------------------------ settings of the two designs
def market_settings(n: int, seed: int, steps: int = 8 * YEAR) -> Settings:
    """The default experiment (giving vs taking duopoly) at a small size."""
    return settings_with([f"customers.n={n}", f"seed={seed}", f"steps={steps}", "progress=false"])


def complaint_settings(n: int, seed: int, steps: int = 4 * YEAR) -> Settings:
    """Two giving firms that differ only in speed (1.0 vs 0.1), half their complaints handled; speed
    takes no part in the service level here, so it acts on customers only through service recovery."""

    def edit(raw: dict) -> None:
        base = raw["firms"]["giving"]
        raw["firms"] = {
            "quick": {**base, "speed": 1.0, "listening": 0.5},
            "slow": {**base, "speed": 0.1, "listening": 0.5},
        }
        raw["market"]["service_weights"] = [0.6, 0.0, 0.25, 0.15]

    return settings_with([f"customers.n={n}", f"seed={seed}", f"steps={steps}", "progress=false"], edit)


def _rate(df: pd.DataFrame) -> pd.Series:
    return df.retained / df.at_risk


def measure(n: int = 4000, seeds: tuple[int, ...] = (0, 1, 2)) -> dict[str, pd.DataFrame]:
    """All the facts, pooled over seeds."""
    cohorts, states, wom, compl = [], [], [], []
    for s in seeds:
        rec = run_tracked(market_settings(n, s))
        cohorts.append(acquisition_retention(rec).reset_index())
        states.append(retention_by_state(rec))
        wom.append(wom_by_satisfaction(rec).assign(seed=s))
        compl.append(complaint_retention(run_tracked(complaint_settings(n, s))).assign(seed=s))
    coh = pd.concat(cohorts).groupby("year")[["at_risk", "retained"]].sum()
    coh["retention"] = _rate(coh)
    by_firm = pd.concat(cohorts).groupby(["firm", "year"])[["at_risk", "retained"]].sum()
    by_firm["retention"] = _rate(by_firm)
    st = pd.concat(states).groupby(level=0, sort=False).sum()
    st["retention"] = _rate(st)
    st["defection"] = 1 - st.retention
    w = pd.concat(wom).groupby(level=0).agg(remembered=("remembered", "mean"), talk_rate=("talk_rate", "mean"))
    cp = pd.concat(compl)
    cp = cp.groupby(level=0).apply(
        lambda d: pd.Series(
            {"complaints": d.complaints.sum(), "retained": np.average(d.retained, weights=d.complaints)}
        )
    )
    return {
        "cohort_retention": coh,
        "cohort_retention_by_firm": by_firm,
        "retention_by_state": st,
        "wom_by_satisfaction": w,
        "complaint_retention": cp,
    }


def main(argv: list[str] | None = None) -> None:
    ap = ArgumentParser(prog="python -m sim.validate facts", description=__doc__.splitlines()[0])
    add_customers(ap, 4000, "population size")
    add_seeds(ap, 3, "replications (seeds 0..k-1)")
    ap.add_argument("--out", default="results/validation/stylized_facts.csv")
    a = ap.parse_args(argv)
    facts = measure(a.n, tuple(range(a.seeds)))
    frames = []
    for name, df in facts.items():
        print(f"\n== {name}\n{df.round(4).to_string()}")
        frames.append(df.reset_index().assign(fact=name))
    out = Path(a.out)
    with failing_as("writing", out):
        out.parent.mkdir(parents=True, exist_ok=True)
        pd.concat(frames).to_csv(out, index=False)
    print(f"\nwritten: {out}")
