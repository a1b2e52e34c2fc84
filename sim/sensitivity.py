"""``python -m sim.sensitivity``: Morris screening or Sobol indices of what drives the giving firm's share and NPV.

Builds a Morris design (SALib) over chosen parameters, writes it as a design CSV (columns are
dotted config keys), runs it as a sweep (``python -m sim -m ... design=<csv> design_row=range(0,N)``,
any Hydra launcher: basic, joblib, SLURM, Ray), reads the runs' summaries and writes, under
``<results_dir>/sensitivity/<name>/``: ``design.csv``, ``outputs.csv``, ``indices.csv`` (mu*, its
confidence interval, sigma per parameter and output) and ``morris.png`` (mu* bars with sigma).

``--method sobol``: SALib's Saltelli design (Sobol sequence; ``--samples`` N base samples, N x (k + 2)
runs) through the same sweep, and first- and total-order indices with bootstrap 95% confidence
intervals: ``indices.csv`` (S1, ST and their intervals), ``convergence.csv`` (the indices from the
first N/2 base samples and from all N: a check that N sufficed) and ``sobol.png``.

Parameters and ranges: ``--param customers.bond_weight=1:5`` (repeatable), or ``--params file.yaml``
holding ``{dotted.key: [low, high]}``, or ``--all`` (every numeric customer and market parameter,
default ± 50% within its allowed range); the defaults are ``DEFAULT_PARAMETERS``.
"""

from __future__ import annotations

import argparse
import copy
import fnmatch
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf

from .config import (
    FOLDER_NAME_ALLOWED,
    MAX_FOLDER_NAME,
    ConfigError,
    check,
    compose,
    is_folder_name,
    load,
    parameter,
)
from .runs.arguments import add_customers, add_jobs, add_results_dir, add_weeks, param_range
from .runs.errors import (
    BAD_INPUT,
    ArgumentError,
    ArgumentParser,
    Failure,
    command,
    existing,
    exit_status,
    failing_as,
    number,
    reason,
    run_child,
)

DEFAULT_PARAMETERS: dict[str, tuple[float, float]] = {
    "customers.bond_weight": (1.0, 5.0),
    "customers.gratitude": (0.05, 0.3),
    "customers.price_sensitivity": (1.0, 3.0),
    "customers.review_rate": (0.001, 0.006),
    "customers.talk_devoted": (0.05, 0.3),
    "market.switching_cost": (0.5, 4.0),
    "market.negativity": (1.0, 4.0),
    "market.reach": (0.0, 0.3),
}
OWN = {"seed": "--seed", "steps": "--steps"}  # this command's own flags for keys that are not parameters
OUTPUTS = ("giving_long_run_share", "giving_npv", "npv_difference", "giving_advocacy", "giving_churn", "taking_churn")
# Keys --all leaves out: the population size (a scale, not a behaviour), list-valued keys, and the segments'
# shares (a composition: they sum to 1, so none can move alone). Shell-style patterns.
NOT_SWEPT = ("customers.n", "market.shocks", "market.service_weights", "customers.segments.groups.*.share")


def parse_params(items: list[str], path: str | Path | None) -> dict[str, tuple[float, float]]:
    """Parameters and ranges from ``key=low:high`` items or a YAML file; checked against the config."""
    params: dict[str, tuple[float, float]] = {}
    if path:
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"config error: --params {path}: not valid YAML ({reason(err)})") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"config error: --params {path}: expected a mapping {{dotted.key: [low, high]}}")
        for key, bounds in raw.items():
            parameter(str(key), f"--params {path}: {key}", OWN)
            try:
                if not (isinstance(bounds, list) and len(bounds) == 2):
                    raise ValueError
                params[str(key)] = (float(bounds[0]), float(bounds[1]))
            except (TypeError, ValueError):
                raise ConfigError(f"config error: {path}: {key}: expected [low, high], two numbers") from None
    for item in items:
        key, bounds = param_range(item)
        params[parameter(key, f"--param {item}", OWN)] = bounds
    params = params or dict(DEFAULT_PARAMETERS)
    for key, (lo, hi) in params.items():
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ConfigError(f"config error: --param {key}: low ({lo}) must be below high ({hi}), both finite")
    return params


def swept_out(key: str) -> bool:
    """Whether ``--all`` leaves ``key`` out (``NOT_SWEPT``)."""
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in NOT_SWEPT)


