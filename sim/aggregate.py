"""``python -m sim.aggregate results/<experiment>/<sweep>``: one tidy table and a comparison report.

Reads every complete run of a sweep (folders with summary.csv; hidden temporary folders are
ignored) into ``runs.parquet`` (one row per run per firm: the run's parameters, then every
summary metric) and writes, atomically, ``<sweep>/report/``: ``report.md`` with means and 95%
confidence intervals, trajectory plots with bands, the profit-lead week distribution and,
with ``--map A B``, a heat map of where giving beats taking in NPV. A run whose files cannot be
read is left out and named, on stdout and in the report; ``--strict`` fails instead. Runs are pooled only if
they were made alike: runs whose settings differ in a key the sweep did not sweep (a run of another experiment
copied in, say), or that other model code made, are refused and named, as are runs with missing metrics.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf
from scipy import stats

from .config import ConfigError, to_plain, validate
from .intervals import mean_interval
from .runs import fingerprint
from .runs.errors import ArgumentError, ArgumentParser, Failure, command, existing, failing_as, reason
from .runs.results import COMPLETE, PARAMS, atomic_folder, is_complete, is_temporary

METRICS = {"long_run_share": "long-run share", "npv": "NPV", "advocacy": "advocacy"}
ECONOMICS = {  # a firm's economics over the run (``metrics.economics``), reported where the runs have them
    "margin": "margin (profit / revenue)",
    "acquisition_cost": "acquisition cost per new customer",
    "acquisition_retention_share": "acquisition and retention spend / revenue",
    "contact_cost_share": "contact cost / revenue",
    "failure_demand_share": "failure demand / calls",
}
TRAJECTORIES = {"share": "market share", "cumulative_profit": "cumulative profit", "advocacy": "advocacy"}
REPLICATION = {"seed", "design_row", "design"}  # vary between replications, not conditions
REPORT = "report"
TIMESERIES = "timeseries.parquet"
TRAJECTORY_COLUMNS = ["week", "firm", "policy", *TRAJECTORIES]
SUMMARY_NEEDS = ("firm", "policy", *METRICS, "profit_lead_week")
NEVER_MISSING = ("long_run_share", "npv", "cumulative_profit")  # a run's money and share always exist
SUMMARY_NUMBERS = (*METRICS, *ECONOMICS, *NEVER_MISSING, "profit_lead_week")  # what the report computes with


def completed_runs(sweep_dir: Path) -> list[Path]:
    return sorted(p for p in sweep_dir.iterdir() if p.is_dir() and not is_temporary(p) and is_complete(p))


@dataclass(frozen=True)
class Unreadable:
    """A complete run whose files cannot be read: which run, which file, and why."""

    run: str
    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.run} ({self.file}: {self.reason})"


class DamagedRun(Exception):
    def __init__(self, what: Unreadable) -> None:
        super().__init__(str(what))
        self.what = what


def _why(err: Exception) -> str:
    """A damaged file's error, briefly (readers raise many kinds: pyarrow, pandas, json, yaml, OS)."""
    text = str(err)
    if "magic bytes" in text or "Parquet file size is 0" in text:
        return "not a Parquet file (damaged or cut short)"
    if m := re.search(r"No match for FieldRef.Name\((\w+)\)", text):
        return f"no {m[1]} column"
    if isinstance(err, pd.errors.EmptyDataError):
        return "empty file"
    if isinstance(err, UnicodeDecodeError):
        return "not text"
    if type(err).__module__.startswith("yaml"):
        return f"not valid YAML ({reason(err)})"
    if isinstance(err, json.JSONDecodeError):
        return f"not valid JSON ({err.msg.lower()})"
    return reason(err)[:160]


def _read(run: Path, name: str, read: Callable[[Path], Any], optional: bool = False) -> Any:
    """``read(run / name)``; any failure to read a damaged file is a ``DamagedRun`` naming the file and why."""
    path = run / name
    if optional and not path.exists():
        return None
    try:
        return read(path)
    except Exception as err:  # damage takes many forms; whatever it is, the run is left out and named
        raise DamagedRun(Unreadable(run.name, name, _why(err))) from err


