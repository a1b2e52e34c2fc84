"""Docking with the Bass diffusion model: experiment=bass reproduces Bass adoption curves.

Tolerances (max over weeks of |F_model - F|, averaged over two seeds, n = 10,000):
- against the recursion with the model's exact hazard 1 - (1 - p) exp(-q F): 0.04, the sampling
  noise of the takeoff week (a lead or lag of half a week on the steep part of the curve);
- against the textbook Bass recursion F(t+1) = F(t) + (p + q F(t)) (1 - F(t)): the same 0.04 plus
  the deterministic gap between the two recursions (Poisson word of mouth saturates: a prospect
  who hears two words adopts once), computed here, not assumed.
"""

import numpy as np
import pytest

import sim
from sim.validation import bass as bd

N, STEPS, SEEDS = 10_000, 60, (0, 1)
SAMPLING = 0.04
PAIRS = [(0.03, 0.38), (0.01, 0.2), (0.05, 0.1)]


def max_dev(curves: np.ndarray, ref: np.ndarray) -> float:
    return float(np.mean(np.abs(curves - ref).max(axis=1)))


@pytest.mark.parametrize("p,q", PAIRS)
def test_adoption_follows_bass(p, q):
    curves = np.array([bd.adoption(p, q, N, STEPS, s) for s in SEEDS])
    exact, textbook = bd.bass_poisson(p, q, STEPS), bd.bass(p, q, STEPS)
    assert max_dev(curves, exact) < SAMPLING
    gap = float(np.abs(exact - textbook).max())
    assert max_dev(curves, textbook) < SAMPLING + gap
    assert np.all(np.diff(curves, axis=1) >= 0), "no adopter ever leaves"


def test_innovation_alone_is_geometric():
    """q = 0: F(t) = 1 - (1 - p)^t, the pure-innovation Bass curve."""
    p = 0.05
    f = np.mean([bd.adoption(p, 0.0, N, 30, s) for s in SEEDS], axis=0)
    assert np.abs(f - (1 - (1 - p) ** np.arange(31))).max() < 0.015


def test_experiment_keeps_adopters_loyal():
    """The reduction holds: no devoted, detractors or defections; everyone who buys is LOYAL."""
    model = sim.LoyaltyMarket(sim.load(["experiment=bass", "customers.n=3000", "steps=30", "progress=false"])).run()
    ts = model.timeseries()
    assert (ts.n_devoted + ts.n_detractor + ts.n_customer + ts.n_defected).sum() == 0
    assert ts.defections.sum() == 0 and ts.departures.sum() == 0
    assert (ts.n_loyal == ts.customers).all()


def test_sparse_network_slows_diffusion():
    """On a Watts-Strogatz ring of degree 4 words fall on neighbours who already adopted: slower than Bass."""
    p, q = 0.01, 0.2
    mixed = np.mean([bd.adoption(p, q, N, STEPS, s) for s in SEEDS], axis=0)
    sparse = np.mean([bd.adoption(p, q, N, STEPS, s, bd.SPARSE) for s in SEEDS], axis=0)
    t50 = lambda f: int(np.argmax(f >= 0.5))  # noqa: E731
    assert t50(sparse) >= t50(mixed) + 3
    assert (mixed - sparse).max() > 0.15
