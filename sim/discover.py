"""``python -m sim.discover``: scenario discovery: under what market conditions does taking end ahead on NPV?

A Latin hypercube (``scipy.stats.qmc``) over market conditions, each point run ``--replicates`` times
(seeds 0, 1, ...: common random numbers across points) as a design sweep (``python -m sim -m
design=<csv> design_row=range(0,N)``, any Hydra launcher, so it runs on a cluster; a rerun resumes).
A point is a win for taking when taking's NPV minus giving's, averaged over its replicates, is
positive. PRIM (the EMA workbench's ``ema_workbench.analysis.prim``; install with ``pip install -e
".[discover]"``) then peels boxes of conditions that hold taking's wins. Writes, under
``<results_dir>/discover/<name>/``: ``design.csv`` (one row per run), ``points.csv`` (each point's
conditions, NPV difference and label), ``boxes.csv`` (each box's limits, coverage, density, mass),
``boxes.md`` (each box in plain words) and ``tradeoff.png`` (PRIM's peeling trajectory: coverage
against density, the chosen boxes marked).

Conditions and ranges: ``--param market.reach=0:0.3`` (numeric) or ``--param network.kind=mixed,none``
(categories), repeatable; without any, ``DEFAULT_CONDITIONS``.
"""

from __future__ import annotations

import copy
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .config import ConfigError, compose, parameter, to_plain, validate
from .runs.arguments import add_customers, add_jobs, add_results_dir, add_weeks, param_range
from .runs.errors import ArgumentParser, command, failing_as, number

DEFAULT_CONDITIONS: dict[str, tuple[float, float] | list[str]] = {
    "market.switching_cost": (0.0, 4.0),
    "market.reach": (0.0, 0.3),
    "market.negativity": (1.0, 4.0),
    "customers.price_sensitivity": (1.0, 3.0),
    "network.kind": ["watts_strogatz", "barabasi_albert", "erdos_renyi", "mixed"],
    "network.mean_degree": (2, 20),
    "customers.incident_rate": (0.02, 0.2),
    "market.annual_discount_rate": (0.0, 0.2),
    # The economics: regulation, the upsell's size, acceptance and fit, finding out, advice taken up, what a call
    # costs, the fixed share of running costs (ranges around the sourced defaults, docs/ODD.md)
    "market.regulation": ["none", "notices", "no_price_walking"],
    "market.upsell_step": (0.05, 0.3),
    "market.upsell_accept": (0.1, 0.5),
    "market.upsell_fit": (0.0, 0.5),
    "customers.discovery": (0.0, 0.01),
    "customers.advice_uptake": (0.05, 1.0),
    "market.costs.contact": (5.0, 30.0),
    "market.costs.fixed_share": (0.0, 0.6),
}
OUTCOME = "taking_wins"


def parse_conditions(items: list[str]) -> dict[str, tuple[float, float] | list[str]]:
    """Conditions from ``key=low:high`` (numeric) or ``key=a,b,c`` (categories); each checked against the config."""
    conditions: dict[str, tuple[float, float] | list[str]] = {}
    for item in items:
        key, _, spec = item.partition("=")
        parameter(key, f"--param {item}", {"seed": "--replicates", "steps": "--steps"})
        if ":" in spec:
            _, conditions[key] = param_range(item, "key=low:high or key=a,b,c")
        else:
            conditions[key] = [v for v in spec.split(",") if v]
    conditions = conditions or dict(DEFAULT_CONDITIONS)
    from omegaconf import OmegaConf

    base = compose([])
    plain = to_plain(base)
    for key, spec in conditions.items():
        default = OmegaConf.select(base, key, default="__absent__")
        if default == "__absent__":
            raise ConfigError(f"config error: --param {key}: unknown key")
        if isinstance(spec, tuple):
            lo, hi = spec
            if not lo < hi:
                raise ConfigError(f"config error: --param {key}={lo:g}:{hi:g}: empty range; allowed: low < high")
            values = [round(v) if isinstance(default, int) else v for v in spec]
        else:
            if not spec:
                raise ConfigError(f"config error: --param {key}: no categories; allowed: key=a,b,c")
            values = spec
        for value in values:  # each end of a range, and each category, must be a valid value of the key
            raw = copy.deepcopy(plain)
            node = raw
            *path, leaf = key.split(".")
            for part in path:
                node = node[part]
            node[leaf] = value
            validate(raw)
    return conditions