def _numbers(table: pd.DataFrame, columns) -> pd.DataFrame:
    """``table``, if its ``columns`` (those it has) hold finite numbers or nothing; else a ``ValueError`` naming one."""
    for c in columns:
        if c in table.columns and not (
            pd.api.types.is_numeric_dtype(table[c]) and np.isfinite(table[c].dropna().astype(float)).all()
        ):
            raise ValueError(f"{c}: a value that is not a finite number")
    return table


def _summary(path: Path) -> pd.DataFrame:
    summary = pd.read_csv(path)
    missing = [c for c in SUMMARY_NEEDS if c not in summary.columns]
    if missing or summary.empty:
        raise ValueError(f"no {', '.join(missing)} column" if missing else "no rows")
    return _numbers(summary, SUMMARY_NUMBERS)


def _trajectories(path: Path) -> pd.DataFrame:
    """A run's trajectories, as the report's plots need them: weeks and values finite numbers."""
    return _numbers(pd.read_parquet(path, columns=TRAJECTORY_COLUMNS), ("week", *TRAJECTORIES))


@dataclass(frozen=True)
class Made:
    """What made a run: its settings (flattened keys), the digest of the model's code, the keys it swept."""

    run: str
    settings: dict[str, Any] | None  # None: not known (no fingerprint and no readable config)
    model: str | None
    swept: tuple[str, ...]


def made_with(run: Path, cfg: Any, swept: list[str]) -> Made:
    """From the run's fingerprint, else (runs made before fingerprints) from its config.yaml."""
    found = fingerprint.read(run)
    if found is not None:
        return Made(run.name, fingerprint.flat(found["settings"]), found.get("model"), tuple(swept))
    settings = None
    if isinstance(cfg, DictConfig):
        try:
            settings = fingerprint.flat(fingerprint.settings_of(validate(to_plain(cfg))))
        except ConfigError as err:
            raise DamagedRun(Unreadable(run.name, "config.yaml", f"not a run's settings ({err})")) from err
    return Made(run.name, settings, None, tuple(swept))


def read_run(run: Path) -> tuple[pd.DataFrame, dict, dict, Made]:
    """A complete run: its summary rows, its parameters (seed, overrides, design row), its design row, and what made
    it.

    Reads every file the report needs (the trajectories' columns too), so a damaged run is found here
    and left out whole; raises ``DamagedRun``.
    """
    summary = _read(run, COMPLETE, _summary)
    raw = _read(run, PARAMS, lambda p: json.loads(p.read_text()), optional=True) or {}
    cfg = _read(run, "config.yaml", OmegaConf.load, optional=True)
    _read(run, TIMESERIES, _trajectories)
    overrides, row = (raw.get("overrides", {}), raw.get("design") or {}) if isinstance(raw, dict) else (None, None)
    if not (isinstance(overrides, dict) and isinstance(row, dict)):
        raise DamagedRun(Unreadable(run.name, PARAMS, "not a run's parameters"))
    seed = cfg.get("seed") if isinstance(cfg, DictConfig) else None
    return summary, {"seed": seed, **overrides, **row}, row, made_with(run, cfg, [*overrides, *row])


def _covered(key: str, swept: set[str]) -> bool:
    """Whether a swept override explains a difference in ``key``: the key itself, or the package a group override
    fills (``policy@firms.taking`` fills ``firms.taking``, ``network`` fills ``network.*``), or a swept experiment."""
    for override in swept:
        group, _, package = override.partition("@")
        target = package or group.replace("/", ".")
        if override == "experiment" or key == target or key.startswith(f"{target}."):
            return True
    return False


