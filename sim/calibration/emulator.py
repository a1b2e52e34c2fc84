"""A Gaussian-process emulator of a card's market: what its KPIs would be at a parameter set, and how much one
run's luck moves them, learnt from a few hundred runs spread over the priors.

ABC on the simulator itself needs thousands of runs per posterior, and its last generation rests on few
particles (each run's own luck makes the exact acceptance rare). Emulating the simulator (Wilkinson 2014,
"Accelerating ABC methods using Gaussian processes"; Järvenpää et al. 2019) spends the runs once, on a design
that fills the prior box (a Latin hypercube), and lets ABC-SMC draw as many particles as it needs from the
emulator at a millisecond each. The emulator is a stand-in, so it says what it does not know: a KPI
emulated at a parameter set is its Gaussian-process mean, plus the process's own uncertainty there, plus a
run's luck (the fitted white noise, correlated across KPIs as the design runs' residuals are: a firm's
share and its rival's move together). Every draw is seeded from the parameter set's values (as
``inference.seeds_of``), so a calibration on the emulator repeats exactly.

One Gaussian process per KPI (scikit-learn's ``GaussianProcessRegressor``): a constant times an anisotropic
squared-exponential kernel over the parameters scaled to their prior ranges, plus white noise, the
hyperparameters fitted by maximum likelihood.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..runs.errors import Failure, reason
from ..runs.results import write_atomic
from . import inference
from .card import MarketCard, observed, priors
from .inference import MISSING


def design(card: MarketCard, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` parameter sets filling the card's prior box (a scrambled Latin hypercube, seeded)."""
    from scipy.stats import qmc

    ps = priors(card)
    unit = qmc.LatinHypercube(d=len(ps), seed=np.random.default_rng(seed)).random(n)
    low = np.array([p.low for p in ps])
    high = np.array([p.high for p in ps])
    return pd.DataFrame(low + unit * (high - low), columns=[p.key for p in ps])


BATCH = 40  # design runs between two saves: an interrupted design loses at most this many


def runs_of(card: MarketCard, path: Path, n: int, jobs: int, seed: int = 0, progress: bool = False) -> pd.DataFrame:
    """The design's ``n`` sets and their KPIs (sets' columns, then KPIs'), run into ``path`` (Parquet) in batches,
    each saved whole: run again after an interruption, it continues from the last saved batch."""
    from tqdm.auto import tqdm

    sets = design(card, n, seed)
    try:
        done = pd.read_parquet(path) if path.is_file() else pd.DataFrame()
    except (OSError, ValueError) as err:  # pyarrow's errors for a file cut short
        raise Failure(
            f"error: reading {path}: {reason(err)} (damaged or cut short): move it away to start again"
        ) from None
    same = list(done.columns[: len(sets.columns)]) == list(sets.columns) and len(done) <= n
    if len(done) and not (same and np.array_equal(done[sets.columns].to_numpy(), sets.iloc[: len(done)].to_numpy())):
        raise Failure(f"error: {path} holds another design: move it away to start again")
    with tqdm(total=n, initial=len(done), disable=not progress, unit="run", desc="design") as bar:
        while len(done) < n:
            batch = sets.iloc[len(done) : len(done) + BATCH * jobs]
            done = pd.concat(
                [done, pd.concat([batch, inference.simulate_each(card, batch, jobs)], axis=1)], ignore_index=True
            )
            write_atomic(path, lambda p, d=done: d.to_parquet(p, index=False))
            bar.update(len(batch))
    return done


def build(card: MarketCard, path: Path, n: int, jobs: int, seed: int = 0, progress: bool = False) -> Emulator:
    """The card's emulator, fitted on ``n`` design runs kept in ``path`` (run, or continued, first)."""
    table = runs_of(card, path, n, jobs, seed, progress)
    if jobs > 1:  # the design's worker processes are done: not left idle (and holding memory) through the inference
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
    keys = [p.key for p in priors(card)]
    return fit(card, table[keys], table[list(observed(card))], seed)


def check(em: Emulator, pred: pd.DataFrame) -> pd.DataFrame:
    """How well the emulator foresaw runs it did not see (the posterior predictive's, on the simulator): per KPI,
    the standard deviation of the runs' standardised errors (1: its stated uncertainty is right; above 1 it
    claims too much) and the share of errors beyond 2 sd (about 5% when right)."""
    mean, var = em.predict(pred)
    rows = []
    for j, kpi in enumerate(em.kpis):
        y = pred[kpi].to_numpy(float)
        ok = y < MISSING
        z = (y[ok] - mean[ok, j]) / np.sqrt(var[ok, j] + em.luck[j, j])
        rows.append(
            {"kpi": kpi, "runs": int(ok.sum()), "error_sd": float(np.std(z)), "beyond_2sd": float(np.mean(abs(z) > 2))}
        )
    return pd.DataFrame(rows)