def hypercube(conditions: dict, points: int, seed: int) -> pd.DataFrame:
    """A Latin hypercube of ``points`` over the conditions: one point per stratum of each range.

    Integer-valued keys are rounded; categories take equal strata of their dimension.
    """
    from omegaconf import OmegaConf
    from scipy.stats import qmc

    u = qmc.LatinHypercube(d=len(conditions), rng=np.random.default_rng(seed)).random(points)
    base = compose([])
    columns = {}
    for j, (key, spec) in enumerate(conditions.items()):
        if isinstance(spec, list):
            columns[key] = [spec[int(v)] for v in np.minimum(u[:, j] * len(spec), len(spec) - 1)]
            continue
        lo, hi = spec
        values = lo + u[:, j] * (hi - lo)
        if isinstance(OmegaConf.select(base, key), int):
            values = np.round(values).astype(int)
        columns[key] = values
    return pd.DataFrame(columns)


def replicate(points: pd.DataFrame, replicates: int) -> pd.DataFrame:
    """The design: each point ``replicates`` times (rows point x replicates + r), with seed r."""
    design = points.loc[points.index.repeat(replicates)].reset_index(drop=True)
    design["seed"] = np.tile(np.arange(replicates), len(points))
    return design


def label(table: pd.DataFrame, replicates: int, giving: str, taking: str) -> pd.DataFrame:
    """Per point: taking's NPV minus giving's, averaged over replicates, the share of replicates taking won,
    and the label (taking ends ahead on NPV)."""
    npv = table.pivot_table(index="design_row", columns="firm", values="npv")
    diff = (npv[taking] - npv[giving]).rename("npv_difference")
    point = diff.index.to_numpy() // replicates
    out = pd.DataFrame(
        {
            "npv_difference": diff.groupby(point).mean(),
            "taking_win_share": (diff > 0).groupby(point).mean(),
        }
    )
    out[OUTCOME] = out.npv_difference > 0
    return out


@dataclass
class Box:
    """A PRIM box: limits on the restricted conditions, its coverage, density and mass."""

    limits: dict[str, tuple[float, float] | list[str]]
    coverage: float
    density: float
    mass: float
    points: int

    def words(self, outcome: str = "taking wins", case: str = "points") -> str:
        """The box in plain words."""
        where = " and ".join(describe_limit(k, v) for k, v in self.limits.items())
        return (
            f"{outcome} {f'when {where}' if where else 'throughout the ranges'}: this box holds {self.coverage:.0%} of {outcome.split()[0]}'s wins, "
            f"and {self.density:.0%} of its {case} are {outcome.split()[0]}'s wins "
            f"({self.points} {case}, {self.mass:.0%} of all)"
        )


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def describe_limit(key: str, limit: tuple | list) -> str:
    """``key ≥ lo``, ``key ≤ hi``, ``lo ≤ key ≤ hi`` or ``key in {a, b}``, as restricted."""
    if isinstance(limit, list):
        return f"{key} in {{{', '.join(limit)}}}"
    lo, hi = limit
    if lo is not None and hi is not None:
        return f"{_fmt(lo)} ≤ {key} ≤ {_fmt(hi)}"
    return f"{key} ≥ {_fmt(lo)}" if lo is not None else f"{key} ≤ {_fmt(hi)}"


