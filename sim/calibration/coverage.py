"""``python -m sim.validate coverage``: does the calibration recover parameters it did not see?

    python -m sim.validate coverage                          # 8 truths, on the card's own market
    python -m sim.validate coverage --truths 50               # simulation-based calibration
    python -m sim.validate coverage --truths 20 --customers 2000 --weeks 156 --design 0   # ABC on the simulator

Draws ``--truths`` parameter sets from the synthetic card's priors (a seeded generator), makes each one's
KPIs as the calibration assumes observed ones are made (one run of the model on a seed the calibration does not
use, plus the card's noise), calibrates
the card to them (ABC-SMC, as ``python -m sim.calibrate``: on one emulator for all truths, learnt from
``--design`` runs, since the truths share the card's priors and market) and records, per parameter, whether the truth lies
inside the 90% posterior interval, the truth's rank among the posterior, and how much the data narrowed the
prior. With truths drawn from the prior, a calibrated posterior covers about 90% of them, and the ranks are
uniform (simulation-based calibration, Talts et al. 2018): a U-shaped histogram means intervals too narrow, a
hump too wide, a slope a bias. Each parameter's ranks are tested for uniformity (Kolmogorov-Smirnov).

Writes ``results/validation/coverage/``: ``design.parquet`` (the emulator's runs), one ``truth_<k>.csv`` per
finished truth (a rerun skips them and continues an unfinished one from its ``history.db``), ``coverage.csv`` (per parameter: coverage, rank
uniformity, narrowing) and ``coverage.png`` (the rank histograms, one per parameter). The truths are
independent: on a cluster, run one invocation with ``--truths 1`` first (it makes the design every truth's
emulator is fitted on), then one per truth (``--first k --truths 1``) into the same folder, and a last one
without them collects what is there.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from ..runs.arguments import add_jobs, add_out
from ..runs.errors import ArgumentParser, Failure, failing_as, number
from ..runs.results import write_atomic
from . import emulator, inference, report
from .card import MarketCard, Observed, load_card, priors
from .kpis import FRACTIONS
from .synthetic import SD, SEEDS, kpis_at


def truths(card: MarketCard, k: int, seed: int) -> list[dict[str, float]]:
    """``k`` parameter sets drawn uniformly from the card's priors."""
    rng = np.random.default_rng(seed)
    return [{p.key: float(rng.uniform(p.low, p.high)) for p in priors(card)} for _ in range(k)]


def card_for(card: MarketCard, truth: dict[str, float], customers: int, weeks: int, k: int = 0) -> MarketCard:
    """The card with its KPIs observed as a market's would be, by the model the calibration assumes: one run at
    ``truth`` (on a seed of its own, ``SEEDS[0] + k``: other luck than the calibration's) plus the card's normal
    noise of each KPI's sd (a seeded generator); fractions kept within 0 and 1. A KPI the run could not measure
    (a referral share without acquisitions) is left out, as a card leaves out what was not observed."""
    sized = dataclasses.replace(card, customers=customers, weeks=weeks, truth=truth)
    made = kpis_at(sized, truth, seeds=(SEEDS[0] + k,))
    noise = np.random.default_rng([SEEDS[0], k])
    kpis = {}
    for firm, table in made.items():
        kpis[firm] = {}
        for kpi, value in table.items():
            if not np.isfinite(value):
                continue
            seen = value + noise.normal(0.0, SD[kpi])
            kpis[firm][kpi] = Observed(float(np.clip(seen, 0, 1)) if kpi in FRACTIONS else float(seen), SD[kpi])
    return dataclasses.replace(sized, kpis=kpis)


def recover(
    card: MarketCard, folder: Path, population: int, generations: int, jobs: int, seed: int, em=None
) -> pd.DataFrame:
    """Calibrate ``card`` into ``folder/history.db`` (continuing it if there) and compare with its truth."""
    history = inference.run(
        card, folder / "history.db", population, generations, jobs=jobs, seed=seed, progress=False, emulator=em
    )
    post = inference.posterior(history, card)
    table = report.summary(post, card)
    table["ess"] = float(1 / (post.weight**2).sum())
    return table


