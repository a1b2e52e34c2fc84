"""Refresh the regression baseline: summary metrics of the default experiment for fixed seeds.

Run:  .venv/bin/python experiments/refresh_baseline.py
Writes tests/baseline/summary_metrics.csv, checked by tests/test_regression.py. Refresh it (and
commit it) whenever a change to the engine is meant to change the numbers, e.g. the order of draws.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.config import load  # noqa: E402
from sim.run import simulate  # noqa: E402

BASELINE = ROOT / "tests" / "baseline" / "summary_metrics.csv"
SEEDS = (0, 1, 2)
OVERRIDES = ["customers.n=2000", "steps=156", "progress=false"]
METRICS = ["long_run_share", "npv", "cumulative_profit", "advocacy", "devoted_share", "acquisitions", "defections"]


def summaries(seeds=SEEDS) -> pd.DataFrame:
    """One row per seed and firm: the metrics of the baseline."""
    rows = []
    for seed in seeds:
        _, summary = simulate(load([*OVERRIDES, f"seed={seed}"]), progress=False)
        rows.append(summary[["firm", *METRICS]].assign(seed=seed))
    df = pd.concat(rows, ignore_index=True)
    return df[["seed", "firm", *METRICS]]


def main() -> None:
    df = summaries()
    BASELINE.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(BASELINE, index=False, float_format="%.10g")
    print(df.to_string(index=False))
    print(f"written: {BASELINE}")


if __name__ == "__main__":
    main()