def odd_runs(made: list[Made]) -> list[str]:
    """Runs that differ from the sweep's other runs in what the sweep did not sweep, or in the model's code: each
    named with what is odd about it (the values held by fewer runs are the odd ones)."""
    known = [m for m in made if m.settings is not None]
    swept = {key for m in made for key in m.swept}
    odd: dict[str, list[str]] = {}
    keys = sorted({k for m in known for k in m.settings}, key=lambda k: (k.count("."), k))  # top-level keys first
    for key in keys:
        if _covered(key, swept):
            continue
        values = pd.Series([json.dumps(m.settings.get(key), sort_keys=True) for m in known])
        if values.nunique() > 1:
            usual = values.value_counts().index[0]
            for m, v in zip(known, values, strict=True):
                if v != usual:
                    odd.setdefault(m.run, []).append(f"{key}={json.loads(v)}, not {json.loads(usual)}")
    digests = pd.Series([m.model for m in made if m.model is not None])
    if digests.nunique() > 1:
        usual = digests.value_counts().index[0]
        for m in made:
            if m.model is not None and m.model != usual:
                odd.setdefault(m.run, []).append("made by other model code")
    return [f"{run} ({'; '.join(what[:3])}{'; ...' if len(what) > 3 else ''})" for run, what in odd.items()]


def made_by(runs: list[Path]) -> str:
    """Which model made the runs: version, commit and model code, from their fingerprints."""
    found = [fingerprint.read(run) for run in runs]
    versions = sorted({f"{f.get('version')} (commit {str(f.get('commit'))[:12]}, model code {f.get('model')})"
                       for f in found if f is not None})  # fmt: skip
    unknown = sum(f is None for f in found)
    return "; ".join([*versions, *([f"{unknown} runs of an earlier version"] if unknown else [])]) or "not recorded"


def unreadable_line(skipped: list[Unreadable] | list[str], found: int) -> str:
    """``2 of 30 runs unreadable: seed=7 (timeseries.parquet: not a Parquet file), ...``"""
    return f"{len(skipped)} of {found} runs unreadable: " + ", ".join(str(u) for u in skipped)


def _tidy(column: pd.Series) -> pd.Series:
    """One type per column, so the table writes to parquet: numbers if all are, else text."""
    numeric = pd.to_numeric(column, errors="coerce")
    if numeric.notna().sum() == column.notna().sum():
        return numeric
    return column.map(lambda v: None if v is None else str(v)).astype("string")


def collect(sweep_dir: Path, strict: bool = False) -> pd.DataFrame:
    """The tidy table: one row per completed run per firm.

    A run whose files cannot be read is left out, and named in ``table.attrs["unreadable"]``
    (``seed=7 (timeseries.parquet: not a Parquet file ...)``; ``table.attrs["found"]`` counts every
    complete run); ``strict`` makes it a ``Failure`` instead.
    """
    frames, keys, metrics, design, skipped, made = [], {}, {}, {}, [], []
    runs = completed_runs(sweep_dir)
    for run in runs:
        try:
            summary, params, row, how = read_run(run)
        except DamagedRun as damaged:
            skipped.append(damaged.what)
            continue
        made.append(how)
        keys |= dict.fromkeys(params)
        design |= dict.fromkeys(row)
        metrics |= dict.fromkeys(summary.columns)
        head = pd.DataFrame({"run": run.name, **{k: [v] * len(summary) for k, v in params.items()}})
        frames.append(pd.concat([head, summary], axis=1))
    if skipped and (strict or not frames):
        raise Failure(f"error: {unreadable_line(skipped, len(runs))}")
    if not frames:
        raise ArgumentError(
            f"sweep = {sweep_dir}: no completed runs in it (a sweep folder holds <run key>/summary.csv)"
        )
    if odd := odd_runs(made):
        raise ArgumentError(
            f"sweep = {sweep_dir}: {len(odd)} of {len(made)} runs were made otherwise than the rest, so they are not"
            f" pooled: {', '.join(odd[:5])}{', ...' if len(odd) > 5 else ''}; move them out of the sweep folder"
        )
    table = pd.concat(frames, ignore_index=True)[["run", *keys, *metrics]]
    missing = table[table[list(NEVER_MISSING)].isna().any(axis=1)]
    if len(missing):
        names = ", ".join(f"{r.run} ({r.firm})" for r in missing.itertuples())
        raise ArgumentError(f"sweep = {sweep_dir}: runs with missing metrics ({', '.join(NEVER_MISSING)}): {names}")
    for col in table.columns:
        if table[col].dtype == object:
            table[col] = _tidy(table[col])
    table.attrs["design"] = list(design)
    table.attrs["made_by"] = made_by(runs)
    table.attrs["unreadable"] = [str(u) for u in skipped]  # plain text: attrs go into runs.parquet as JSON
    table.attrs["found"] = len(runs)
    return table