BINS = 10  # rank histogram bins
SETTINGS = "settings.json"  # what the truths of a folder were made with: a rerun with others refuses it


def claim_folder(out: Path, card: MarketCard, a) -> None:
    """Record the settings the folder's truths are made with, or refuse in one line if it holds truths made with
    other settings (they would be mixed in silently)."""
    mine = {
        "card": repr(card),
        "customers": a.customers,
        "weeks": a.weeks,
        "population": a.population,
        "generations": a.generations,
        "seed": a.seed,
        "observed": f"one run on seed {SEEDS[0]} + k, plus the card's noise",  # how truths' KPIs are made
        "luck": "each parameter set on seeds of its own",  # how the calibration simulates (inference.seeds_of)
    }
    if a.design:  # folders calibrated on the simulator itself keep the settings they always had
        mine["design"] = a.design
    marker = out / SETTINGS
    if marker.is_file():
        theirs = json.loads(marker.read_text())
        differ = [k for k in {**theirs, **mine} if theirs.get(k) != mine.get(k)]
        if differ:
            raise Failure(
                f"error: {out} holds truths made with other settings ({', '.join(differ)} differ); "
                "use another --out, or move it away"
            )
        return
    if any(out.glob("truth_*.csv")):
        raise Failure(f"error: {out} holds truths of unknown settings; use another --out, or move it away")
    with failing_as("writing", out):
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(marker, lambda p: p.write_text(json.dumps(mine, indent=1)))


def coverage_table(every: pd.DataFrame) -> pd.DataFrame:
    """Per parameter: the share of truths inside the 90% interval, the ranks' uniformity (KS p-value), the
    median narrowing of the prior, and a verdict on the interval."""
    rows = []
    for name, g in every.groupby("parameter", sort=False):
        ranks = g.truth_rank.to_numpy(float) if "truth_rank" in g else np.array([])
        p = float(stats.kstest(ranks, "uniform").pvalue) if len(ranks) >= 5 else np.nan
        cover = float(g.truth_inside_90.mean())
        rows.append(
            {
                "parameter": name,
                "coverage_90": cover,
                "truths": len(g),
                "rank_uniformity_p": p,
                "width_over_prior": float(g.width_over_prior.median()),
                "identified": "weakly" if g.width_over_prior.median() >= report.WEAK else "yes",
            }
        )
    return pd.DataFrame(rows)