def restricted(lims: pd.DataFrame, x: pd.DataFrame) -> dict[str, tuple | list]:
    """The limits of a PRIM box that cut the data's range: one-sided where only one side cuts."""
    out: dict[str, tuple | list] = {}
    for key in lims.columns:
        lo, hi = lims[key].iloc[0], lims[key].iloc[1]
        if isinstance(lo, set):
            if len(lo) < x[key].nunique():
                out[key] = sorted(lo)
            continue
        cut_lo, cut_hi = lo > x[key].min(), hi < x[key].max()
        if cut_lo or cut_hi:
            out[key] = (float(lo) if cut_lo else None, float(hi) if cut_hi else None)
    return out


def find_boxes(
    x: pd.DataFrame, y: np.ndarray, max_boxes: int = 3, min_coverage: float = 0.5, min_density: float = 0.5
) -> tuple[list[Box], list[pd.DataFrame]]:
    """PRIM boxes for ``y`` (boolean) over the conditions ``x``.

    On each box's peeling trajectory, the chosen box is the densest whose coverage is at least
    ``min_coverage``; boxes are found one after another on what earlier boxes left, until one is
    less dense than ``min_density``. Returns the boxes and each one's peeling trajectory (with
    ``chosen`` marking the box taken).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ema_workbench.analysis import prim

        x = x.copy()
        for key in x.columns:
            if x[key].dtype == object or str(x[key].dtype) == "string":
                x[key] = pd.Categorical(x[key].astype(str))
        p = prim.Prim(x, np.asarray(y, dtype=bool), peel_alpha=0.05, paste_alpha=0.05, mass_min=0.05)
        total = int(np.sum(y))
        boxes, trajectories = [], []
        for _ in range(max_boxes):
            box = p.find_box()
            if box is None:
                break
            traj = box.peeling_trajectory.copy()
            ok = traj[traj.coverage >= min_coverage]
            if ok.empty:
                break
            i = int(ok.sort_values(["density", "coverage"], ascending=False).index[0])
            row = traj.loc[i]
            if row.density < min_density:
                break
            box.select(i)
            traj["chosen"] = traj.index == i
            trajectories.append(traj)
            boxes.append(
                Box(
                    restricted(box.box_lims[i], x), float(row.coverage), float(row.density), float(row.mass), int(row.n)
                )
            )
            if total and sum(b.coverage for b in boxes) >= 0.999:
                break
    return boxes, trajectories


def plot_tradeoff(trajectories: list[pd.DataFrame], path: Path, title: str) -> None:
    """PRIM's peeling trade-off: coverage against density along each box's trajectory, the chosen box marked."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4.5), dpi=110)
    ax = fig.subplots()
    for n, traj in enumerate(trajectories, start=1):
        sc = ax.scatter(traj.coverage, traj.density, c=traj.res_dim, cmap="viridis", s=18, marker="os^"[(n - 1) % 3])
        chosen = traj[traj.chosen]
        ax.scatter(chosen.coverage, chosen.density, s=120, facecolors="none", edgecolors="red")
        ax.annotate(f"box {n}", (chosen.coverage.iloc[0], chosen.density.iloc[0]), textcoords="offset points",
                    xytext=(6, 6), fontsize=8, color="red")  # fmt: skip
    if trajectories:
        fig.colorbar(sc, ax=ax, label="restricted dimensions")
    ax.set_xlabel("coverage (share of taking's wins inside the box)")
    ax.set_ylabel("density (share of the box that are taking's wins)")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def write_boxes(boxes: list[Box], points: pd.DataFrame, out: Path, command: str) -> str:
    """boxes.csv and boxes.md; returns the plain-words text."""
    rows = []
    for n, box in enumerate(boxes, start=1):
        for key, limit in box.limits.items():
            lo, hi = (None, None) if isinstance(limit, list) else limit
            rows.append(
                {
                    "box": n,
                    "condition": key,
                    "low": lo,
                    "high": hi,
                    "categories": ",".join(limit) if isinstance(limit, list) else None,
                    "coverage": box.coverage,
                    "density": box.density,
                    "mass": box.mass,
                    "points": box.points,
                }
            )
    pd.DataFrame(
        rows, columns=["box", "condition", "low", "high", "categories", "coverage", "density", "mass", "points"]
    ).to_csv(out / "boxes.csv", index=False)
    wins = int(points[OUTCOME].sum())
    lines = [
        "# Scenario discovery: where taking ends ahead on NPV",
        "",
        f"Command: `{command}`",
        "",
        f"Taking ends ahead on NPV (mean over replicates) at {wins} of {len(points)} points ({wins / len(points):.0%}).",
        "",
    ]
    if boxes:
        lines += [f"{n}. {box.words()}." for n, box in enumerate(boxes, start=1)]
    else:
        lines.append("PRIM found no box dense enough (see tradeoff.png).")
    text = "\n".join(lines) + "\n"
    (out / "boxes.md").write_text(text)
    return text


