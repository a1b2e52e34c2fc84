"""The shifted-beta-geometric (sBG) model of cohort survival (Fader & Hardie 2007): the baseline a held-out
forecast of the agent model is set against.

Each customer of a cohort leaves at the end of any year with a probability of their own, drawn from a
beta(alpha, beta) across the cohort; the cohort's survival after t years is B(alpha, beta + t) / B(alpha, beta).
Fitted by maximum likelihood to the counts a survival curve implies (the cohort's size times each year's
share): those lost in each year observed, and those still there at the last one (right-censored).
The likelihood is the paper's equation (4); PyMC-Marketing has a Bayesian sBG, but it brings PyMC with it,
too much for a ten-line closed form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln


@dataclass(frozen=True)
class ShiftedBetaGeometric:
    """A fitted sBG: the beta distribution of the yearly chance of leaving across a cohort."""

    alpha: float
    beta: float

    def survival(self, years: int) -> np.ndarray:
        """The share of the cohort still there after 1, 2, ... ``years`` years."""
        t = np.arange(1, years + 1)
        return np.exp(betaln(self.alpha, self.beta + t) - betaln(self.alpha, self.beta))


def _log_likelihood(alpha: float, beta: float, lost: np.ndarray, still: float) -> float:
    t = np.arange(1, len(lost) + 1)
    leave = betaln(alpha + 1, beta + t - 1) - betaln(alpha, beta)  # P(T = t)
    stay = betaln(alpha, beta + len(lost)) - betaln(alpha, beta)  # P(T > last year observed)
    return float(lost @ leave + still * stay)


def fit(survival: np.ndarray, size: float) -> ShiftedBetaGeometric:
    """The sBG of a cohort of ``size`` customers whose survival after 1..k years is ``survival``."""
    alive = size * np.concatenate([[1.0], np.asarray(survival, float)])
    lost = -np.diff(alive)
    if len(lost) < 1 or np.any(lost < -1e-9 * size):
        raise ValueError("a survival curve needs at least one year, and never rises")
    lost = np.clip(lost, 0.0, None)

    def loss(x: np.ndarray) -> float:
        return -_log_likelihood(np.exp(x[0]), np.exp(x[1]), lost, alive[-1])

    best = minimize(loss, x0=np.zeros(2), method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-10})
    return ShiftedBetaGeometric(float(np.exp(best.x[0])), float(np.exp(best.x[1])))
