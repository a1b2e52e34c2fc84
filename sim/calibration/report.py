"""What a calibration writes: the posterior, a pairs plot, the fit of the KPIs, and a short report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..provenance import made_by
from .card import MarketCard, observed, priors, uncertainty
from .inference import draws, simulate_each, weighted_quantile

PINNED, WEAK = 0.5, 0.8  # 90% interval width over prior width: below PINNED the data pin it down
FEW = 10  # a posterior whose effective sample size is below this rests on too few particles to trust its intervals


def summary(post: pd.DataFrame, card: MarketCard) -> pd.DataFrame:
    """Per parameter: posterior median and 90% interval, the prior range, and how far the data narrow it."""
    rows = []
    w = post.weight.to_numpy()
    for p in priors(card):
        v = post[p.key].to_numpy()
        lo, mid, hi = (weighted_quantile(v, w, q) for q in (0.05, 0.5, 0.95))
        narrowing = (hi - lo) / (0.9 * (p.high - p.low))
        verdict = "pinned down" if narrowing < PINNED else "narrowed" if narrowing < WEAK else "not pinned down"
        row = {"parameter": p.key, "median": mid, "low_90": lo, "high_90": hi, "prior_low": p.low, "prior_high": p.high}
        row |= {"width_over_prior": narrowing, "verdict": verdict}
        if p.key in card.truth:
            truth = card.truth[p.key]
            # the truth's rank among the posterior, as the weight below it: uniform over truths drawn from the
            # prior when the posterior is calibrated (simulation-based calibration, Talts et al. 2018)
            rank = float(w[v < truth].sum() / w.sum())
            row |= {"truth": truth, "truth_inside_90": bool(lo <= truth <= hi), "truth_rank": rank}
        rows.append(row)
    return pd.DataFrame(rows)


def predictive(card: MarketCard, post: pd.DataFrame, k: int, jobs: int) -> pd.DataFrame:
    """KPIs simulated from ``k`` posterior draws: one row per draw, one column per KPI (posterior predictive)."""
    sets = draws(post, k)
    return pd.concat([sets, simulate_each(card, sets, jobs)], axis=1)


def fit_table(card: MarketCard, pred: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Per observed KPI: the simulated median, and the 90% band of what would be observed (the simulated
    value plus the card's noise, its observation model), and whether the observed value lies inside it."""
    rng = np.random.default_rng(seed)
    rows = []
    sd = uncertainty(card)
    for key, value in observed(card).items():
        sims = pred[key].to_numpy(float)
        seen = sims + rng.normal(0.0, sd[key], size=len(sims))
        lo, hi = np.quantile(seen, [0.05, 0.95])
        rows.append(
            {
                "kpi": key,
                "observed": value,
                "sd": sd[key],
                "predicted_median": float(np.median(sims)),
                "predicted_low_90": lo,
                "predicted_high_90": hi,
                "observed_inside_90": bool(lo <= value <= hi),
            }
        )
    return pd.DataFrame(rows)


