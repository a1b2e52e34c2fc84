"""Fingerprints of the whole experiment library: the sha256 of each run's recorded tables.

A restructuring that must not move a number is checked by fingerprinting before and after:

    python experiments/same_bytes.py --out before.csv             # on the old code
    python experiments/same_bytes.py --against before.csv         # on the new: exit 1 if any table differs

Every experiment in ``conf/experiment/`` runs at ``--n`` customers for ``--steps`` weeks on each of ``--seeds``,
in this process, and its ``timeseries.parquet`` and ``segments.parquet`` are written as a run folder writes them.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

import pandas as pd

from sim.config import CONF_DIR, load
from sim.runs.run import run_tables


def digest(frame: pd.DataFrame, folder: Path, name: str) -> str:
    path = folder / name
    frame.to_parquet(path, index=False)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprints(n: int, steps: int, seeds: list[int], extra: list[str]) -> pd.DataFrame:
    rows = []
    experiments = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
    with tempfile.TemporaryDirectory() as tmp:
        for experiment in experiments:
            for seed in seeds:
                overrides = [f"experiment={experiment}", f"customers.n={n}", f"steps={steps}", f"seed={seed}"]
                tables = run_tables(load([*overrides, "progress=false", *extra]))
                row = {"experiment": experiment, "seed": seed}
                row["timeseries"] = digest(tables.timeseries, Path(tmp), "timeseries.parquet")
                row["segments"] = digest(tables.segments, Path(tmp), "segments.parquet")
                print(f"{experiment:28s} seed {seed}  {row['timeseries'][:12]}  {row['segments'][:12]}", flush=True)
                rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=312)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--out", type=Path, help="write the fingerprints here (CSV)")
    parser.add_argument("--against", type=Path, help="compare with fingerprints written before")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run (engine=agents, ...)")
    args = parser.parse_args(argv)
    table = fingerprints(args.n, args.steps, args.seeds, args.overrides)
    if args.out:
        table.to_csv(args.out, index=False)
    if args.against:
        before = pd.read_csv(args.against)
        both = before.merge(table, on=["experiment", "seed"], suffixes=("_before", "_after"))
        differ = both[(both.timeseries_before != both.timeseries_after) | (both.segments_before != both.segments_after)]
        print(f"{len(both) - len(differ)} of {len(both)} runs: the same bytes")
        if len(differ) or len(both) != len(before):
            print(differ[["experiment", "seed"]].to_string(index=False))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