def all_parameters(spread: float = 0.5) -> dict[str, tuple[float, float]]:
    """Every numeric customer and market parameter: its default ± ``spread`` of it, within its allowed range.

    Parameters whose default is 0 range over [0, 0.1] of their allowed maximum (or [0, 1] if unbounded).
    """
    from .config import allowed_range, to_plain

    raw = to_plain(compose([]))
    params: dict[str, tuple[float, float]] = {}

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(value, f"{dotted}.")
            elif isinstance(value, int | float) and not isinstance(value, bool) and not swept_out(dotted):
                lo_ok, hi_ok = allowed_range(dotted)
                lo, hi = value - spread * abs(value), value + spread * abs(value)
                if value == 0:
                    lo, hi = 0.0, 0.1 * hi_ok if hi_ok is not None and hi_ok < 1e6 else 1.0
                lo = max(lo, lo_ok) if lo_ok is not None else lo
                hi = min(hi, hi_ok) if hi_ok is not None else hi
                if lo < hi:
                    params[dotted] = (float(lo), float(hi))

    walk({"customers": raw["customers"], "market": raw["market"]}, "")
    return params


def check_ranges(params: dict[str, tuple[float, float]], fixed: list[str]) -> None:
    """Every parameter is a config key, and both ends of its range are allowed values (ranges are intervals)."""
    base = compose(fixed)
    for key, bounds in params.items():
        default = OmegaConf.select(base, key, default="__absent__")
        if default == "__absent__" or isinstance(default, DictConfig | ListConfig):
            raise ConfigError(f"config error: --param {key}: unknown key")
        for value in bounds:
            cfg = copy.deepcopy(base)
            whole = isinstance(default, int) and not isinstance(default, bool)
            OmegaConf.update(cfg, key, round(value) if whole else value, merge=False)
            check(cfg)


def sampled_design(params: dict[str, tuple[float, float]], sample: Callable[[dict], np.ndarray]):
    """The SALib problem over ``params``, its sample ``sample(problem)``, and the design: the sample's rows with
    the dotted keys as columns, integer-valued keys rounded."""
    problem = {"num_vars": len(params), "names": list(params), "bounds": [list(b) for b in params.values()]}
    x = sample(problem)
    base = compose([])
    design = pd.DataFrame(x, columns=list(params))
    for key in params:
        default = OmegaConf.select(base, key, default="__absent__")
        if default == "__absent__":
            raise ConfigError(f"config error: --param {key}: unknown key")
        if isinstance(default, int) and not isinstance(default, bool):
            design[key] = design[key].round().astype(int)
    return problem, x, design


def build_design(params: dict[str, tuple[float, float]], trajectories: int, levels: int, seed: int):
    """The SALib problem and Morris sample; integer-valued keys are rounded."""
    from SALib.sample import morris as morris_sample

    return sampled_design(params, lambda p: morris_sample.sample(p, N=trajectories, num_levels=levels, seed=seed))


def design_sweep_command(
    design_csv: Path, rows: int, name: str, results_dir: Path, launcher: str, jobs: int, fixed: list[str]
):
    """The multirun that runs every design row."""
    cmd = [
        sys.executable,
        "-m",
        "sim",
        "-m",
        f"design={design_csv}",
        f"design_row=range(0,{rows})",
        f"sweep={name}",
        f"results_dir={results_dir}",
        "progress=false",
        f"hydra/launcher={launcher}",
        *fixed,
    ]
    if launcher == "joblib":
        cmd.append(f"hydra.launcher.n_jobs={jobs}")
    return cmd


def outputs(table: pd.DataFrame, giving: str, taking: str) -> pd.DataFrame:
    """Per design row: the giving firm's long-run share, NPV and advocacy, giving minus taking NPV,
    and both firms' annual churn."""
    values = ["long_run_share", "npv", "advocacy", "annual_churn"]
    wide = table.pivot_table(index="design_row", columns="firm", values=values, dropna=False)
    return pd.DataFrame(
        {
            "giving_long_run_share": wide["long_run_share"][giving],
            "giving_npv": wide["npv"][giving],
            "npv_difference": wide["npv"][giving] - wide["npv"][taking],
            "giving_advocacy": wide["advocacy"][giving],
            "giving_churn": wide["annual_churn"][giving],
            "taking_churn": wide["annual_churn"][taking],
        }
    ).sort_index()


