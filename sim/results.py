"""Results folders: written under a temporary name, renamed into place when complete."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

COMPLETE = "summary.csv"  # present only in folders that were renamed into place whole
PARAMS = "params.json"  # a sweep run's parameters: its overrides and design row


def run_folder(results_dir: str | Path, experiment: str, when: datetime | None = None) -> Path:
    """``<results_dir>/<experiment>/<date_time>/`` for a single run."""
    stamp = (when or datetime.now()).strftime("%Y-%m-%d_%H-%M-%S")
    return Path(results_dir) / experiment / stamp


def sweep_run_folder(results_dir: str | Path, experiment: str, sweep: str, key: str) -> Path:
    """``<results_dir>/<experiment>/<sweep>/<run key>/`` for one run of a multirun."""
    return Path(results_dir) / experiment / sweep / key


def is_complete(folder: Path) -> bool:
    return (folder / COMPLETE).is_file()


def is_temporary(folder: Path) -> bool:
    """Hidden folders are work in progress (``.<name>.tmp-<pid>``) or Hydra's own job folders."""
    return folder.name.startswith(".")


def clear_stale(dest: Path) -> None:
    """Remove temporary folders left for ``dest`` by a killed process, so the run is redone whole.

    Only for run keys that one job owns (sweeps): a single run's dated folder may be shared.
    """
    for tmp in dest.parent.glob(f".{dest.name}.tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def atomic_folder(dest: Path, keep_existing: bool = False):
    """Yield a temporary sibling folder; rename it to ``dest`` only if the block succeeds.

    A crash or Ctrl-C removes the temporary folder, so no folder under a final
    name is ever incomplete. If ``dest`` exists, a suffix keeps both; with
    ``keep_existing`` (a sweep's run, which is deterministic) the existing folder wins
    and the new copy is dropped, so a run is never counted twice.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if keep_existing and is_complete(dest):
            shutil.rmtree(tmp, ignore_errors=True)
            return
        final = dest
        k = 1
        while final.exists():
            final = dest.with_name(f"{dest.name}_{k}")
            k += 1
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _plot(ts: pd.DataFrame, column: str, ylabel: str, title: str, path: Path, scale: float = 1.0) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for firm, g in ts.groupby("firm", sort=False):
        ax.plot(g.week, g[column] / scale, label=f"{firm} ({g.policy.iloc[0]})")
    ax.set_xlabel("week")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_ladder(ts: pd.DataFrame, path: Path) -> None:
    firms = list(dict.fromkeys(ts.firm))
    fig, axes = plt.subplots(1, len(firms), figsize=(4.5 * len(firms), 4), dpi=110, sharey=True, squeeze=False)
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
    plt.close(fig)


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


def write_run(
    dest: Path,
    config_yaml: str,
    timeseries: pd.DataFrame,
    summary: pd.DataFrame,
    plots: bool = True,
    params: dict | None = None,
    keep_existing: bool = False,
) -> Path:
    """Write a complete results folder atomically; return its final path.

    ``params`` (a sweep's parameters of this run) go to ``params.json`` for the aggregate table.
    """
    with atomic_folder(dest, keep_existing=keep_existing) as tmp:
        (tmp / "config.yaml").write_text(config_yaml)
        if params is not None:
            (tmp / PARAMS).write_text(json.dumps(params, indent=1, sort_keys=True))
        timeseries.to_parquet(tmp / "timeseries.parquet", index=False)
        if plots:
            for name, draw in PLOTS.items():
                draw(timeseries, tmp / name)
        summary.to_csv(tmp / COMPLETE, index=False)
    return dest if keep_existing else _resolved(dest)


def _resolved(dest: Path) -> Path:
    # atomic_folder may have added a suffix; the newest matching folder is ours
    candidates = sorted(dest.parent.glob(f"{dest.name}*"), key=lambda p: p.stat().st_mtime)
    return candidates[-1] if candidates else dest