def parameters(table: pd.DataFrame) -> list[str]:
    """Parameter columns: everything before the summary's first column."""
    return list(table.columns[1 : table.columns.get_loc("firm")])


def conditions(table: pd.DataFrame) -> list[str]:
    """Parameters that vary across the sweep and are not replications (seed, design rows and their columns)."""
    skip = {*REPLICATION, *table.attrs.get("design", [])}
    return [p for p in parameters(table) if p not in skip and table[p].nunique(dropna=False) > 1]


def mean_ci(values: pd.Series) -> pd.Series:
    """Mean and 95% confidence interval (Student t) of replications."""
    v = values.dropna().astype(float)
    mean, ci_low, ci_high = mean_interval(v)
    return pd.Series({"n": len(v), "mean": mean, "ci_low": ci_low, "ci_high": ci_high})


def comparison(table: pd.DataFrame, metrics=METRICS) -> pd.DataFrame:
    """Per condition, firm and policy: mean and 95% CI of each of ``metrics`` (long-run share, NPV, advocacy)."""
    keys = [*conditions(table), "firm", "policy"]
    parts = []
    for metric in metrics:
        m = table.groupby(keys, sort=True, dropna=False)[metric].apply(mean_ci).unstack()
        parts.append(m.assign(metric=metric).reset_index())
    return pd.concat(parts, ignore_index=True)


def lead_weeks(table: pd.DataFrame) -> pd.DataFrame:
    """Per firm: share of runs in which its cumulative profit ends ahead, and when it took the lead."""
    keys = [*conditions(table), "firm", "policy"]
    g = table.groupby(keys, sort=True, dropna=False).profit_lead_week
    return pd.DataFrame(
        {
            "runs": g.size(),
            "share_leading_at_end": g.apply(lambda w: w.notna().mean()),
            "median_week": g.median(),
            "q10_week": g.quantile(0.1),
            "q90_week": g.quantile(0.9),
        }
    ).reset_index()


def check_map(table: pd.DataFrame, x: str, y: str, metric: str, better: str = "giving", worse: str = "taking") -> None:
    """The map's axes are two swept parameters, its metric a numeric summary column, both policies ran."""
    params = parameters(table)
    axes = ", ".join(p for p in params if p not in REPLICATION) or "none"
    for key in (x, y):
        if key in REPLICATION:
            raise ArgumentError(
                f"--map {key}: it tells the replicates apart, which each cell of the map averages over (paired by"
                f" seed), so it is no axis (allowed: {axes})"
            )
        if key not in params:
            raise ArgumentError(f"--map {key}: not a parameter of this sweep (allowed: {axes})")
    if x == y:
        raise ArgumentError(f"--map {x} {y}: allowed: two different parameters")
    numeric = [c for c in table.columns[table.columns.get_loc("firm") :] if pd.api.types.is_numeric_dtype(table[c])]
    if metric not in numeric:
        raise ArgumentError(f"--metric = {metric}: allowed: {', '.join(numeric)}")
    missing = [p for p in (better, worse) if p not in set(table.policy)]
    if missing:
        raise ArgumentError(
            f"--map: needs runs of policy {', '.join(missing)} (found: {', '.join(sorted(set(table.policy)))})"
        )


def policy_map(table: pd.DataFrame, x: str, y: str, metric: str = "npv", better: str = "giving", worse: str = "taking"):
    """Per cell (x, y): mean and 95% CI of ``better``'s metric minus ``worse``'s, paired by seed.

    Works for a duopoly (both policies in every run) and for paired single-firm runs (the
    policy preset swept, e.g. ``policy@firms.incumbent=giving,taking``): rows of the same
    cell and seed are averaged per policy, then differenced.
    """
    check_map(table, x, y, metric, better, worse)
    wide = table.pivot_table(index=[x, y, "seed"], columns="policy", values=metric, aggfunc="mean")
    diff = (wide[better] - wide[worse]).rename("difference").dropna()
    cells = diff.groupby(level=[x, y]).apply(mean_ci).unstack()
    ratio = wide[better].groupby(level=[x, y]).mean() / wide[worse].groupby(level=[x, y]).mean()
    return cells.assign(ratio=ratio).reset_index()


