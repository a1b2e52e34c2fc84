"""``python -m sim.influence``: what each lever, mechanism and parameter moves, with intervals.

Two parts, both run as sweeps of design rows (any Hydra launcher; a rerun resumes):

- **Paired one-at-a-time changes** (``oat.csv``): each lever of each firm of the default duopoly set to
  the rival's value (or nudged, where both firms share it), and each mechanism of the source texts
  switched off or changed (``MECHANISMS``), each run on the same seeds as the base (common random
  numbers); the mean change in each firm's long-run share, NPV, advocacy and annual churn, with a
  paired 95% confidence interval.
- **Morris screening over every customer and market parameter** (``python -m sim.sensitivity --all``):
  ``results/sensitivity/<name>/indices.csv``.

Writes ``<results_dir>/influence/<name>/``: ``oat.csv``, ``influence.md`` (the tables of
``docs/validation.md``), and the Morris results beside the sensitivity ones.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from . import sensitivity
from .config import LEVERS, compose, load
from .intervals import mean_interval
from .runs.arguments import add_customers, add_jobs, add_results_dir, add_seeds, add_weeks
from .runs.errors import ArgumentError, ArgumentParser, command, failing_as, number
from .runs.results import write_atomic

# Mechanisms of the source texts: a switch (Hydra overrides) and what it takes away or changes.
MECHANISMS: dict[str, tuple[list[str], str]] = {
    "devotion forgives": (["customers.forgiveness=0"], "a bonded customer's bad experience is not damped"),
    "gratitude (reciprocity)": (["customers.gratitude=0"], "gifts and advice build no bond"),
    "human contact": (["customers.delight_bond=0"], "good experiences build no bond through a human touch"),
    "grudges": (["customers.grudge_decay=1"], "a grudge vanishes at once: unhappy leavers forget"),
    "detractors talk": (["customers.talk_detractor=0"], "detractors say nothing"),
    "negative words weigh more": (["market.negativity=1"], "a criticism weighs as much as praise (default 2)"),
    "negative words weigh far more": (["market.negativity=5"], "a criticism weighs five times praise"),
    "devoted defend": (["customers.talk_devoted=0"], "devoted customers neither praise nor defend"),
    "customers' voice": (["market.reach=0"], "no word of mouth beyond one's ties"),
    "service recovery": (["customers.recovery_gain=0"], "a handled complaint restores nothing"),
    "listening learns": (["market.innovation=0"], "handled complaints do not improve quality"),
    "trust": (["customers.trust_weight=0"], "trust does not enter the choice"),
    "community": (["customers.community_bond=0"], "devoted neighbours do not strengthen the bond"),
    "loyal by logic": (["customers.loyal_margin=100"], "nobody is ever classed loyal"),
    # The economics (docs/ODD.md, D6 and D12): each switched off, or set where its default is neutral.
    "advice taken up by few": (["customers.advice_uptake=1"], "every customer told of a cheaper tariff moves to it"),
    "overpaying found out": (["customers.discovery=0"], "nobody finds out alone that they pay above their need"),
    "upsells that meet a need": (["market.upsell_fit=0"], "no upsell meets a need: every one is overpaying"),
    "self-service spares calls": (["customers.self_service=0"], "every incident is a call, whatever the ease"),
    "repeat calls": (["customers.first_fix=1"], "every call fixes the problem the first time"),
    "calls cost": (["market.costs.contact=0"], "calls cost nothing"),
    "fixed costs (scale)": (["market.costs.fixed_share=0"], "every running cost is per customer: no scale economies"),
    "service levers at their old cost": (
        ["market.costs.speed=0.6", "market.costs.ease=0.6", "market.costs.humanity=1.0", "market.costs.listening=0.3"],
        "speed, ease, humanity and listening cost what they did before the care budget was sourced",
    ),
    "referred customers stay longer": (["customers.referred_restlessness=1"], "a referral holds no longer"),
    "regulation: annual notices": (
        ["market.regulation=notices"],
        "each customer told once a year of their best tariff",
    ),
    "regulation: no price walking": (
        ["market.regulation=no_price_walking"],
        "no existing customer pays more than a new one for the same need; no new-customer discount",
    ),
    "a community answers calls": (["market.community_support=0.3"], "devoted customers answer calls for their firm"),
    "devoted customers spend more": (["customers.devoted_premium=0.05"], "a devoted customer spends 5% more"),
    "giving pays referral rewards": (["firms.giving.referral_reward=29"], "giffgaff's payback, £5 + £5 (29 units)"),
}
METRICS = {"long_run_share": "share", "npv": "NPV", "advocacy": "advocacy", "annual_churn": "churn"}
NUDGE = 0.2  # a lever both firms share moves this far (up if it can, else down)


def lever_changes(firms: dict) -> dict[str, list[str]]:
    """Each lever of each firm moved to the rival's value, or nudged where both firms share it."""
    names = list(firms)
    changes: dict[str, list[str]] = {}
    for name in names:
        rival = firms[names[1 - names.index(name)]] if len(names) == 2 else None
        for lever in LEVERS:
            mine = getattr(firms[name], lever)
            theirs = getattr(rival, lever) if rival is not None else mine
            if theirs != mine:
                target = theirs
            elif lever == "price":
                target = round(mine * 0.9, 6)
            else:
                target = round(mine + NUDGE if mine + NUDGE <= 1 else mine - NUDGE, 6)
            changes[f"{name}: {lever} {mine:g} → {target:g}"] = [f"firms.{name}.{lever}={target}"]
    return changes


