"""Where managed firms end up: levers over time and end states of a sweep of managed firms.

    python experiments/management.py results/short_termism/<sweep>

Reads every complete run of the sweep (its parameters and timeseries) and writes ``<sweep>/management/``:
``end_states.csv`` (per run and firm: the levers averaged over the last year, the giving index, long-run
share, NPV), ``trajectories.csv`` (per condition, firm and year: mean levers over seeds) and ``levers.png``
(mean generosity, upsell and giving index over time, per condition and firm). It prints per condition
and firm the median end state with its 10th-90th percentiles over seeds, and the mean NPV and share.

The giving index is ``sim.model.policies.acts``: the mean of the giving acts (generosity, proactive advice,
humanity, speed, ease, listening) and 1 - upsell; the giving preset scores 0.74, the taking preset 0.24.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.aggregate import collect, parameters
from sim.model.policies import GIVING_ACTS

SHOWN = ["generosity", "proactive_advice", "upsell", "discount", "speed", "humanity", "listening", "price"]
YEAR = 52


def giving_index(df: pd.DataFrame) -> pd.Series:
    """``policies.acts`` on lever columns: mean of the giving acts and 1 - upsell."""
    return pd.concat([df[f"lever_{k}"] for k in GIVING_ACTS] + [1 - df["lever_upsell"]], axis=1).mean(axis=1)


def read(sweep: Path) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """End states (one row per run and firm) and yearly trajectories; and the sweep's condition keys."""
    ends, years = [], []
    table = collect(sweep)
    keys = parameters(table)
    for run, rows in table.groupby("run", sort=True):
        params = rows[keys].iloc[0].to_dict()
        ts = pd.read_parquet(sweep / str(run) / "timeseries.parquet")
        ts["giving_index"] = giving_index(ts)
        last = ts.week.max()
        for firm, g in ts.groupby("firm", sort=False):
            tail = g[g.week > last - YEAR]
            row = {**params, "firm": firm, "policy": g.policy.iloc[0]}
            row |= {k: tail[f"lever_{k}"].mean() for k in SHOWN}
            row |= {
                "giving_index": tail.giving_index.mean(),
                "long_run_share": tail.share.mean(),
                "npv": g.npv.iloc[-1],
                "moves": int(g.management_moves.sum()),
                "change_cost": g.lever_change_cost.sum(),
            }
            ends.append(row)
            yearly = g[g.week % YEAR == 0][["week", *[f"lever_{k}" for k in SHOWN], "giving_index", "share"]]
            years.append(yearly.assign(**params, firm=firm))
    if not ends:
        sys.exit(f"no complete runs in {sweep}")
    end, traj = pd.DataFrame(ends), pd.concat(years, ignore_index=True)
    conditions = [k for k in end.columns[: list(end.columns).index("firm")] if k != "seed" and end[k].nunique() > 1]
    return end, traj, conditions


def describe(end: pd.DataFrame, conditions: list[str]) -> str:
    """Per condition and firm: median end state [10th, 90th percentile] over seeds; mean NPV and share."""
    lines = []
    for key, g in end.groupby([*conditions, "firm"], sort=True):
        label = ", ".join(f"{c}={v}" for c, v in zip([*conditions, "firm"], np.atleast_1d(key), strict=True))
        parts = [
            f"{k} {g[k].median():.2f} [{g[k].quantile(0.1):.2f}, {g[k].quantile(0.9):.2f}]"
            for k in ["giving_index", *SHOWN]
        ]
        lines.append(
            f"{label} ({len(g)} runs): share {g.long_run_share.mean():.1%}, NPV {g.npv.mean() / 1e6:.2f}M; "
            + "; ".join(parts)
        )
    return "\n".join(lines)


def plot(traj: pd.DataFrame, conditions: list[str], path: Path) -> None:
    shown = ["giving_index", "lever_generosity", "lever_upsell"]
    groups = list(traj.groupby([*conditions, "firm"], sort=True))
    fig = Figure(figsize=(4.2 * len(shown), 3.2), dpi=110)
    axes = fig.subplots(1, len(shown))
    for ax, col in zip(axes, shown, strict=True):
        for key, g in groups:
            label = ", ".join(str(v) for v in np.atleast_1d(key))
            m = g.groupby("week")[col].mean()
            ax.plot(m.index / YEAR, m.values, label=label)
        ax.set_title(col.replace("lever_", ""))
        ax.set_xlabel("year")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep", type=Path, help="a sweep folder: results/<experiment>/<sweep>")
    a = ap.parse_args(argv)
    end, traj, conditions = read(a.sweep)
    out = a.sweep / "management"
    out.mkdir(exist_ok=True)
    end.to_csv(out / "end_states.csv", index=False)
    mean_traj = traj.groupby([*conditions, "firm", "week"], sort=True).mean(numeric_only=True).reset_index()
    mean_traj.drop(columns=["seed"], errors="ignore").to_csv(out / "trajectories.csv", index=False)
    plot(traj, conditions, out / "levers.png")
    print(describe(end, conditions))
    print(f"written: {out}/end_states.csv, trajectories.csv, levers.png")


if __name__ == "__main__":
    main()