def _band_plot(ts: pd.DataFrame, column: str, label: str, path: Path) -> None:
    fig = Figure(figsize=(8, 4.5), dpi=110)
    ax = fig.subplots()
    for name, g in ts.groupby("line", sort=True):
        s = g.groupby("week")[column].agg(["mean", "std", "count"])
        half = stats.t.ppf(0.975, np.maximum(s["count"] - 1, 1)) * s["std"].fillna(0) / np.sqrt(s["count"])
        ax.plot(s.index, s["mean"], label=name)
        ax.fill_between(s.index, s["mean"] - half, s["mean"] + half, alpha=0.25)
    ax.set_xlabel("week")
    ax.set_ylabel(label)
    ax.set_title(f"{label}: mean of {ts.run.nunique()} runs, 95% band")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def trajectories(sweep_dir: Path, table: pd.DataFrame) -> pd.DataFrame:
    """Every run's timeseries (share, cumulative profit, advocacy) with a line label per firm and condition."""
    conds = conditions(table)
    labels = table.drop_duplicates("run").set_index("run")[conds]
    frames = []
    for run in table.run.unique():
        ts = pd.read_parquet(sweep_dir / run / TIMESERIES, columns=TRAJECTORY_COLUMNS)
        cond = ", ".join(f"{c}={labels.at[run, c]}" for c in conds) if len(conds) and labels.shape[0] <= 400 else ""
        ts["run"] = run
        ts["line"] = ts.firm.astype(str) + " (" + ts.policy.astype(str) + ")" + (f" {cond}" if cond else "")
        frames.append(ts)
    out = pd.concat(frames, ignore_index=True)
    if out.line.nunique() > 8:  # too many conditions to draw apart: pool them per firm
        out["line"] = out.firm.astype(str) + " (" + out.policy.astype(str) + ")"
    return out


def _lead_plot(table: pd.DataFrame, path: Path) -> None:
    fig = Figure(figsize=(8, 4.5), dpi=110)
    ax = fig.subplots()
    for (firm, policy), g in table.groupby(["firm", "policy"], sort=True):
        weeks = g.profit_lead_week.dropna()
        if len(weeks):
            ax.hist(weeks, bins=20, alpha=0.6, label=f"{firm} ({policy}): {len(weeks)} of {len(g)} runs")
    ax.set_xlabel("week from which cumulative profit stays ahead (profit_lead_week)")
    ax.set_ylabel("runs")
    ax.set_title("Overtaking week")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def _map_plot(cells: pd.DataFrame, x: str, y: str, metric: str, path: Path) -> None:
    grid = cells.pivot(index=y, columns=x, values="mean").sort_index(ascending=False)
    low = cells.pivot(index=y, columns=x, values="ci_low").reindex_like(grid)
    high = cells.pivot(index=y, columns=x, values="ci_high").reindex_like(grid)
    span = float(np.nanmax(np.abs(grid.to_numpy()))) or 1.0
    fig = Figure(figsize=(1.3 * grid.shape[1] + 3, 0.9 * grid.shape[0] + 2), dpi=110)
    ax = fig.subplots()
    im = ax.imshow(grid.to_numpy(), cmap="RdBu", norm=TwoSlopeNorm(0.0, -span, span), aspect="auto")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            v = grid.iat[i, j]
            sure = (low.iat[i, j] > 0) or (high.iat[i, j] < 0)
            ink = "white" if abs(v) > 0.6 * span else "black"  # readable on dark cells
            ax.text(j, i, f"{v / 1e3:+,.0f}k{'*' if sure else ''}", ha="center", va="center", fontsize=8, color=ink)
    ax.set_xticks(range(grid.shape[1]), [f"{v:g}" if isinstance(v, float) else v for v in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [f"{v:g}" if isinstance(v, float) else v for v in grid.index])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"giving minus taking {metric} (blue: giving wins; * 95% CI excludes 0)", fontsize=9)
    fig.colorbar(im, ax=ax, label=f"{metric} difference")
    fig.tight_layout()
    fig.savefig(path)