@dataclass
class Emulator:
    """The fitted emulator of one card: ``kpis`` in the card's order, a Gaussian process per KPI."""

    keys: list[str]  # the parameters (dotted keys), in the priors' order
    low: np.ndarray
    high: np.ndarray
    kpis: list[str]
    processes: list  # a fitted GaussianProcessRegressor per KPI
    luck: np.ndarray  # the covariance of a run's luck across KPIs (KPI units)
    widen: np.ndarray  # per KPI, the factor on the process's variance that leave-one-out errors call for (≥ 1)

    def unit(self, params: dict[str, float] | pd.DataFrame) -> np.ndarray:
        """Parameter sets (rows) scaled to the unit box of the priors."""
        x = np.atleast_2d(np.asarray([params[k] for k in self.keys], dtype=float).T)
        return (x - self.low) / (self.high - self.low)

    def predict(self, params) -> tuple[np.ndarray, np.ndarray]:
        """The emulated mean of each KPI at each set, and the emulator's own variance there (sets × KPIs)."""
        x = self.unit(params)
        mean = np.empty((len(x), len(self.kpis)))
        var = np.empty_like(mean)
        for j, gp in enumerate(self.processes):
            m, s = gp.predict(x, return_std=True)
            white = _white(gp)
            mean[:, j] = m
            var[:, j] = np.maximum(s**2 - white, 0.0) * self.widen[j]  # the process's own, without a run's luck
        return mean, var

    def __call__(self, params: dict[str, float]) -> dict[str, float]:
        """One emulated run at ``params``: mean, plus the emulator's uncertainty, plus a run's luck, drawn on
        a generator seeded from the set's values."""
        mean, var = self.predict(params)
        cov = self.luck + np.diag(var[0])
        entropy = inference.entropy_of(np.array([params[k] for k in self.keys]))
        draw = np.random.default_rng(entropy).multivariate_normal(mean[0], cov, method="cholesky")
        return dict(zip(self.kpis, draw.tolist(), strict=True))


def _white(gp) -> float:
    """The fitted white-noise variance of a process (in the KPI's units)."""
    scale = float(np.atleast_1d(gp._y_train_std)[0]) if gp.normalize_y else 1.0  # the library's own scale of y
    return float(gp.kernel_.k2.noise_level) * scale**2


def fit(card: MarketCard, sets: pd.DataFrame, runs: pd.DataFrame, seed: int = 0) -> Emulator:
    """A Gaussian process per observed KPI on the design's runs; a run that could not measure a KPI is left
    out of that KPI's process."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    ps = priors(card)
    keys = [p.key for p in ps]
    low = np.array([p.low for p in ps])
    high = np.array([p.high for p in ps])
    x = (sets[keys].to_numpy(float) - low) / (high - low)
    kpis = list(observed(card))
    processes, residuals = [], np.full((len(x), len(kpis)), np.nan)
    for j, kpi in enumerate(kpis):
        y = runs[kpi].to_numpy(float)
        ok = y < MISSING
        if ok.sum() < min(10, len(y)):
            raise Failure(
                f"error: the emulator's design measured {kpi} in only {int(ok.sum())} of {len(y)} runs; "
                "the card's market rarely shows it: leave it out of the card, or calibrate with --design 0"
            )
        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(np.ones(len(keys)), (1e-2, 1e2)) + WhiteKernel(0.1, (1e-6, 1.0))
        gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=1, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit(x[ok], y[ok])
        processes.append(gp)
        residuals[ok, j] = y[ok] - gp.predict(x[ok])
    widen = np.array([max(1.0, float(np.std(loo_errors(gp)))) for gp in processes])
    sd = np.sqrt([_white(gp) for gp in processes]) * widen
    corr = pd.DataFrame(residuals).corr(min_periods=10).fillna(0.0).to_numpy().copy()
    np.fill_diagonal(corr, 1.0)
    luck = corr * np.outer(sd, sd)
    # nearest positive semi-definite matrix, in case pairwise correlations disagree
    vals, vecs = np.linalg.eigh(luck)
    luck = vecs @ np.diag(np.clip(vals, 1e-12, None)) @ vecs.T
    return Emulator(keys, low, high, kpis, processes, luck, widen**2)


def loo_errors(gp) -> np.ndarray:
    """The design runs' leave-one-out errors, each in units of the sd the process would have stated without
    that run (closed form for fixed hyperparameters: Rasmussen & Williams 2006, eq. 5.12; Bastos & O'Hagan
    2009 use them to validate an emulator). Their sd is about 1 when the process states its uncertainty
    rightly; above 1 it claims too much, and the emulator widens what it states by that much."""
    from scipy.linalg import cho_solve

    inverse = cho_solve((gp.L_, True), np.eye(len(gp.L_)))
    return gp.alpha_.ravel() / np.sqrt(np.diag(inverse))