def _value(text: str) -> float | str:
    """An override's value: a number, or a word (``notices``)."""
    try:
        return float(text)
    except ValueError:
        return text


def design(changes: dict[str, list[str]], seeds: int) -> tuple[pd.DataFrame, list[str]]:
    """One row per change (the base first) per seed; every row names every changed key (base values elsewhere)."""
    base_cfg = compose([])
    keys = sorted({o.split("=", 1)[0] for overrides in changes.values() for o in overrides})
    defaults = {k: OmegaConf.select(base_cfg, k) for k in keys}
    rows, labels = [], []
    for label, overrides in {"base": [], **changes}.items():
        values = {**defaults, **{o.split("=", 1)[0]: _value(o.split("=", 1)[1]) for o in overrides}}
        for seed in range(seeds):
            rows.append({**values, "seed": seed})
            labels.append(label)
    return pd.DataFrame(rows), labels


def paired(table: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """Per change, firm and metric: mean and 95% CI (paired by seed) of change minus base."""
    table = table.assign(change=table.design_row.map(dict(enumerate(labels))))
    out = []
    for metric in METRICS:
        wide = table.pivot_table(index=["firm", "seed"], columns="change", values=metric, dropna=False)
        for change in dict.fromkeys(labels):
            if change == "base":
                continue
            d = (wide[change] - wide["base"]).dropna()
            for firm, diffs in d.groupby(level="firm"):
                mean, ci_low, ci_high = mean_interval(diffs)
                base_mean = wide["base"].xs(firm, level="firm").mean()
                out.append(
                    {
                        "change": change,
                        "firm": firm,
                        "metric": metric,
                        "base": base_mean,
                        "mean": mean,
                        "ci_low": ci_low,
                        "ci_high": ci_high,
                        "n": len(diffs),
                    }
                )
    return pd.DataFrame(out)


def _cell(row: pd.Series, metric: str) -> str:
    scale, fmt = {
        "long_run_share": (100, "{:+.1f}"),
        "npv": (1e-3, "{:+,.0f}k"),
        "advocacy": (1, "{:+.1f}"),
        "annual_churn": (100, "{:+.1f}"),
    }[metric]
    mean, lo, hi = row["mean"] * scale, row.ci_low * scale, row.ci_high * scale
    sure = "" if (lo <= 0 <= hi) or np.isnan(lo) else " *"
    return f"{fmt.format(mean)} [{fmt.format(lo)}, {fmt.format(hi)}]{sure}"


def markdown(effects: pd.DataFrame, firms: list[str], mechanisms: dict[str, tuple[list[str], str]]) -> str:
    """The tables: per change, each firm's change in share (points), NPV, advocacy and churn (points)."""
    lines = []
    for title, rows in (("Mechanisms", list(mechanisms)), ("Levers", None)):
        sub = effects[effects.change.isin(rows)] if rows else effects[~effects.change.isin(mechanisms)]
        head = ["change", *(f"{f} {METRICS[m]}" for f in firms for m in METRICS)]
        lines += [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for change in dict.fromkeys(sub.change):
            cells = [change if not rows else f"{change}: {mechanisms[change][1]}"]
            for firm in firms:
                for metric in METRICS:
                    r = sub[(sub.change == change) & (sub.firm == firm) & (sub.metric == metric)]
                    cells.append(_cell(r.iloc[0], metric) if len(r) else "—")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


@command
def main(argv: list[str] | None = None) -> None:
    ap = ArgumentParser(prog="python -m sim.influence", description=__doc__.splitlines()[0])
    add_seeds(ap, 10, "paired seeds per change", low=2, high=100_000)
    add_customers(ap, 3000, "customers per one-at-a-time run")
    add_weeks(ap, 520, "weeks per one-at-a-time run")
    ap.add_argument("--trajectories", type=number(int, 0, 10_000), default=10, help="Morris trajectories (0: none)")
    add_customers(ap, 2000, "customers per Morris run", "--morris-n")
    add_weeks(ap, 260, "weeks per Morris run", "--morris-steps")
    ap.add_argument("--launcher", default="joblib", help="Hydra launcher: basic, joblib, submitit_slurm, ray...")
    add_jobs(ap, "parallel jobs (joblib)")
    ap.add_argument("--name", default="influence", help="name of the analysis folder and sweeps")
    add_results_dir(ap)
    a = ap.parse_args(argv)
    a.experiment = "giving_vs_taking"
    if a.trajectories == 1:  # Morris screening needs two trajectories at least
        raise ArgumentError("--trajectories = 1: allowed: 0 (no Morris screening), or an integer, 2 ≤ value ≤ 10000")
    morris = [f"sensitivity-{a.name}-morris"] if a.trajectories else []
    sensitivity.check_name(a.name, f"influence-{a.name}", *morris)
    compose([f"hydra/launcher={a.launcher}"], return_hydra_config=True)
    fixed = [f"experiment={a.experiment}", f"customers.n={a.n}", f"steps={a.steps}"]
    firms = load(fixed).firms  # both parts' runs checked before either starts
    if a.trajectories:
        load([f"experiment={a.experiment}", f"customers.n={a.morris_n}", f"steps={a.morris_steps}"])
    changes = {**{k: v for k, (v, _) in MECHANISMS.items()}, **lever_changes(firms)}
    rows, labels = design(changes, a.seeds)
    out = Path(a.results_dir) / "influence" / a.name
    table = sensitivity.run_design(rows, out, f"influence-{a.name}", a, fixed)
    effects = paired(table, labels)
    with failing_as("writing", out):
        write_atomic(out / "oat.csv", lambda p: effects.to_csv(p, index=False))
    cmdline = "python -m sim.influence " + " ".join(argv if argv is not None else sys.argv[1:])
    text = [
        f"## Paired one-at-a-time changes ({a.seeds} seeds, {a.n:,} customers, {a.steps} weeks)",
        "",
        f"`{cmdline}`: change minus base, mean [95% CI, paired by seed]; share and churn in points, "
        "NPV in thousands; `*`: the interval excludes 0.",
        "",
        markdown(effects, list(firms), MECHANISMS),
    ]
    if a.trajectories:
        morris = [
            "--all",
            "--trajectories",
            str(a.trajectories),
            "--n",
            str(a.morris_n),
            "--steps",
            str(a.morris_steps),
            "--launcher",
            a.launcher,
            "--jobs",
            str(a.jobs),
            "--name",
            f"{a.name}-morris",
            "--results-dir",
            a.results_dir,
        ]
        sensitivity.main(morris)
        ind = pd.read_csv(Path(a.results_dir) / "sensitivity" / f"{a.name}-morris" / "indices.csv")
        text += [f"## Morris screening of every parameter (`python -m sim.sensitivity {' '.join(morris)}`)", ""]
        for output in dict.fromkeys(ind.output):
            top = ind[ind.output == output].nsmallest(8, "rank")
            cells = ", ".join(
                f"`{r.parameter}` {r.mu_star:.3g} ± {r.mu_star_conf:.2g} ({'+' if r.mu >= 0 else '−'})"
                for r in top.itertuples()
            )
            text += [f"- **{output}**: {cells}"]
        text.append("")
    with failing_as("writing", out):
        write_atomic(out / "influence.md", lambda p: p.write_text("\n".join(text)))
    print("\n".join(text))
    print(f"written: {out}/influence.md, {out}/oat.csv")


if __name__ == "__main__":
    main()