def rank_plot(every: pd.DataFrame, path: Path) -> None:
    """One histogram of the truths' posterior ranks per parameter, with the band a uniform one stays in 90% of
    the time (binomial), so a bin outside it is a sign, not noise."""
    names = list(every.parameter.unique())
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(4 * cols, 3 * rows), dpi=100)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, name in zip(axes, names, strict=False):
        ranks = every[every.parameter == name].truth_rank.to_numpy(float)
        n = len(ranks)
        lo, hi = stats.binom.ppf([0.05, 0.95], n, 1 / BINS)
        ax.axhspan(lo, hi, color="grey", alpha=0.2, label="uniform, 90% band")
        ax.axhline(n / BINS, color="grey", lw=0.8)
        ax.hist(ranks, bins=BINS, range=(0, 1), color="tab:blue", alpha=0.8, edgecolor="white")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("rank of the truth in the posterior", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(names) :]:
        ax.set_axis_off()
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Simulation-based calibration: {every.truth_set.nunique()} truths drawn from the priors", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str] | None = None) -> None:
    ap = ArgumentParser(prog="python -m sim.validate coverage", description=__doc__.splitlines()[0])
    ap.add_argument("--card", default="synthetic", help="the card whose priors and firms are used")
    ap.add_argument("--truths", type=number(int, 1, 1000), default=8, help="parameter sets drawn from the priors")
    ap.add_argument("--first", type=number(int, 0, 999), default=0, help="the first truth to run (0-based)")
    ap.add_argument(
        "--customers", type=number(int, 100, 20_000_000), default=None, help="customers per run (the card's)"
    )
    ap.add_argument("--weeks", type=number(int, 104, 2080), default=None, help="weeks per run (the card's)")
    ap.add_argument("--population", type=number(int, 10, 100_000), default=300, help="particles per generation")
    ap.add_argument("--generations", type=number(int, 1, 100), default=5, help="generations of ABC-SMC")
    ap.add_argument(
        "--design",
        type=number(int, 0, 100_000),
        default=400,
        help="runs the emulator learns from, once for all truths (0: ABC-SMC on the simulator itself)",
    )
    add_jobs(ap)
    ap.add_argument("--seed", type=number(int, 0, 2**32 - 1), default=0, help="seed of the truths and the inference")
    add_out(ap, "results/validation/coverage", "the folder of the results")
    a = ap.parse_args(argv)
    inference.require_pyabc()
    base = load_card(a.card)
    a.customers = base.customers if a.customers is None else a.customers
    a.weeks = base.weeks if a.weeks is None else a.weeks
    out = Path(a.out)
    claim_folder(out, base, a)
    sized = dataclasses.replace(base, customers=a.customers, weeks=a.weeks)
    em = None
    ran = 0
    start = time.perf_counter()
    for k, truth in enumerate(truths(base, a.first + a.truths, a.seed)):
        if k < a.first:
            continue
        done = out / f"truth_{k}.csv"
        if done.is_file():
            continue
        card = card_for(base, truth, a.customers, a.weeks, k)
        with failing_as("writing", out):
            if a.design and em is None:  # one emulator for every truth: they share the card's priors and market
                em = emulator.build(sized, out / "design.parquet", a.design, a.jobs, a.seed)
            (out / f"truth_{k}").mkdir(parents=True, exist_ok=True)
            table = recover(card, out / f"truth_{k}", a.population, a.generations, a.jobs, a.seed + k, em)
            table.insert(0, "truth_set", k)
            write_atomic(done, lambda p, t=table: t.to_csv(p, index=False))
        ran += 1
        inside = int(table.truth_inside_90.sum())
        print(f"truth {k}: {inside} of {len(table)} parameters inside their 90% interval", flush=True)
    finished = sorted(out.glob("truth_*.csv"), key=lambda p: int(p.stem.split("_")[1]))
    every = pd.concat([pd.read_csv(p) for p in finished], ignore_index=True)  # every truth run into the folder
    cover = coverage_table(every)
    overall = every.truth_inside_90.mean()
    with failing_as("writing", out):
        write_atomic(out / "coverage.csv", lambda p: cover.to_csv(p, index=False))
        if "truth_rank" in every:
            write_atomic(out / "coverage.png", lambda p: rank_plot(every, p))
    command = "python -m sim.validate coverage " + " ".join(shlex.quote(x) for x in (argv or sys.argv[2:]))
    print(command)
    print(cover.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(
        f"all parameters: {overall:.0%} of {len(every)} truth-parameter pairs inside their 90% interval "
        f"({every.truth_set.nunique()} truths)"
    )
    if "ess" in every:
        ess = every.groupby("truth_set").ess.first()
        print(f"effective sample size of the posteriors: median {ess.median():.0f}, least {ess.min():.0f}")
    spent = time.perf_counter() - start
    print(f"seconds this invocation: {spent:.0f} (truth k observed on seed {SEEDS[0]} + k, plus the card's noise)")
    if ran:
        print(
            f"{spent / ran:.0f} s a truth here: on a cluster, one job per truth (--first k --truths 1) takes about "
            "that long each"
        )
    print(f"written: {out}/coverage.csv, {out}/coverage.png")