def check_name(name: str, *named: str) -> None:
    """``--name``, of an analysis folder, is one folder name, and so is each folder named after it (``named``: its
    sweep's, ``sensitivity-<name>``), checked before its design is written."""
    if not is_folder_name(name):
        raise ArgumentError(f"--name = {name}: allowed: {FOLDER_NAME_ALLOWED}")
    if too_long := [folder for folder in named if not is_folder_name(folder)]:
        most = len(name) - (len(too_long[0]) - MAX_FOLDER_NAME)
        folder = too_long[0].replace(name, "<name>", 1)
        raise ArgumentError(f"--name = {name}: too long for the folder {folder}; allowed: at most {most} characters")


def check_design(a: argparse.Namespace, fixed: list[str]) -> None:
    """A design sweep's arguments, checked before anything runs: ``fixed`` makes valid settings, ``--launcher``
    is a Hydra launcher, and ``--giving`` and ``--taking`` are firms of the experiment."""
    settings = load(fixed)
    compose([f"hydra/launcher={a.launcher}"], return_hydra_config=True)
    for flag, firm in (("--giving", a.giving), ("--taking", a.taking)):
        if firm not in settings.firms:
            raise ArgumentError(
                f"{flag} = {firm}: not a firm of this experiment (allowed: {', '.join(settings.firms)})"
            )


def run_design(design: pd.DataFrame, out: Path, name: str, a: argparse.Namespace, fixed: list[str]) -> pd.DataFrame:
    """Write ``design`` to ``out/design.csv``, run every row as a sweep (any launcher; a rerun resumes) and
    return the tidy table of its runs (``sim.aggregate.collect``)."""
    from .aggregate import collect

    with failing_as("writing", out):
        out.mkdir(parents=True, exist_ok=True)
        design_csv = (out / "design.csv").resolve()
        design.to_csv(design_csv, index=False)
    results_dir = Path(a.results_dir).resolve()
    cmd = design_sweep_command(design_csv, len(design), name, results_dir, a.launcher, a.jobs, fixed)
    print(f"design: {design_csv} ({len(design)} runs)")
    print("sweep:", " ".join(cmd[1:]), flush=True)
    run_sweep(cmd)
    table = collect(results_dir / a.experiment / name, strict=True)  # the analyses need every row
    if table.design_row.nunique() != len(design):
        raise Failure(
            f"error: only {table.design_row.nunique()} of {len(design)} runs complete; rerun the same command to finish"
        )
    return table


