"""What if? A change run against its baseline on the same parameter draws and seeds: every difference paired.

The world is a fitted calibration (parameter sets drawn from its posterior, on its market card) or the
default world (the configured parameters). For each draw and seed the baseline and the changed world
share customers, network and luck (common random numbers), so each difference is the change's effect
on that world, not noise; the spread of the differences over draws is the uncertainty that remains.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from omegaconf import OmegaConf

from ..config import RUN_CONTROL, ConfigError, Settings, compose, to_plain, validate
from ..model.market import LoyaltyMarket
from ..model.metrics import LONG_RUN_WEEKS, economics, summarize_cohorts
from .card import MarketCard, settings_for

BASELINE = "baseline"  # the scenario name of the unchanged world
TRACKED = {"share": "market share", "cumulative_profit": "cumulative profit", "npv": "NPV", "advocacy": "advocacy"}


def merged(raw: dict, overrides: list[str]) -> dict:
    """``raw`` with Hydra-style ``key=value`` overrides merged in (values parsed as YAML)."""
    out = copy.deepcopy(raw)
    try:
        patch = OmegaConf.to_container(OmegaConf.from_dotlist(list(overrides)))
    except Exception as err:  # malformed override text
        raise ConfigError(f"config error: could not read the change {overrides}: {str(err).splitlines()[0]}") from None

    def merge(node: dict, new: dict, prefix: str) -> None:
        for key, value in new.items():
            if key not in node:
                raise ConfigError(f"config error: unknown key '{prefix}{key}' in the change")
            if isinstance(value, dict) and isinstance(node[key], dict):
                merge(node[key], value, f"{prefix}{key}.")
            else:
                node[key] = value

    merge(out, patch, "")
    return out


@dataclass
class World:
    """The world a what-if runs in: how to build its settings for a parameter draw, a seed and a change."""

    card: MarketCard | None
    base: list[str]
    weeks: int | None

    def settings(self, params: dict[str, float], seed: int, change: list[str]) -> Settings:
        if self.card is None:
            raw = to_plain(compose(self.base))
            raw["seed"], raw["progress"] = seed, False
        else:
            raw = _plain(settings_for(self.card, params, seed))
        if self.weeks is not None:
            raw["steps"] = self.weeks
        for key in (*RUN_CONTROL, "hydra"):
            raw.pop(key, None)
        return validate(merged(raw, change))


def _plain(settings: Settings) -> dict:
    import dataclasses

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        return v.value if hasattr(v, "value") and not isinstance(v, int | float | str | bool) else v

    return plain(settings)


# A firm's economics over the horizon (``metrics.economics``) and the lifetime value of its first year's acquisitions.
ECONOMICS = {
    "margin": "margin (profit / revenue)",
    "acquisition_cost": "acquisition cost per new customer",
    "contact_cost_share": "contact cost / revenue",
    "failure_demand_share": "failure demand / calls",
    "lifetime_value": "lifetime value of a customer acquired in the first year",
}


def survival(by_cohort: pd.DataFrame, acquired: pd.Series, last: int) -> pd.DataFrame:
    """Per firm and year-end up to week ``last``: the share of the customers it acquired in the first year
    (``acquired``, per firm: ``summarize_cohorts``'s count) still with it."""
    year = LONG_RUN_WEEKS
    first = by_cohort[by_cohort.cohort == 1]
    rows = []
    for firm, n in acquired.items():
        mine = first[first.firm == firm].groupby("week").customers.sum()
        for end in range(year, last + 1, year):
            kept = float(mine.get(end, 0.0))
            rows.append({"firm": firm, "year": end // year, "survival": kept / n if n else np.nan})
    return pd.DataFrame(rows)


def _trajectories(settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A run's tracked trajectories, each firm's economics over the horizon, and the survival of each firm's
    first-year acquisitions."""
    model = LoyaltyMarket(settings).run()
    ts = model.timeseries()
    by_cohort = model.cohort_timeseries()
    cohorts = summarize_cohorts(by_cohort, ts, settings.market.annual_discount_rate)
    first_year = cohorts[cohorts.cohort == 1].set_index("firm")
    economy = pd.DataFrame(
        [
            {"firm": firm, **economics(g), "lifetime_value": first_year.lifetime_value.get(firm, np.nan)}
            for firm, g in ts[ts.week > 0].groupby("firm", sort=False)
        ]
    )
    acquired = first_year.acquired.reindex(ts.firm.unique(), fill_value=0)  # a firm that acquired no one: no curve
    kept = survival(by_cohort, acquired, int(ts.week.max()))
    return ts[["week", "firm", *TRACKED]], economy, kept


def run(
    world: World, scenarios: dict[str, list[str]], draws: pd.DataFrame, seeds: int, jobs: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every (scenario or baseline, draw, seed) run: one row per week and firm, one row per firm of its
    economics, and one row per firm and year of its first-year acquisitions' survival."""
    jobs_list = []
    for d, row in draws.iterrows():
        params = row.to_dict()
        for seed in range(seeds):
            for name, change in {BASELINE: [], **scenarios}.items():
                jobs_list.append((name, d, seed, world.settings(params, seed, change)))
    results = Parallel(n_jobs=jobs)(delayed(_trajectories)(s) for *_, s in jobs_list)
    for (name, d, seed, _), frames in zip(jobs_list, results, strict=True):
        for frame in frames:
            frame.insert(0, "seed", seed)
            frame.insert(0, "draw", d)
            frame.insert(0, "scenario", name)
    return tuple(pd.concat([frames[i] for frames in results], ignore_index=True) for i in range(3))


def survival_table(curves: pd.DataFrame, band: float = 0.9) -> pd.DataFrame:
    """Per scenario (the baseline first), firm and year: the survival of the first year's acquisitions, mean and
    band over draws and seeds."""
    lo_q, hi_q = (1 - band) / 2, 1 - (1 - band) / 2
    table = (
        curves.groupby(["scenario", "firm", "year"], sort=False)
        .survival.agg(
            survival="mean", survival_low=lambda v: v.quantile(lo_q), survival_high=lambda v: v.quantile(hi_q)
        )
        .reset_index()
    )
    return table.sort_values("scenario", key=lambda s: s != BASELINE, kind="stable").reset_index(drop=True)


def economics_table(economy: pd.DataFrame, band: float = 0.9) -> pd.DataFrame:
    """Per scenario (the baseline first) and firm: each of ``ECONOMICS``, mean and band over draws and seeds."""
    lo_q, hi_q = (1 - band) / 2, 1 - (1 - band) / 2
    rows = []
    for (name, firm), g in economy.groupby(["scenario", "firm"], sort=False):
        row = {"scenario": name, "firm": firm}
        for metric in ECONOMICS:
            v = g[metric].dropna()
            row |= {metric: v.mean(), f"{metric}_low": v.quantile(lo_q), f"{metric}_high": v.quantile(hi_q)}
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.sort_values("scenario", key=lambda s: s != BASELINE, kind="stable").reset_index(drop=True)


def differences(runs: pd.DataFrame) -> pd.DataFrame:
    """Each scenario minus its baseline, paired by draw, seed, week and firm (tidy: one row per metric)."""
    keys = ["draw", "seed", "week", "firm"]
    base = runs[runs.scenario == BASELINE].set_index(keys)[list(TRACKED)]
    out = []
    for name, g in runs[runs.scenario != BASELINE].groupby("scenario", sort=False):
        change = g.set_index(keys)[list(TRACKED)]
        for metric in TRACKED:
            out.append(
                pd.DataFrame({"scenario": name, "metric": metric, "baseline": base[metric], "change": change[metric]})
                .assign(difference=lambda d: d.change - d.baseline)
                .reset_index()
            )
    return pd.concat(out, ignore_index=True)


def payback_week(curve: pd.Series) -> float:
    """The first week from which a cumulative profit difference stays at or above zero (NaN if it never does)."""
    ahead = curve >= 0
    if not ahead.iloc[-1]:
        return np.nan
    behind = ahead[~ahead]
    return float(curve.index[0] if behind.empty else behind.index[-1] + 1)


def summary(diff: pd.DataFrame, band: float = 0.9) -> pd.DataFrame:
    """Per scenario and firm: the effect on final NPV (absolute and relative), long-run share and advocacy,
    each with its mean and credible band over draws and seeds; the payback week; the chance it is better."""
    lo_q, hi_q = (1 - band) / 2, 1 - (1 - band) / 2
    rows = []
    last = diff.week.max()
    for (name, firm), g in diff.groupby(["scenario", "firm"], sort=False):
        npv = g[(g.metric == "npv") & (g.week == last)]
        rel = npv.difference / npv.baseline.abs().replace(0, np.nan)
        tail = g[g.week > last - 52]
        share = tail[tail.metric == "share"].groupby(["draw", "seed"]).difference.mean()
        advocacy = tail[tail.metric == "advocacy"].groupby(["draw", "seed"]).difference.mean()
        cum = g[g.metric == "cumulative_profit"].groupby("week").difference.mean()
        per_run = g[g.metric == "cumulative_profit"].groupby(["draw", "seed"])
        paybacks = per_run.apply(lambda r: payback_week(r.set_index("week").difference))
        rows.append(
            {
                "scenario": name,
                "firm": firm,
                "npv_change": npv.difference.mean(),
                "npv_change_low": npv.difference.quantile(lo_q),
                "npv_change_high": npv.difference.quantile(hi_q),
                "npv_change_pct": 100 * rel.mean(),
                "npv_change_pct_low": 100 * rel.quantile(lo_q),
                "npv_change_pct_high": 100 * rel.quantile(hi_q),
                "chance_better": float((npv.difference > 0).mean()),
                "payback_week": payback_week(cum),
                "paid_back_share": float(paybacks.notna().mean()),
                "share_change": share.mean(),
                "share_change_low": share.quantile(lo_q),
                "share_change_high": share.quantile(hi_q),
                "advocacy_change": advocacy.mean(),
                "runs": len(npv),
            }
        )
    return pd.DataFrame(rows)


def pairing(diff: pd.DataFrame) -> pd.DataFrame:
    """What pairing bought: per scenario and firm, the variance of the NPV effect paired (same draw and seed)
    against unpaired (the change set against another seed's, or another draw's, baseline)."""
    rows = []
    last = diff.week.max()
    for (name, firm), g in diff[(diff.metric == "npv") & (diff.week == last)].groupby(["scenario", "firm"], sort=False):
        g = g.sort_values(["draw", "seed"])
        paired = g.difference.to_numpy()
        unpaired = g.change.to_numpy() - np.roll(g.baseline.to_numpy(), 1)
        var_p, var_u = paired.var(ddof=1), unpaired.var(ddof=1)
        rows.append({"scenario": name, "firm": firm, "variance_ratio": var_u / var_p if var_p > 0 else np.inf})
    return pd.DataFrame(rows)


def owners(change: list[str], firms: list[str]) -> list[str]:
    """The firms whose own levers a change sets (``firms.<name>.*``), in the order of ``firms``."""
    named = {o.lstrip("+~").split("=", 1)[0].split(".")[1] for o in change if o.lstrip("+~").startswith("firms.")}
    return [f for f in firms if f in named]


def _clause(row: pd.Series, band: float, first: bool, own: bool) -> str:
    """One firm's part of a sentence: its NPV effect with its band, payback (of its own change), chance, share."""
    direction = "rises" if row.npv_change_pct >= 0 else "falls"
    pct = f"{abs(row.npv_change_pct):.1f}% [{row.npv_change_pct_low:+.1f}%, {row.npv_change_pct_high:+.1f}%]"
    pay = (
        f"it pays back in week {row.payback_week:.0f}"
        if not np.isnan(row.payback_week)
        else "it does not pay back within the horizon"
    )
    share = f"long-run share {100 * row.share_change:+.1f} points"
    banded = f" ({int(band * 100)}% band)" if first else ""
    paid = f", {pay}" if own else ""
    return (
        f"{row.firm}'s NPV {direction} by {pct}{banded}{paid}, {100 * row.chance_better:.0f}% chance it is better "
        f"for {row.firm}, {share}"
    )


def in_words(rows: pd.DataFrame, weeks: int, changed_by: list[str], band: float = 0.9) -> str:
    """One plain sentence for a board about one change (``rows``: its summary rows, one per firm), naming whose
    change it is: the changing firm's effect first, then each rival's."""
    years = weeks / 52
    horizon = f"{years:.0f} years" if abs(years - round(years)) < 0.05 else f"{weeks} weeks"
    scenario = str(rows.scenario.iloc[0])
    who = (
        f"a change {' and '.join(changed_by)} make{'s' if len(changed_by) == 1 else ''}"
        if changed_by
        else "a change to the market"
    )
    order = sorted(range(len(rows)), key=lambda i: rows.firm.iloc[i] not in changed_by)
    clauses = [
        _clause(rows.iloc[i], band, first=n == 0, own=not changed_by or rows.firm.iloc[i] in changed_by)
        for n, i in enumerate(order)
    ]
    return f"If {scenario} ({who}), over {horizon}: " + "; ".join(clauses) + "."
