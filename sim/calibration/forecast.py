"""Held-out forecasts: a calibration fitted on the first years of each cohort's survival curve forecasts the rest,
beside the shifted-beta-geometric baseline (``sbg``) fitted on the same years.

The model's band is the posterior predictive of what would be observed: each posterior draw's simulated
survival (the product of its yearly retention) plus the binomial noise of a cohort of the card's size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from . import sbg
from .card import MarketCard

BAND = 0.9


def table(card: MarketCard, pred: pd.DataFrame, holdout: int, seed: int = 0) -> pd.DataFrame:
    """Per firm with a cohort and per year: observed survival, whether it was fitted on or held out, the model's
    forecast (median and band) and the sBG's, each fitted on the first ``holdout`` years."""
    rng = np.random.default_rng(seed)
    lo_q, hi_q = (1 - BAND) / 2, 1 - (1 - BAND) / 2
    rows = []
    for firm, cohort in card.cohorts.items():
        years = len(cohort.survival)
        rates = np.column_stack([pred[f"{firm}.retention_year_{k}"].to_numpy(float) for k in range(1, years + 1)])
        simulated = np.cumprod(np.clip(rates, 0.0, 1.0), axis=1)
        noisy = simulated + rng.normal(size=simulated.shape) * np.sqrt(simulated * (1 - simulated) / cohort.size)
        baseline = sbg.fit(np.asarray(cohort.survival[:holdout]), cohort.size)
        expected = baseline.survival(years)
        for k in range(1, years + 1):
            rows.append(
                {
                    "firm": firm,
                    "year": k,
                    "part": "fitted" if k <= holdout else "held out",
                    "observed": cohort.survival[k - 1],
                    "model": float(np.median(simulated[:, k - 1])),
                    "model_low": float(np.quantile(noisy[:, k - 1], lo_q)),
                    "model_high": float(np.quantile(noisy[:, k - 1], hi_q)),
                    "sbg": float(expected[k - 1]),
                    "sbg_alpha": baseline.alpha,
                    "sbg_beta": baseline.beta,
                }
            )
    out = pd.DataFrame(rows)
    out["inside_band"] = (out.model_low <= out.observed) & (out.observed <= out.model_high)
    return out


def errors(forecast: pd.DataFrame) -> pd.DataFrame:
    """Per firm, over the held-out years: the mean absolute error (survival points) of the model and of the sBG,
    and how many observed values lie inside the model's band."""
    held = forecast[forecast.part == "held out"]
    return (
        held.assign(model_error=(held.model - held.observed).abs(), sbg_error=(held.sbg - held.observed).abs())
        .groupby("firm", sort=False)
        .agg(
            years=("year", "size"),
            model_error=("model_error", "mean"),
            sbg_error=("sbg_error", "mean"),
            inside_band=("inside_band", "sum"),
        )
        .reset_index()
    )


def plot(forecast: pd.DataFrame, holdout: int, path: Path) -> None:
    firms = list(forecast.firm.unique())
    fig = Figure(figsize=(6 * len(firms), 4), dpi=100)
    for ax, firm in zip(fig.subplots(1, len(firms), squeeze=False)[0], firms, strict=True):
        f = forecast[forecast.firm == firm]
        ax.fill_between(f.year, f.model_low, f.model_high, color="tab:blue", alpha=0.25, label="model, 90% band")
        ax.plot(f.year, f.model, color="tab:blue", label="model (posterior median)")
        ax.plot(f.year, f.sbg, "--", color="tab:orange", label="sBG (Fader & Hardie 2007)")
        ax.plot(f.year, f.observed, "ko", label="observed")
        ax.axvspan(0.5, holdout + 0.5, color="grey", alpha=0.1, label=f"fitted on (years 1-{holdout})")
        ax.set_xlabel("years after acquisition")
        ax.set_ylabel("share of the cohort still there")
        ax.set_ylim(0, 1)
        ax.set_title(f"{firm}: survival, fitted on {holdout} years, the rest forecast", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