def pairs_plot(post: pd.DataFrame, card: MarketCard, path: Path) -> None:
    keys = [p.key for p in priors(card)]
    k = len(keys)
    fig = Figure(figsize=(2.4 * k + 1, 2.4 * k + 1), dpi=100)
    axes = fig.subplots(k, k, squeeze=False)
    w = post.weight.to_numpy()
    for i, yi in enumerate(keys):
        for j, xj in enumerate(keys):
            ax = axes[i][j]
            pi, pj = priors(card)[i], priors(card)[j]
            if i == j:
                ax.hist(post[xj], bins=20, weights=w, range=(pj.low, pj.high), color="tab:blue", alpha=0.7)
                if xj in card.truth:
                    ax.axvline(card.truth[xj], color="black", lw=1.5)
            elif i > j:
                ax.scatter(post[xj], post[yi], s=6 + 300 * w, alpha=0.5)
                ax.set_xlim(pj.low, pj.high)
                ax.set_ylim(pi.low, pi.high)
                if xj in card.truth and yi in card.truth:
                    ax.plot(card.truth[xj], card.truth[yi], "k*", markersize=10)
            else:
                ax.set_axis_off()
            if i == k - 1:
                ax.set_xlabel(xj, fontsize=7)
            if j == 0 and i > 0:
                ax.set_ylabel(yi, fontsize=7)
            ax.tick_params(labelsize=6)
    fig.suptitle(f"Posterior of {card.name} (prior ranges on the axes; black: the truth, where known)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


def kpi_plot(table: pd.DataFrame, path: Path) -> None:
    fig = Figure(figsize=(7, 0.45 * len(table) + 1.5), dpi=100)
    ax = fig.subplots()
    y = np.arange(len(table))
    rel = lambda v: v / np.maximum(table.observed.abs(), 1e-9)  # noqa: E731  (every KPI on one relative scale)
    ax.errorbar(
        rel(table.observed),
        y,
        xerr=2 * table.sd / np.maximum(table.observed.abs(), 1e-9),
        fmt="ko",
        label="observed ± 2 sd",
    )
    ax.hlines(
        y,
        rel(table.predicted_low_90),
        rel(table.predicted_high_90),
        color="tab:blue",
        lw=6,
        alpha=0.5,
        label="posterior predictive 90%",
    )
    ax.plot(rel(table.predicted_median), y, "|", color="tab:blue", markersize=14)
    ax.set_yticks(y, table.kpi, fontsize=8)
    ax.set_xlabel("relative to the observed value")
    ax.axvline(1, color="grey", lw=0.5)
    ax.legend(fontsize=8)
    ax.set_title("Observed KPIs and what the fitted model predicts", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


def markdown(
    card: MarketCard,
    params: pd.DataFrame,
    fit: pd.DataFrame,
    meta: dict,
    ahead: pd.DataFrame | None = None,
    holdout: int | None = None,
    checked: pd.DataFrame | None = None,
) -> str:
    pinned = params[params.verdict == "pinned down"].parameter.tolist()
    loose = params[params.verdict == "not pinned down"].parameter.tolist()
    lines = [
        f"# Calibration of the market card `{card.name}`",
        "",
        card.description.strip(),
        "",
        "```bash",
        meta["command"],
        "```",
        "",
        f"{meta['generations']} generations of {meta['population']} particles (ABC-SMC, pyabc); final temperature "
        f"{meta['epsilon']:.3g} (1: exact under the card's sd as normal noise); {meta['simulations']:,} parameter "
        f"sets simulated, {card.seeds} seed(s) each, {card.customers:,} customers, {card.weeks} weeks"
        + (
            f", the design a Gaussian-process emulator learnt from ({meta['design_seconds']:.0f} s), and "
            f"{meta['emulated']:,} sets drawn from the emulator"
            if meta.get("emulated")
            else ""
        )
        + f"; effective sample size of the posterior {meta['ess']:.0f}; {meta['seconds']:.0f} s on "
        f"{meta['workers']} worker(s); {made_by()}.",
        "",
        "## What the data pin down",
        "",
        f"Pinned down (90% interval under half the prior range): {', '.join(pinned) or 'none'}. "
        f"Not pinned down (the data say little beyond the prior): {', '.join(loose) or 'none'}.",
        "",
        _md(params),
        "",
        "![pairs](pairs.png)",
        "",
        "## The fit: observed KPIs and the posterior predictive",
        "",
        _md(fit),
        "",
        "![kpis](kpis.png)",
        "",
    ]
    if checked is not None:
        lines += [
            "## The emulator, checked against the simulator",
            "",
            "The posterior predictive's runs are runs of the simulator the emulator never saw. Per KPI, the "
            "standard deviation of their errors from the emulator, in units of the uncertainty it stated (its own "
            "plus a run's luck): about 1 when it knows what it does not know, above 1 when it claims too much; "
            "and the share beyond 2 (about 5% when right).",
            "",
            _md(checked),
            "",
        ]
    if ahead is not None:
        from .forecast import errors

        err = errors(ahead)
        lines += [
            f"## Forecast held out: fitted on years 1-{holdout} of each cohort, the rest forecast",
            "",
            "Mean absolute error over the held-out years, in survival (share of the cohort), of the model's "
            "posterior median and of the shifted-beta-geometric model (Fader & Hardie 2007) fitted on the same "
            "years by maximum likelihood; and how many observed values lie inside the model's 90% band (the "
            "posterior predictive with the cohort's binomial noise).",
            "",
            _md(err),
            "",
            _md(ahead.drop(columns=["sbg_alpha", "sbg_beta"])),
            "",
            "![forecast](forecast.png)",
            "",
        ]
    if "truth_inside_90" in params:
        inside = int(params.truth_inside_90.sum())
        lines[12:12] = [
            f"Parameter recovery: the truth lies inside the 90% interval for {inside} of {len(params)} parameters.",
            "",
        ]
    if meta["ess"] < FEW:
        lines[10:10] = [
            f"**Warning**: the posterior rests on few particles (effective sample size {meta['ess']:.0f} of "
            f"{meta['population']}): its intervals are rough. Rerun with more particles (`--population`) or "
            "generations before relying on them; a model that cannot fit the card well makes this likelier.",
            "",
        ]
    return "\n".join(lines)


def _md(df: pd.DataFrame) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)
