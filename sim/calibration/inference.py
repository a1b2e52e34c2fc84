"""Approximate Bayesian computation (ABC-SMC, ``pyabc``) of a market card's free parameters.

A parameter set is simulated on the card's market for each of its seeds (the same seeds for every
parameter set: common random numbers), its KPIs averaged over seeds, and compared with the observed
ones by a distance that weighs each KPI by its uncertainty: sqrt(sum(((sim - obs) / sd)^2)). ABC-SMC
keeps the parameter sets whose distance falls under a shrinking tolerance, generation by generation;
the last generation, with its weights, is the posterior. The history (every generation) lives in a
SQLite database next to the results, so an interrupted calibration continues where it stopped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import kpis as kpi_table
from .card import MarketCard, needs_retention, observed, priors, settings_for, uncertainty

MISSING = 1e6  # a KPI a run could not measure (no acquisitions, no customers): far from anything observed


def simulate(card: MarketCard, params: dict[str, float]) -> dict[str, float]:
    """The card's KPIs simulated with ``params`` (dotted keys), averaged over the card's seeds."""
    per_seed = [
        kpi_table.run(settings_for(card, params, seed), retention=needs_retention(card)) for seed in range(card.seeds)
    ]
    out = {}
    for key in observed(card):
        firm, kpi = key.split(".", 1)
        values = [r.get((firm, kpi), np.nan) for r in per_seed]
        value = float(np.nanmean(values)) if not np.all(np.isnan(values)) else np.nan
        out[key] = MISSING if np.isnan(value) else value
    return out


@dataclass
class Model:
    """The simulator as the inference library calls it: parameters in, summary statistics out."""

    card: MarketCard

    def __call__(self, parameters: dict) -> dict[str, float]:
        by_key = {p.key: float(parameters[p.name]) for p in priors(self.card)}
        return simulate(self.card, by_key)


def require_pyabc() -> None:
    """The inference library is an optional extra: say so in one line if it is missing."""
    import importlib.util

    from ..config import ConfigError

    if importlib.util.find_spec("pyabc") is None:
        raise ConfigError("calibrate error: needs the calibrate extra: pip install -e '.[calibrate]'")


def distance(card: MarketCard):
    import pyabc

    weights = {key: 1.0 / sd for key, sd in uncertainty(card).items()}
    return pyabc.PNormDistance(p=2, fixed_weights=weights)


def prior(card: MarketCard):
    import pyabc

    return pyabc.Distribution(**{p.name: pyabc.RV("uniform", p.low, p.high - p.low) for p in priors(card)})


def sampler(kind: str, jobs: int, redis: str | None = None):
    """Where the simulations run: ``multicore`` (this machine, ``jobs`` processes) or ``redis``
    (any number of ``abc-redis-worker`` processes, on this machine or a cluster, fed by a Redis server)."""
    import pyabc

    if kind == "multicore":
        return (
            pyabc.sampler.MulticoreEvalParallelSampler(n_procs=jobs) if jobs > 1 else pyabc.sampler.SingleCoreSampler()
        )
    host, _, port = (redis or "localhost:6379").partition(":")
    return pyabc.sampler.RedisEvalParallelSampler(host=host, port=int(port or 6379))


def run(
    card: MarketCard,
    db: Path,
    population: int,
    generations: int,
    sampler_kind: str = "multicore",
    jobs: int = 2,
    redis: str | None = None,
    seed: int = 0,
    min_epsilon: float = 0.0,
    progress: bool = True,
):
    """Run (or continue) ABC-SMC into ``db`` until ``generations`` generations exist; return the history."""
    import pyabc
    from tqdm.auto import tqdm

    logging.getLogger("ABC").setLevel(logging.WARNING)
    logging.getLogger("Sampler").setLevel(logging.WARNING)
    url = f"sqlite:///{db.resolve()}"

    def smc():
        return pyabc.ABCSMC(
            Model(card),
            prior(card),
            distance(card),
            population_size=population,
            sampler=sampler(sampler_kind, jobs, redis),
        )

    # One generation per call, each from a fresh object that loads the history: exactly what a rerun after an
    # interruption does, so an interrupted calibration continues as an uninterrupted one would. (Calling run()
    # again on the same object would start each generation's tolerance from the first, prior sample.)
    history = pyabc.History(url) if db.is_file() else None
    if history is not None and history.max_t < 0:  # stopped before its first generation: start again
        history = None
        db.unlink()
    done = history.max_t + 1 if history is not None else 0
    bar = tqdm(
        total=generations, initial=min(done, generations), disable=not progress, unit="generation", desc=card.name
    )
    while done < generations:
        np.random.seed(seed + done)  # the library draws its proposals from numpy's global generator
        abc = smc()
        if done == 0:
            abc.new(url, observed(card))
        else:
            abc.load(url, 1)
        history = abc.run(max_nr_populations=1, minimum_epsilon=min_epsilon)
        done = history.max_t + 1
        pops = history.get_all_populations()
        last = pops[pops.t == history.max_t].iloc[0]
        rate = population / last.samples if last.samples else float("nan")
        bar.set_postfix(epsilon=f"{last.epsilon:.3g}", acceptance=f"{rate:.0%}")
        bar.update(1)
        if last.epsilon <= min_epsilon:
            break
    bar.close()
    return history


def posterior(history, card: MarketCard) -> pd.DataFrame:
    """The last generation: one row per particle, columns the parameters (dotted keys) and ``weight``."""
    frame, weights = history.get_distribution(m=0, t=history.max_t)
    names = {p.name: p.key for p in priors(card)}
    out = frame.rename(columns=names)[[p.key for p in priors(card)]].reset_index(drop=True)
    out["weight"] = np.asarray(weights) / np.sum(weights)
    return out


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(np.interp(q, cumulative / cumulative[-1], values[order]))


def draws(post: pd.DataFrame, k: int, seed: int = 0) -> pd.DataFrame:
    """``k`` parameter sets resampled from the posterior by weight (a fixed generator: reproducible)."""
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(post), size=k, replace=True, p=post.weight.to_numpy())
    return post.iloc[picks].drop(columns="weight").reset_index(drop=True)
