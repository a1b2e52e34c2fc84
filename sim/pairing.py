"""``python -m sim.pairing <change overrides>``: how much common random numbers sharpen a what-if.

    python -m sim.pairing firms.giving.generosity=0.6
    python -m sim.pairing firms.taking.price=9 --seeds 20 --n 3000 --steps 260
    python -m sim.pairing 'market.shocks=[{kind: outage, week: 100, duration: 4, size: 0.8, firm: giving}]'

Runs the base world and the changed world on seeds 0..K-1 (``--base`` overrides apply to both)
and compares two estimates of the change's effect on each firm's NPV, long-run share and
advocacy: *paired* (change minus base on the same seed: same customers, same luck) and
*unpaired* (change on seed s minus base on seed s + 1). The ratio of their variances is what
pairing buys: a ratio of 10 means ten times fewer runs for the same precision.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from .config import load, parameter
from .intervals import mean_interval
from .runs.arguments import add_customers, add_jobs, add_out, add_seeds, add_weeks
from .runs.errors import ArgumentParser, command, failing_as
from .runs.results import write_atomic
from .runs.run import simulate

METRICS = {"npv": "NPV", "long_run_share": "long-run share", "advocacy": "advocacy"}


def _summary(overrides: list[str]) -> pd.DataFrame:
    _, summary = simulate(load(overrides), progress=False)
    return summary.set_index("firm")[list(METRICS)]


def measure(change: list[str], base: list[str], seeds: int, n: int, steps: int, jobs: int = 2) -> pd.DataFrame:
    """Per firm and metric: the mean effect with its paired 95% CI, and paired and unpaired variances."""
    common = [f"customers.n={n}", f"steps={steps}", "progress=false", *base]
    worlds = [(world, seed) for world in ("base", "change") for seed in range(seeds)]
    runs = Parallel(n_jobs=jobs)(
        delayed(_summary)([*common, *(change if world == "change" else []), f"seed={seed}"]) for world, seed in worlds
    )
    results = dict(zip(worlds, runs, strict=True))
    rows = []
    for firm in results["base", 0].index:
        for metric, label in METRICS.items():
            b = np.array([results["base", s].at[firm, metric] for s in range(seeds)])
            c = np.array([results["change", s].at[firm, metric] for s in range(seeds)])
            paired, unpaired = c - b, c - np.roll(b, -1)
            effect, ci_low, ci_high = mean_interval(paired)
            var_p, var_u = paired.var(ddof=1), unpaired.var(ddof=1)
            rows.append(
                {
                    "firm": firm,
                    "metric": label,
                    "effect": effect,
                    "ci_low": ci_low,
                    "ci_high": ci_high,
                    "paired_variance": var_p,
                    "unpaired_variance": var_u,
                    "variance_ratio": var_u / var_p if var_p > 0 else np.inf,
                }
            )
    return pd.DataFrame(rows)


@command
def main(argv: list[str] | None = None) -> None:
    ap = ArgumentParser(prog="python -m sim.pairing", description=__doc__.splitlines()[0])
    ap.add_argument("change", nargs="+", help="Hydra overrides that make the changed world")
    ap.add_argument("--base", nargs="*", default=[], help="Hydra overrides of both worlds")
    add_seeds(ap, 10, low=3, high=100_000)
    add_customers(ap, 3000, "customers")
    add_weeks(ap, 260, "weeks")
    add_jobs(ap, "parallel runs")
    add_out(ap, "results/pairing", "the folder the table goes to")
    a = ap.parse_args(argv)
    own = {"seed": "--seeds", "steps": "--steps"}
    for where, items in (("change", a.change), ("--base", a.base)):
        for item in items:
            parameter(item.partition("=")[0], f"{where} {item}", own)
    load([*a.base, *a.change, f"customers.n={a.n}", f"steps={a.steps}"])  # one-line errors before any run
    table = measure(a.change, a.base, a.seeds, a.n, a.steps, a.jobs)
    cmdline = "python -m sim.pairing " + " ".join(argv if argv is not None else sys.argv[1:])
    print(cmdline)
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.4g}"))
    name = "_".join(a.change).replace("/", "_")[:120] or "change"
    path = Path(a.out) / f"{name}.csv"
    with failing_as("writing", path):
        write_atomic(path, lambda p: table.to_csv(p, index=False))
    print(f"written: {path}")


if __name__ == "__main__":
    main()
