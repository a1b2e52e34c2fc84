"""Approximate Bayesian computation (ABC-SMC, ``pyabc``) of a market card's free parameters.

A parameter set is simulated on the card's market for each of its seeds, its KPIs averaged over seeds, and
compared with the observed ones. Each parameter set has luck of its own: its seeds are derived from its values
(the same set always meets the same luck, so a calibration is deterministic and resumes exactly), never shared
with other sets. The observed market is one run of luck the calibration cannot know, so the posterior must
average over luck as the likelihood does; seeds shared by every set would condition it on one luck and pull
every posterior the same way (measured by ``python -m sim.validate coverage``). The card's standard deviations are the observation model: an observed KPI is the simulated one plus
normal noise of that sd. ABC-SMC with a stochastic acceptor (Wilkinson 2013; pyabc's ``StochasticAcceptor``,
``IndependentNormalKernel`` and ``Temperature``) accepts a parameter set with the probability that noise
gives, tempered in early generations and exact (temperature 1) in the last one, so the last generation,
with its weights, is the posterior under that observation model, not an approximation narrowed by an
arbitrary tolerance. The acceptance's normalising constant is pyabc's ``ScaledPDFNorm`` (Schälte & Hasenauer
2020): once acceptance falls below a tenth it is lowered, so more parameter sets are accepted, and those
accepted above it are weighted up (rejection control importance sampling): fewer simulations, still exact.
The history (every generation) lives in a SQLite database next to the results, so an interrupted calibration
continues where it stopped. The same ABC-SMC runs on the simulator or on its emulator (``emulator.Emulator``:
a run's KPIs as a Gaussian process foresees them, with its own uncertainty and a run's luck), which draws a
particle in milliseconds instead of a simulation's tenths of a second, so the posterior can rest on hundreds.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..runs.errors import Failure, reason
from . import kpis as kpi_table
from .card import MarketCard, needs_tenure, observed, priors, retention_years, settings_for, uncertainty

MISSING = 1e6  # a KPI a run could not measure (no acquisitions, no customers): far from anything observed


def measure(card: MarketCard, params: dict[str, float], seed: int) -> dict[tuple[str, str], float]:
    """One run of the card's market with ``params`` (dotted keys) on ``seed``: every KPI the card may need."""
    return kpi_table.run(settings_for(card, params, seed), retention=retention_years(card), tenure=needs_tenure(card))


def entropy_of(values: np.ndarray) -> int:
    """Entropy derived from a parameter set's exact values: the same set always meets the same luck, and no two
    sets share it."""
    return int.from_bytes(hashlib.blake2b(np.asarray(values, np.float64).tobytes(), digest_size=16).digest(), "little")


def seeds_of(card: MarketCard, params: dict[str, float]) -> list[int]:
    """The ``card.seeds`` seeds of the parameter set ``params``: derived from its exact values, so its own."""
    entropy = entropy_of(np.array([params[k] for k in sorted(params)]))
    return [int(s) for s in np.random.SeedSequence(entropy).generate_state(card.seeds, np.uint64) >> np.uint64(1)]


def simulate(card: MarketCard, params: dict[str, float]) -> dict[str, float]:
    """The card's KPIs simulated with ``params`` (dotted keys), averaged over the set's own seeds."""
    per_seed = [measure(card, params, seed) for seed in seeds_of(card, params)]
    out = {}
    for key in observed(card):
        firm, kpi = key.split(".", 1)
        values = [r.get((firm, kpi), np.nan) for r in per_seed]
        value = float(np.nanmean(values)) if not np.all(np.isnan(values)) else np.nan
        out[key] = MISSING if np.isnan(value) else value
    return out


def simulate_each(card: MarketCard, sets: pd.DataFrame, jobs: int) -> pd.DataFrame:
    """The card's KPIs simulated at each parameter set (rows, dotted keys), each on its own luck: one row per
    set, one column per KPI, in ``jobs`` processes."""
    from joblib import Parallel, delayed

    rows = Parallel(n_jobs=jobs)(delayed(simulate)(card, row.to_dict()) for _, row in sets.iterrows())
    return pd.DataFrame(rows, index=sets.index)


@dataclass
class Model:
    """The simulator as the inference library calls it: parameters in, summary statistics out."""

    card: MarketCard
    emulator: object | None = None  # a fitted ``emulator.Emulator`` to call instead of the simulator

    def __call__(self, parameters: dict) -> dict[str, float]:
        by_key = {p.key: float(parameters[p.name]) for p in priors(self.card)}
        return simulate(self.card, by_key) if self.emulator is None else self.emulator(by_key)


def require_pyabc() -> None:
    """The inference library is an optional extra: say so in one line if it is missing."""
    import importlib.util

    from ..config import ConfigError

    if importlib.util.find_spec("pyabc") is None:
        raise ConfigError("calibrate error: needs the calibrate extra: pip install -e '.[calibrate]'")