def recorded_command(sweep_dir: Path, runs: list[str]) -> str | None:
    """The command that makes the sweep's runs: each key with the values its runs took (each run keeps its own
    overrides in params.json), or, for runs made before they did, Hydra's record of the last launch."""
    values: dict[str, list[str]] = {}
    for run in runs:
        try:
            task = json.loads((sweep_dir / run / PARAMS).read_text()).get("task")
        except (OSError, ValueError, AttributeError):
            task = None
        if not isinstance(task, list):
            return _last_launch(sweep_dir)
        for override in task:
            key, _, value = str(override).partition("=")
            if value not in values.setdefault(key, []):
                values[key].append(value)
    if not values:
        return _last_launch(sweep_dir)
    return "python -m sim -m " + " ".join(_shell(f"{k}={_sweep_values(v)}") for k, v in values.items())


def _shell(word: str) -> str:
    """A word as a shell reads it back: bare if safe, in double quotes if it holds Hydra's single quotes."""
    quoted = shlex.quote(word)
    if quoted != word and "'" in word and not any(c in word for c in '"$`\\!'):
        return f'"{word}"'
    return quoted


def _sweep_values(values: list[str]) -> str:
    """A key's values as a sweep: ``range(0,30)`` for consecutive integers, else ``a,b,c``."""
    if len(values) >= 3 and all(re.fullmatch(r"-?\d+", v) for v in values):
        numbers = sorted(int(v) for v in values)
        if numbers == list(range(numbers[0], numbers[-1] + 1)):
            return f"range({numbers[0]},{numbers[-1] + 1})"
    return ",".join(values)


def _last_launch(sweep_dir: Path) -> str | None:
    """The command of the sweep's last launch, from Hydra's record in the hidden job folder."""
    record = sweep_dir.parent.parent / ".hydra" / sweep_dir.parent.name / sweep_dir.name / "multirun.yaml"
    if not record.is_file():
        return None
    overrides = OmegaConf.load(record).hydra.overrides
    launcher = [o for o in overrides.hydra if o.startswith("hydra/launcher=")]
    task = [o for o in overrides.task if not o.startswith("sweep=")]
    return "python -m sim -m " + " ".join(shlex.quote(o) for o in [*task, *launcher])


def _num(v) -> str:
    if isinstance(v, float | np.floating):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    return str(v)


def _md(df: pd.DataFrame) -> str:
    """A plain Markdown table (no extra dependency)."""
    cols = list(df.columns)
    fmt = [[_num(v) for v in row] for row in df.itertuples(index=False)]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in fmt)])


