"""``python -m sim.validate coverage``: does the calibration recover parameters it did not see?

    python -m sim.validate coverage                          # 8 truths, 2,000 customers, 3 years
    python -m sim.validate coverage --truths 20 --population 100 --generations 6 --customers 5000

Draws ``--truths`` parameter sets from the synthetic card's priors (a seeded generator), makes each one's
KPIs with the model itself (on seeds the calibration does not use, as observed data would come), calibrates
the card to them (ABC-SMC, as ``python -m sim.calibrate``) and records, per parameter, whether the truth lies
inside the 90% posterior interval and how much the data narrowed the prior. With truths drawn from the
prior, a calibrated posterior covers about 90% of them; far fewer means over-confident intervals.

Writes ``results/validation/coverage/``: one ``truth_<k>.csv`` per finished truth (a rerun skips them and
continues an unfinished one from its ``history.db``) and ``coverage.csv``, the coverage per parameter.
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..runs.arguments import add_jobs, add_out
from ..runs.errors import ArgumentParser, failing_as, number
from ..runs.results import write_atomic
from . import inference, report
from .card import MarketCard, Observed, load_card, priors
from .synthetic import SD, SEEDS, kpis_at


def truths(card: MarketCard, k: int, seed: int) -> list[dict[str, float]]:
    """``k`` parameter sets drawn uniformly from the card's priors."""
    rng = np.random.default_rng(seed)
    return [{p.key: float(rng.uniform(p.low, p.high)) for p in priors(card)} for _ in range(k)]


def card_for(card: MarketCard, truth: dict[str, float], customers: int, weeks: int) -> MarketCard:
    """The card with its KPIs made by the model at ``truth`` (seeds ``SEEDS``); a KPI the runs could not measure
    (a referral share without acquisitions) is left out, as a card leaves out what was not observed."""
    sized = dataclasses.replace(card, customers=customers, weeks=weeks, truth=truth)
    made = kpis_at(sized, truth)
    kpis = {
        firm: {kpi: Observed(value, SD[kpi]) for kpi, value in table.items() if np.isfinite(value)}
        for firm, table in made.items()
    }
    return dataclasses.replace(sized, kpis=kpis)


def recover(card: MarketCard, folder: Path, population: int, generations: int, jobs: int, seed: int) -> pd.DataFrame:
    """Calibrate ``card`` into ``folder/history.db`` (continuing it if there) and compare with its truth."""
    history = inference.run(card, folder / "history.db", population, generations, jobs=jobs, seed=seed, progress=False)
    return report.summary(inference.posterior(history, card), card)


def main(argv: list[str] | None = None) -> None:
    ap = ArgumentParser(prog="python -m sim.validate coverage", description=__doc__.splitlines()[0])
    ap.add_argument("--card", default="synthetic", help="the card whose priors and firms are used")
    ap.add_argument("--truths", type=number(int, 1, 1000), default=8, help="parameter sets drawn from the priors")
    ap.add_argument("--customers", type=number(int, 100, 20_000_000), default=2000, help="customers per run")
    ap.add_argument("--weeks", type=number(int, 104, 2080), default=156, help="weeks per run")
    ap.add_argument("--population", type=number(int, 10, 100_000), default=60, help="particles per generation")
    ap.add_argument("--generations", type=number(int, 1, 100), default=4, help="generations of ABC-SMC")
    add_jobs(ap)
    ap.add_argument("--seed", type=number(int, 0, 2**32 - 1), default=0, help="seed of the truths and the inference")
    add_out(ap, "results/validation/coverage", "the folder of the results")
    a = ap.parse_args(argv)
    inference.require_pyabc()
    base = load_card(a.card)
    out = Path(a.out)
    rows = []
    start = time.perf_counter()
    for k, truth in enumerate(truths(base, a.truths, a.seed)):
        done = out / f"truth_{k}.csv"
        if done.is_file():
            rows.append(pd.read_csv(done))
            continue
        card = card_for(base, truth, a.customers, a.weeks)
        with failing_as("writing", out):
            (out / f"truth_{k}").mkdir(parents=True, exist_ok=True)
            table = recover(card, out / f"truth_{k}", a.population, a.generations, a.jobs, a.seed + k)
            table.insert(0, "truth_set", k)
            write_atomic(done, lambda p, t=table: t.to_csv(p, index=False))
        rows.append(table)
        inside = int(table.truth_inside_90.sum())
        print(f"truth {k}: {inside} of {len(table)} parameters inside their 90% interval", flush=True)
    every = pd.concat(rows, ignore_index=True)
    cover = (
        every.groupby("parameter", sort=False)
        .agg(
            coverage_90=("truth_inside_90", "mean"),
            truths=("truth_inside_90", "size"),
            width_over_prior=("width_over_prior", "median"),
        )
        .reset_index()
    )
    overall = every.truth_inside_90.mean()
    with failing_as("writing", out):
        write_atomic(out / "coverage.csv", lambda p: cover.to_csv(p, index=False))
    command = "python -m sim.validate coverage " + " ".join(shlex.quote(x) for x in (argv or sys.argv[2:]))
    print(command)
    print(cover.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"all parameters: {overall:.0%} of {len(every)} truths inside their 90% interval")
    print(f"seconds this invocation: {time.perf_counter() - start:.0f} (KPIs from seeds {SEEDS[0]}-{SEEDS[-1]})")
    print(f"written: {out}/coverage.csv")