@command
def main(argv: list[str] | None = None) -> None:
    from .sensitivity import check_design, check_name, run_design

    ap = ArgumentParser(prog="python -m sim.discover", description=__doc__.splitlines()[0])
    ap.add_argument("--param", action="append", default=[], metavar="KEY=LOW:HIGH|KEY=A,B", help="a condition")
    ap.add_argument("--points", type=number(int, 10, 1_000_000), default=128, help="points of the Latin hypercube")
    ap.add_argument("--replicates", type=number(int, 1, 1000), default=2, help="runs per point (seeds 0, 1, ...)")
    ap.add_argument("--seed", type=number(int, 0, 2**32 - 1), default=0, help="seed of the hypercube")
    add_customers(ap, 2000, "customers per run")
    add_weeks(ap, 520, "weeks per run")
    ap.add_argument("--experiment", default="giving_vs_taking")
    ap.add_argument("--giving", default="giving", help="the giving firm")
    ap.add_argument("--taking", default="taking", help="the taking firm")
    ap.add_argument(
        "--min-coverage", type=number(float, 0, 1), default=0.5, help="a chosen box holds at least this share of wins"
    )
    ap.add_argument("--min-density", type=number(float, 0, 1), default=0.5, help="stop at a box less dense than this")
    ap.add_argument("--boxes", type=number(int, 1, 100), default=3, help="at most this many boxes")
    ap.add_argument("--launcher", default="basic", help="Hydra launcher: basic, joblib, submitit_slurm, ray...")
    add_jobs(ap, "parallel jobs (joblib)")
    ap.add_argument("--name", default="lhs", help="name of the analysis folder and sweep")
    add_results_dir(ap)
    ap.add_argument("override", nargs="*", help="further Hydra overrides fixed for every run")
    a = ap.parse_args(argv)
    check_name(a.name, f"discover-{a.name}")
    fixed = [f"experiment={a.experiment}", f"customers.n={a.n}", f"steps={a.steps}", *a.override]
    check_design(a, fixed)
    conditions = parse_conditions(a.param)
    points = hypercube(conditions, a.points, a.seed)
    out = Path(a.results_dir) / "discover" / a.name
    print(f"{len(conditions)} conditions, {a.points} points x {a.replicates} replicates")
    table = run_design(replicate(points, a.replicates), out, f"discover-{a.name}", a, fixed)
    points = points.join(label(table, a.replicates, a.giving, a.taking))
    cmdline = "python -m sim.discover " + " ".join(argv if argv is not None else sys.argv[1:])
    with failing_as("writing", out):
        points.to_csv(out / "points.csv", index_label="point")
        boxes, trajectories = find_boxes(
            points[list(conditions)], points[OUTCOME].to_numpy(), a.boxes, a.min_coverage, a.min_density
        )
        plot_tradeoff(trajectories, out / "tradeoff.png", cmdline)
        text = write_boxes(boxes, points, out, cmdline)
    print("\n" + text)
    print(f"written: {out}/points.csv, boxes.csv, boxes.md, tradeoff.png")


if __name__ == "__main__":
    main()
