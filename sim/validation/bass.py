"""Docking with the Bass diffusion model (Rand & Rust 2011): the adoption curve of experiment=bass.

Run:  python -m sim.validate bass
Writes results/validation/bass.png (and a copy at docs/bass.png) and prints the deviations.

In experiment=bass a prospect looks at the market with probability
``prospect_consider + referral_uptake * [received a positive word this week]`` and a look is an
adoption. With ``referral_uptake = 1`` and every adopter talking with probability ``talk_loyal``
to one uniformly random person (network=mixed), the number of words a prospect receives is
close to Poisson with mean ``q F``. A prompted look is certain (its chance p + 1 is clipped at 1),
so the weekly hazard is ``1 - (1 - p) exp(-q F)``, not Bass's ``p + q F``: the two agree to first
order in ``q F`` (up to a factor 1 - p) and differ by at most ``(q F)^2 / 2 + p q F``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..config import load
from ..model.market import LoyaltyMarket
from ..runs.arguments import add_customers, add_seeds, add_weeks
from ..runs.errors import ArgumentParser, failing_as

PAIRS = [(0.03, 0.38), (0.01, 0.2), (0.05, 0.1), (0.005, 0.5)]
SPARSE = ["network=watts_strogatz", "network.mean_degree=4", "network.rewire=0.01"]


def bass(p: float, q: float, steps: int) -> np.ndarray:
    """Discrete-time Bass: F(t+1) = F(t) + (p + q F(t)) (1 - F(t)), F(0) = 0."""
    f = np.zeros(steps + 1)
    for t in range(steps):
        f[t + 1] = f[t] + (p + q * f[t]) * (1 - f[t])
    return f


def bass_poisson(p: float, q: float, steps: int) -> np.ndarray:
    """The same recursion with the model's exact hazard 1 - (1 - p) exp(-q F) (Poisson word of mouth)."""
    f = np.zeros(steps + 1)
    for t in range(steps):
        f[t + 1] = f[t] + (1 - (1 - p) * np.exp(-q * f[t])) * (1 - f[t])
    return f


def adoption(p: float, q: float, n: int = 10_000, steps: int = 78, seed: int = 0, extra=()) -> np.ndarray:
    """F(t) = 1 - prospects / n for weeks 0..steps of experiment=bass."""
    overrides = [
        "experiment=bass",
        f"customers.prospect_consider={p}",
        f"customers.talk_loyal={q}",
        f"customers.n={n}",
        f"steps={steps}",
        f"seed={seed}",
        "progress=false",
        *extra,
    ]
    model = LoyaltyMarket(load(overrides)).run()
    ts = model.timeseries()
    week = ts.groupby("week").prospects.first()
    return 1 - week.to_numpy() / n


def main(argv: list[str] | None = None) -> None:
    ap = ArgumentParser(prog="python -m sim.validate bass", description=__doc__.splitlines()[0])
    add_customers(ap, 10_000, "population size")
    add_weeks(ap, 60, "weeks")
    add_seeds(ap, 3, "replications per curve")
    ap.add_argument("--out", default="results/validation/bass.png")
    ap.add_argument("--docs", default="docs/bass.png", help="copy of the plot for the docs ('' for none)")
    a = ap.parse_args(argv)

    fig = Figure(figsize=(9, 7))
    axes = fig.subplots(2, 2, sharey=True).ravel()
    weeks = np.arange(a.steps + 1)
    print(f"n={a.n}, steps={a.steps}, seeds 0..{a.seeds - 1}; max |F_sim - F| over weeks, mean of seeds")
    print(
        f"{'p':>6} {'q':>5} {'mixed-Bass':>11} {'mixed-Poisson':>14} {'sparse-Bass':>12} {'t50 Bass':>9} {'t50 mixed':>10} {'t50 sparse':>11}"
    )
    for ax, (p, q) in zip(axes, PAIRS, strict=True):
        fb, fp = bass(p, q, a.steps), bass_poisson(p, q, a.steps)
        mixed = np.array([adoption(p, q, a.n, a.steps, s) for s in range(a.seeds)])
        sparse = np.array([adoption(p, q, a.n, a.steps, s, SPARSE) for s in range(a.seeds)])
        dev = lambda sims, ref: float(np.mean(np.abs(sims - ref).max(axis=1)))  # noqa: E731
        t50 = lambda f: int(np.argmax(f >= 0.5)) if f[-1] >= 0.5 else -1  # noqa: E731
        print(
            f"{p:6.3f} {q:5.2f} {dev(mixed, fb):11.4f} {dev(mixed, fp):14.4f} {dev(sparse, fb):12.4f}"
            f" {t50(fb):9d} {t50(mixed.mean(axis=0)):10d} {t50(sparse.mean(axis=0)):11d}"
        )
        ax.plot(weeks, fb, "k-", lw=2, label="Bass recursion")
        ax.plot(weeks, fp, "k:", lw=1.5, label="Bass, Poisson hazard")
        for i, f in enumerate(mixed):
            ax.plot(weeks, f, color="tab:blue", lw=1, alpha=0.7, label="model, mixed" if i == 0 else None)
        for i, f in enumerate(sparse):
            ax.plot(weeks, f, color="tab:red", lw=1, alpha=0.7, label="model, Watts-Strogatz k=4" if i == 0 else None)
        ax.set_title(f"p = {p}, q = {q}")
        ax.set_xlabel("week")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("adopted share F(t)")
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle("Docking with Bass: python -m sim.validate bass", fontsize=10)
    fig.tight_layout()
    out = Path(a.out)
    with failing_as("writing", out):
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110)
    print(f"plot: {out}")
    if a.docs:
        with failing_as("writing", a.docs):
            shutil.copyfile(out, a.docs)
        print(f"copy: {a.docs}")