def report(sweep_dir: Path, table: pd.DataFrame, out: Path, map_axes: list[str] | None, metric: str) -> None:
    """Write the tidy table, plots and report.md into ``out`` (a temporary folder)."""
    table.to_parquet(out / "runs.parquet", index=False)
    comp = comparison(table)
    leads = lead_weeks(table)
    ts = trajectories(sweep_dir, table)
    for column, label in TRAJECTORIES.items():
        _band_plot(ts, column, label, out / f"{column}.png")
    _lead_plot(table, out / "lead_week.png")
    command = recorded_command(sweep_dir, list(table.run.unique()))
    agg = "python -m sim.aggregate " + " ".join(
        shlex.quote(a) for a in [str(sweep_dir), *(["--map", *map_axes] if map_axes else [])]
    )
    lines = [
        f"# Sweep report: {sweep_dir.parent.name} / {sweep_dir.name}",
        "",
        f"{table.run.nunique()} completed runs, {table.firm.nunique()} firms, made by loyalty-sim "
        f"{table.attrs.get('made_by', 'not recorded')}. Reproduce:",
        "",
        "```bash",
        *([command] if command else []),
        agg,
        "```",
        "",
        f"Parameters: {', '.join(parameters(table))}. Conditions (varying, not replications): "
        f"{', '.join(conditions(table)) or 'none'}. Tidy table: `runs.parquet` (one row per run per firm).",
        "",
    ]
    if skipped := table.attrs.get("unreadable"):
        lines += [
            f"**Left out: {unreadable_line(skipped, table.attrs['found'])}.** Their files could not be read; "
            "delete such a run's folder and run the sweep's command again to redo it.",
            "",
        ]
    for metric_name, label in METRICS.items():
        part = comp[comp.metric == metric_name].drop(columns="metric")
        lines += [f"## {label}: mean and 95% confidence interval", "", _md(part), ""]
    economics = {k: v for k, v in ECONOMICS.items() if k in table.columns and table[k].notna().any()}
    if economics:
        lines += ["## The firms' economics: mean and 95% confidence interval", ""]
        econ = comparison(table, economics)
        for metric_name, label in economics.items():
            lines += [f"### {label}", "", _md(econ[econ.metric == metric_name].drop(columns="metric")), ""]
    lines += ["## Overtaking week (profit_lead_week)", "", _md(leads), "", "![](lead_week.png)", ""]
    lines += ["## Trajectories (mean, 95% band)", "", *(f"![]({c}.png)" for c in TRAJECTORIES), ""]
    if map_axes:
        x, y = map_axes
        cells = policy_map(table, x, y, metric)
        cells.to_csv(out / "policy_map.csv", index=False)
        _map_plot(cells, x, y, metric, out / "policy_map.png")
        wins = (cells.ci_low > 0).sum()
        loses = (cells.ci_high < 0).sum()
        lines += [
            f"## Policy map: giving minus taking {metric} over {x} x {y}",
            "",
            f"Giving ahead with 95% confidence in {wins} of {len(cells)} cells, taking ahead in {loses}.",
            "Differences are paired by seed (same network and incidents for both policies).",
            "",
            _md(cells),
            "",
            "![](policy_map.png)",
            "",
        ]
    (out / "report.md").write_text("\n".join(lines))


def write_report(
    sweep_dir: Path,
    map_axes: list[str] | None = None,
    metric: str = "npv",
    strict: bool = False,
    table: pd.DataFrame | None = None,
) -> Path:
    """Aggregate a sweep into ``<sweep>/report/``, replacing an older report only when the new one is whole.

    ``table`` is the sweep's ``collect``ed table, if already read; runs that cannot be read are
    left out and named in the report (``strict``: a ``Failure`` instead).
    """
    table = collect(sweep_dir, strict=strict) if table is None else table
    if map_axes:
        check_map(table, *map_axes, metric)
    dest = sweep_dir / REPORT
    staged = sweep_dir / f".{REPORT}.new"
    with failing_as("writing", dest):
        shutil.rmtree(staged, ignore_errors=True)
        with atomic_folder(staged) as folder:
            report(sweep_dir, table, folder.tmp, map_axes, metric)
        old = sweep_dir / f".{REPORT}.old-{os.getpid()}"
        if dest.exists():
            os.replace(dest, old)
        os.replace(staged, dest)
        shutil.rmtree(old, ignore_errors=True)
    return dest


@command
def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(prog="python -m sim.aggregate", description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=existing("folder"), help="a sweep folder: results/<experiment>/<sweep>")
    parser.add_argument("--map", nargs=2, metavar=("X", "Y"), help="two swept keys for a policy heat map")
    parser.add_argument("--metric", default="npv", help="summary metric for the map (default npv)")
    parser.add_argument("--strict", action="store_true", help="fail if any complete run cannot be read")
    args = parser.parse_args(argv)
    table = collect(args.sweep, strict=args.strict)
    if args.map:
        check_map(table, *args.map, args.metric)
    if skipped := table.attrs["unreadable"]:
        print(f"{unreadable_line(skipped, table.attrs['found'])}; left out of the report")
    dest = write_report(args.sweep, args.map, args.metric, table=table)
    print(f"{table.run.nunique()} runs, {len(table)} rows -> {dest / 'runs.parquet'}")
    print(f"report: {dest / 'report.md'}")


if __name__ == "__main__":
    main()
