"""The regression baseline: summary metrics of the default experiment for fixed seeds.

Check:    python -m sim.validate baseline
Refresh:  python -m sim.validate baseline --refresh
The file (``tests/baseline/summary_metrics.csv``) is checked by ``tests/test_regression.py``.
Refresh it (and commit it) whenever a change to the model is meant to change the numbers,
e.g. the order of draws.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from ..config import load
from ..runs.errors import ArgumentError, ArgumentParser, failing_as, reason
from ..runs.run import simulate

BASELINE = Path("tests") / "baseline" / "summary_metrics.csv"
SEEDS = (0, 1, 2)
OVERRIDES = ["customers.n=2000", "steps=156", "progress=false"]
METRICS = [
    "long_run_share",
    "npv",
    "cumulative_profit",
    "advocacy",
    "devoted_share",
    "acquisitions",
    "defections",
    "margin",
    "contact_cost_share",
    "failure_demand_share",
]
RTOL, ATOL = 1e-6, 1e-9  # float32 arithmetic on the same platform


def summaries(seeds=SEEDS) -> pd.DataFrame:
    """One row per seed and firm: the metrics of the baseline."""
    rows = []
    for seed in seeds:
        _, summary = simulate(load([*OVERRIDES, f"seed={seed}"]), progress=False)
        rows.append(summary[["firm", *METRICS]].assign(seed=seed))
    df = pd.concat(rows, ignore_index=True)
    df["firm"] = df.firm.astype(str)
    return df[["seed", "firm", *METRICS]]


def read(path: Path = BASELINE) -> pd.DataFrame:
    """The stored baseline, or an ``ArgumentError`` in one line saying why ``path`` is not one."""
    columns = ["seed", "firm", *METRICS]
    allowed = f"allowed: a CSV with columns {', '.join(columns)}, as --refresh writes it"
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ArgumentError(f"--file = {path}: not a readable CSV file ({reason(err)}); {allowed}") from None
    missing = [c for c in columns if c not in table.columns]
    if missing or table.empty:
        why = f"no column {', '.join(missing)}" if missing else "no rows"
        raise ArgumentError(f"--file = {path}: not a baseline ({why}); {allowed}")
    seeds = pd.to_numeric(table.seed, errors="coerce")
    if seeds.isna().any() or (seeds < 0).any() or (seeds % 1 != 0).any():
        raise ArgumentError(f"--file = {path}: not a baseline (a seed is not a whole number ≥ 0); {allowed}")
    for metric in METRICS:
        if pd.to_numeric(table[metric], errors="coerce").isna().any():
            raise ArgumentError(f"--file = {path}: not a baseline ({metric}: a value is not a number); {allowed}")
    return table


def compare(path: Path = BASELINE) -> None:
    """Raise ``AssertionError`` naming the first metric that moved from the stored baseline."""
    expected = read(path)
    got = summaries(tuple(expected.seed.unique()))
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), expected, check_dtype=False, rtol=RTOL, atol=ATOL, obj="summary metrics"
    )


def main(argv: list[str] | None = None) -> None:
    ap = ArgumentParser(prog="python -m sim.validate baseline", description=__doc__.splitlines()[0])
    ap.add_argument("--refresh", action="store_true", help="rewrite the baseline from the current model")
    ap.add_argument("--file", type=Path, default=BASELINE)
    a = ap.parse_args(argv)
    if not a.refresh and not a.file.is_file():
        raise ArgumentError(f"--file = {a.file}: no such file (--refresh writes it)")
    if not a.refresh:
        try:
            compare(a.file)
        except AssertionError as err:
            print(f"baseline differs: {str(err).splitlines()[0]}", file=sys.stderr)
            sys.exit(1)
        print(f"matches {a.file}")
        return
    df = summaries()
    with failing_as("writing", a.file):
        a.file.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(a.file, index=False, float_format="%.10g")
    print(df.to_string(index=False))
    print(f"written: {a.file}")