def indices(problem: dict, x: np.ndarray, y: pd.DataFrame, levels: int) -> pd.DataFrame:
    """Morris mu*, its 95% confidence interval and sigma, per parameter and output."""
    from SALib.analyze import morris as morris_analyze

    frames = []
    for out in OUTPUTS:
        if y[out].isna().any():  # e.g. annual churn of a run shorter than two years: not measured
            print(f"{out}: not measured in every run, left out", file=sys.stderr)
            continue
        res = morris_analyze.analyze(problem, x, y[out].to_numpy(), num_levels=levels, seed=0)
        frames.append(
            pd.DataFrame(
                {
                    "output": out,
                    "parameter": problem["names"],
                    "mu_star": res["mu_star"],
                    "mu_star_conf": res["mu_star_conf"],
                    "mu": res["mu"],
                    "sigma": res["sigma"],
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    df["rank"] = df.groupby("output").mu_star.rank(ascending=False).astype(int)
    return df.sort_values(["output", "rank"])


def build_sobol_design(params: dict[str, tuple[float, float]], samples: int, seed: int):
    """The SALib problem and Saltelli sample (first and total order: N x (k + 2) rows); integer keys are rounded.

    The first N/2 base samples' rows are the design of N/2, so the convergence check needs no extra runs.
    """
    from SALib.sample import sobol as sobol_sample

    if samples < 4 or samples & (samples - 1):
        raise ConfigError(f"config error: --samples {samples}: allowed: a power of 2, at least 4")
    return sampled_design(params, lambda p: sobol_sample.sample(p, samples, calc_second_order=False, seed=seed))


def sobol_indices(problem: dict, y: np.ndarray, seed: int = 0, resamples: int = 200) -> pd.DataFrame:
    """First- and total-order Sobol indices of one output, with bootstrap 95% confidence half-widths."""
    from SALib.analyze import sobol as sobol_analyze

    res = sobol_analyze.analyze(
        problem, np.asarray(y, dtype=float), calc_second_order=False, num_resamples=resamples, seed=seed
    )
    return pd.DataFrame(
        {
            "parameter": problem["names"],
            "S1": res["S1"],
            "S1_conf": res["S1_conf"],
            "ST": res["ST"],
            "ST_conf": res["ST_conf"],
        }
    )


def sobol_table(problem: dict, y: pd.DataFrame, samples: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sobol indices per output at N base samples, and the convergence table (N/2 and N)."""
    rows_per = problem["num_vars"] + 2
    frames, conv = [], []
    for out in OUTPUTS:
        if y[out].isna().any():
            print(f"{out}: not measured in every run, left out", file=sys.stderr)
            continue
        values = y[out].to_numpy()
        half = sobol_indices(problem, values[: samples // 2 * rows_per], seed)
        full = sobol_indices(problem, values, seed)
        frames.append(full.assign(output=out))
        for n, ind in ((samples // 2, half), (samples, full)):
            conv.append(ind.assign(output=out, samples=n, runs=n * rows_per))
    ind = pd.concat(frames, ignore_index=True)
    ind["rank"] = ind.groupby("output").ST.rank(ascending=False, method="first").astype(int)
    ind = ind[["output", "parameter", "S1", "S1_conf", "ST", "ST_conf", "rank"]].sort_values(["output", "rank"])
    conv = pd.concat(conv, ignore_index=True)
    wide = conv.pivot_table(index=["output", "parameter"], columns="samples", values=["S1", "ST"])
    change = pd.DataFrame(
        {f"{s}_half": wide[s][samples // 2] for s in ("S1", "ST")}
        | {f"{s}_full": wide[s][samples] for s in ("S1", "ST")}
        | {f"{s}_change": (wide[s][samples] - wide[s][samples // 2]).abs() for s in ("S1", "ST")}
    ).reset_index()
    ci = ind.set_index(["output", "parameter"])[["S1_conf", "ST_conf"]]
    change = change.join(ci, on=["output", "parameter"])
    change["converged"] = (change.S1_change <= change.S1_conf) & (change.ST_change <= change.ST_conf)
    return ind, change


def plot_sobol(ind: pd.DataFrame, path: Path, command: str) -> None:
    """First- and total-order indices per output, with their confidence half-widths."""
    bars = (("S1", "S1_conf", "first order S1"), ("ST", "ST_conf", "total order ST"))
    _paired_bars(ind, path, command, "ST", bars)


def plot(ind: pd.DataFrame, path: Path, command: str) -> None:
    """Morris mu* (with its confidence half-width) and sigma per output."""
    _paired_bars(ind, path, command, "mu_star", (("mu_star", "mu_star_conf", "mu*"), ("sigma", None, "sigma")))


def _paired_bars(ind: pd.DataFrame, path: Path, command: str, order: str, bars) -> None:
    """One panel per output: two bars per parameter (``bars``: column, error column or None, label), sorted."""
    from matplotlib.figure import Figure

    outputs = list(dict.fromkeys(ind.output))
    fig = Figure(figsize=(5 * len(outputs), 0.45 * ind.parameter.nunique() + 1.8))
    axes = fig.subplots(1, len(outputs), squeeze=False)[0]
    for ax, out in zip(axes, outputs, strict=True):
        d = ind[ind.output == out].sort_values(order)
        y = np.arange(len(d))
        for shift, (column, error, label), colour in zip((-0.2, 0.2), bars, ("tab:blue", "tab:orange"), strict=True):
            ax.barh(y + shift, d[column], height=0.4, xerr=d[error] if error else None, label=label, color=colour)
        ax.set_yticks(y, d.parameter, fontsize=8)
        ax.set_title(out)
        ax.grid(axis="x", alpha=0.3)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
    axes[0].legend(fontsize=8)
    fig.suptitle(command, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


@command
def main(argv: list[str] | None = None) -> None:
    ap = ArgumentParser(prog="python -m sim.sensitivity", description=__doc__.splitlines()[0])
    ap.add_argument("--param", action="append", default=[], metavar="KEY=LOW:HIGH", help="a parameter and its range")
    ap.add_argument("--params", type=existing("file"), metavar="YAML", help="a YAML file {dotted.key: [low, high]}")
    ap.add_argument("--all", action="store_true", help="every numeric customer and market parameter, default ± 50%%")
    ap.add_argument("--method", choices=("morris", "sobol"), default="morris", help="Morris screening or Sobol indices")
    ap.add_argument(
        "--trajectories", type=number(int, 2, 10_000), default=4, help="Morris trajectories r (runs: r x (k + 1))"
    )
    ap.add_argument(
        "--samples",
        type=number(int, 4, 2**20),
        default=32,
        help="Sobol base samples N, a power of 2 (N x (k + 2) runs)",
    )
    ap.add_argument("--levels", type=number(int, 2, 100), default=4, help="Morris grid levels")
    ap.add_argument(
        "--seed",
        type=number(int, 0, 2**32 - 1),
        default=0,
        help="seed of the design and of every run (common random numbers)",
    )
    add_customers(ap, 2000, "customers per run")
    add_weeks(ap, 260, "weeks per run")
    ap.add_argument("--experiment", default="giving_vs_taking")
    ap.add_argument("--giving", default="giving", help="firm whose share and NPV are explained")
    ap.add_argument("--taking", default="taking", help="firm it is compared with")
    ap.add_argument("--launcher", default="basic", help="Hydra launcher: basic, joblib, submitit_slurm, ray...")
    add_jobs(ap, "parallel jobs (joblib)")
    ap.add_argument("--name", default=None, help="name of the analysis folder and sweep (default: the method)")
    add_results_dir(ap)
    ap.add_argument("override", nargs="*", help="further Hydra overrides fixed for every run")
    a = ap.parse_args(argv)
    a.name = a.name or a.method
    check_name(a.name, f"sensitivity-{a.name}")
    if a.samples & (a.samples - 1):
        raise ArgumentError(f"--samples = {a.samples}: allowed: a power of 2, at least 4")
    fixed = [f"experiment={a.experiment}", f"seed={a.seed}", f"customers.n={a.n}", f"steps={a.steps}", *a.override]
    check_design(a, fixed)
    params = all_parameters() if a.all else parse_params(a.param, a.params)
    check_ranges(params, fixed)
    if a.method == "sobol":
        problem, x, design = build_sobol_design(params, a.samples, a.seed)
    else:
        problem, x, design = build_design(params, a.trajectories, a.levels, a.seed)

    out = Path(a.results_dir) / "sensitivity" / a.name
    print(f"{problem['num_vars']} parameters")
    table = run_design(design, out, f"sensitivity-{a.name}", a, fixed)
    y = outputs(table, a.giving, a.taking)
    cmdline = "python -m sim.sensitivity " + " ".join(argv if argv is not None else sys.argv[1:])
    with failing_as("writing", out):
        y.to_csv(out / "outputs.csv")
        if a.method == "sobol":
            sobol_report(problem, y, a, out, cmdline)
            return
        ind = indices(problem, x, y, a.levels)
        ind.to_csv(out / "indices.csv", index=False)
        plot(ind, out / "morris.png", cmdline)
    for o in dict.fromkeys(ind.output):
        d = ind[ind.output == o]
        print(
            f"\n{o}:\n"
            + d[["parameter", "mu_star", "mu_star_conf", "sigma"]].to_string(index=False, float_format="{:.4g}".format)
        )
    print(f"\nwritten: {out}/indices.csv, {out}/morris.png")


def run_sweep(cmd: list[str]) -> None:
    """Run the design's sweep; if it fails, say why in one line (its own, when it said one)."""
    done = run_child(cmd)  # stopped with this command: its workers too
    if done.returncode == 0:
        return
    lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
    ours = [ln for ln in lines if re.match(r"((config |argument )?error: |interrupted|stopped: )", ln)]
    said = (
        ours[-1] if ours else f"error: the sweep failed ({exit_status(done.returncode)}): {lines[-1] if lines else ''}"
    )
    if done.returncode == BAD_INPUT:
        raise ConfigError(said)
    raise Failure(f"{said} (rerun the same command to resume)")


def sobol_report(problem: dict, y: pd.DataFrame, a: argparse.Namespace, out: Path, cmdline: str) -> None:
    """Write and print the Sobol indices and their convergence check."""
    ind, conv = sobol_table(problem, y, a.samples, a.seed)
    ind.to_csv(out / "indices.csv", index=False)
    conv.to_csv(out / "convergence.csv", index=False)
    plot_sobol(ind, out / "sobol.png", cmdline)
    fmt = "{:.3f}".format
    for o in dict.fromkeys(ind.output):
        d = ind[ind.output == o]
        print(f"\n{o}:\n" + d[["parameter", "S1", "S1_conf", "ST", "ST_conf"]].to_string(index=False, float_format=fmt))
    moved = conv[~conv.converged]
    n = a.samples
    print(
        f"\nconvergence: from N={n // 2} to N={n} base samples, {len(conv) - len(moved)} of {len(conv)} indices "
        f"moved less than their 95% confidence half-width; largest change: S1 {conv.S1_change.max():.3f}, "
        f"ST {conv.ST_change.max():.3f}"
    )
    print(f"written: {out}/indices.csv, {out}/convergence.csv, {out}/sobol.png")


if __name__ == "__main__":
    main()
