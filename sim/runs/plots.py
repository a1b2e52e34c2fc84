"""The plots of one run: share, cumulative profit, advocacy and the loyalty ladder over time.

Drawn on matplotlib ``Figure`` objects (no pyplot), so no backend is chosen or needed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure


def _plot(ts: pd.DataFrame, column: str, ylabel: str, title: str, path: Path, scale: float = 1.0) -> None:
    fig = Figure(figsize=(8, 4.5), dpi=110)
    ax = fig.subplots()
    for firm, g in ts.groupby("firm", sort=False):
        ax.plot(g.week, g[column] / scale, label=f"{firm} ({g.policy.iloc[0]})")
    ax.set_xlabel("week")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def _plot_ladder(ts: pd.DataFrame, path: Path) -> None:
    firms = list(dict.fromkeys(ts.firm))
    fig = Figure(figsize=(4.5 * len(firms), 4), dpi=110)
    axes = fig.subplots(1, len(firms), sharey=True, squeeze=False)
    states = ["n_customer", "n_loyal", "n_devoted", "n_detractor", "n_defected"]
    for ax, firm in zip(axes[0], firms, strict=True):
        g = ts[ts.firm == firm]
        ax.stackplot(g.week, *[g[s] for s in states], labels=[s[2:] for s in states], alpha=0.85)
        ax.set_title(f"{firm}: customers by ladder state")
        ax.set_xlabel("week")
    axes[0][0].set_ylabel("customers")
    axes[0][-1].legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


PLOTS: dict[str, Callable[[pd.DataFrame, Path], None]] = {
    "share.png": lambda ts, p: _plot(ts, "share", "market share", "Market share", p),
    "profit.png": lambda ts, p: _plot(
        ts, "cumulative_profit", "cumulative profit (millions)", "Cumulative profit", p, 1e6
    ),
    "advocacy.png": lambda ts, p: _plot(
        ts, "advocacy", "advocacy (devoted - detractors, % of customers)", "Advocacy", p
    ),
    "ladder.png": _plot_ladder,
}