def kernel(card: MarketCard):
    """The observation model: each observed KPI is the simulated one plus independent normal noise of its sd."""
    import pyabc

    sd = uncertainty(card)
    return pyabc.IndependentNormalKernel(var=[sd[k] ** 2 for k in sd], keys=list(sd))


def prior(card: MarketCard):
    import pyabc

    return pyabc.Distribution(**{p.name: pyabc.RV("uniform", p.low, p.high - p.low) for p in priors(card)})


def _chain(err: BaseException) -> Iterator[BaseException]:
    """An error and the errors that caused it."""
    while err is not None:
        yield err
        err = err.__cause__ or err.__context__


@contextmanager
def redis_errors(address: str) -> Iterator[None]:
    """The Redis server's errors (refused, gone, unknown host) as a one-line ``Failure`` naming it."""
    from redis.exceptions import RedisError

    try:
        yield
    except RedisError as err:
        why = next((e for e in _chain(err) if isinstance(e, OSError) and e.strerror), err)
        text = why.strerror.lower() if isinstance(why, OSError) else reason(why)
        raise Failure(f"error: the Redis server at {address} (--redis): {text}") from None


def reach(address: str) -> None:
    """The Redis server at ``host:port`` answers, or a one-line ``Failure``: checked before anything is written."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    host, _, port = address.partition(":")
    with redis_errors(address):
        once = Retry(NoBackoff(), 0)  # an answer now: a server that is not there is for the user to start
        redis.Redis(host=host, port=int(port), socket_connect_timeout=10, socket_timeout=10, retry=once).ping()


@contextmanager
def stored(db: Path) -> Iterator[None]:
    """The history database's errors as a one-line ``Failure`` naming it: a damaged file (a copy cut short),
    which a rerun would meet again, or a failed write (a full disk), after which a rerun continues."""
    from sqlalchemy.exc import DBAPIError

    try:
        yield
    except (sqlite3.Error, DBAPIError) as err:
        cause = getattr(err, "orig", None) or err
        text = reason(cause)
        if isinstance(cause, sqlite3.DatabaseError) and not isinstance(cause, sqlite3.OperationalError):
            raise Failure(
                f"error: reading {db}: {text} (damaged or cut short): move {db.parent} away to start again"
            ) from None
        raise Failure(f"error: writing {db}: {text}; run the same command again to continue") from None


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
    progress: bool = True,
    emulator=None,
):
    """Run (or continue) ABC-SMC into ``db`` until ``generations`` generations exist; return the history.

    The temperature falls to 1 (exact) at the last generation, so ``generations`` is a budget planned from the
    start; a continued calibration plans its remaining generations the same way.
    """
    import pyabc
    from tqdm.auto import tqdm

    logging.getLogger("ABC").setLevel(logging.WARNING)
    logging.getLogger("Sampler").setLevel(logging.WARNING)
    logging.getLogger("Epsilon").setLevel(logging.WARNING)
    with stored(db), redis_errors(redis or "localhost:6379") if sampler_kind == "redis" else nullcontext():
        url = f"sqlite:///{db.resolve()}"
        history = pyabc.History(url) if db.is_file() else None
        if history is not None and (history.max_t is None or history.max_t < 0):  # stopped before its first
            history = None  # generation, or before the database held anything: start again
            db.unlink()
        done = history.max_t + 1 if history is not None else 0
        if done >= generations:
            return history
        np.random.seed(seed + done)  # the library draws its proposals from numpy's global generator
        abc = pyabc.ABCSMC(
            Model(card, emulator),
            prior(card),
            kernel(card),
            population_size=population,
            sampler=sampler(sampler_kind, jobs, redis),
            eps=pyabc.Temperature(),
            acceptor=pyabc.StochasticAcceptor(pdf_norm_method=pyabc.ScaledPDFNorm()),
        )
        if done == 0:
            abc.new(url, observed(card))
        else:
            abc.load(url, 1)
        bar = tqdm(total=generations, initial=done, disable=not progress, unit="generation", desc=card.name)
        watching = threading.Event()

        def watch() -> None:  # the library runs all generations in one call: follow them in its database
            seen = done
            while not watching.wait(2.0):
                try:
                    pops = pyabc.History(url).get_all_populations()
                except Exception:  # the bar only: the run itself says what went wrong with the database
                    continue
                pops = pops[pops.t >= 0]
                if len(pops) > seen:
                    last = pops.iloc[-1]
                    bar.set_postfix(temperature=f"{last.epsilon:.3g}", acceptance=f"{population / last.samples:.0%}")
                    bar.update(len(pops) - seen)
                    seen = len(pops)

        watcher = threading.Thread(target=watch, daemon=True)
        if progress:
            watcher.start()
        try:
            history = abc.run(max_nr_populations=generations - done)
        finally:
            watching.set()
            if progress:
                watcher.join()
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
