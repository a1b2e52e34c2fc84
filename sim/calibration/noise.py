"""``python -m sim.validate noise``: is a card's number of seeds per parameter set enough?

    python -m sim.validate noise                       # the synthetic card at its truth, 12 seeds
    python -m sim.validate noise --card fader_hardie --seeds 8

The calibration compares the card's observed KPIs with the mean of ``seeds`` simulated runs, and takes the
card's sd as the whole of the noise. That holds when a run's own noise is small against the card's sd. This
check simulates the card's market on ``--seeds`` seeds at its truth (or at the middle of its priors), and
reports per KPI the sd over seeds of one run, of the mean of the card's ``seeds`` runs, and the latter over the
card's sd: well under 1 (say 0.5), and more seeds per set buy little. Writes ``results/validation/noise.csv``.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..runs.arguments import add_out
from ..runs.errors import ArgumentParser, failing_as, number
from ..runs.results import write_atomic
from .card import MarketCard, load_card, observations
from .inference import measure


def noise(card: MarketCard, seeds: int) -> pd.DataFrame:
    """Per observed KPI: its sd over ``seeds`` single runs, over the card's averaged runs, and against the card's sd."""
    at = dict(card.truth) or {key: (lo + hi) / 2 for key, (lo, hi) in card.free.items()}
    runs = [measure(card, at, seed) for seed in range(seeds)]
    rows = []
    for key, seen in observations(card).items():
        firm, kpi = key.split(".", 1)
        values = np.array([r.get((firm, kpi), np.nan) for r in runs], float)
        one = float(np.nanstd(values, ddof=1))
        averaged = one / np.sqrt(card.seeds)
        rows.append(
            {
                "kpi": key,
                "mean": float(np.nanmean(values)),
                "sd_one_run": one,
                "sd_card_runs": averaged,
                "card_sd": seen.sd,
                "ratio": averaged / seen.sd,
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    ap = ArgumentParser(prog="python -m sim.validate noise", description=__doc__.splitlines()[0])
    ap.add_argument("--card", default="synthetic", help="a card of conf/market_data/")
    ap.add_argument("--seeds", type=number(int, 3, 1000), default=12, help="seeds simulated")
    add_out(ap, "results/validation", "the folder of the results")
    a = ap.parse_args(argv)
    card = load_card(a.card)
    table = noise(card, a.seeds)
    out = Path(a.out)
    with failing_as("writing", out):
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(out / "noise.csv", lambda p: table.to_csv(p, index=False))
    print("python -m sim.validate noise " + " ".join(shlex.quote(x) for x in (argv or sys.argv[2:])))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(
        f"the mean of the card's {card.seeds} run(s) varies {table.ratio.max():.2f} of the card's sd at most "
        f"({table.ratio.median():.2f} median)"
    )
    print(f"written: {out}/noise.csv")
