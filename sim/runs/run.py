"""Run one configured market and write its results: shared by the commands and tests."""

from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..config import Engine, Settings
from ..model.compiled import compiled_here
from ..model.market import LoyaltyMarket, prepare
from ..model.metrics import summarize, summarize_cohorts, summarize_segments, summarize_tenure
from .results import run_folder, write_run

SUMMARY_COLUMNS = [
    "firm",
    "policy",
    "long_run_share",
    "npv",
    "cumulative_profit",
    "advocacy",
    "devoted_share",
    "profit_lead_week",
]


def keep_freed_memory() -> None:
    """Let glibc reuse freed large blocks instead of returning them to the OS.

    A week makes hundreds of population-sized temporaries; fresh pages for each cost
    more than the arithmetic (page faults), so freed blocks are kept for reuse. Peak
    memory is unchanged. Called by the commands that run markets; a no-op without glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 30)


def own_progress_lock() -> None:
    """Give this process's progress bars a thread lock instead of tqdm's default multiprocessing one.

    A worker or child process killed while it owns a multiprocessing lock leaves it to Python's
    resource tracker, which then warns on stderr; a run's progress bar is its own process's, so
    a thread lock is all it needs. Called by the commands in the processes that run markets.
    """
    import threading

    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())


@dataclass
class Tables:
    """What a run writes: per firm and week, per firm, segment and week, and their summaries; and per firm, what a
    customer brings and costs by tenure year, and the lifetime value of each acquisition cohort."""

    timeseries: pd.DataFrame
    summary: pd.DataFrame
    segments: pd.DataFrame
    segment_summary: pd.DataFrame
    tenure: pd.DataFrame
    cohorts: pd.DataFrame


def prepare_visibly() -> None:
    """The compiled kernels built or loaded before a run's progress bar starts, said on the terminal while it
    takes: the first run after install compiles them, and a bar counting that as its first week would promise
    hours. Only on a terminal, where someone watches the bar: a log, a pipe or a sweep's job run as they were."""
    if not sys.stderr.isatty():
        return
    print(
        "preparing the compiled simulator (the first run after install compiles it: about 15 s)...",
        end="",
        file=sys.stderr,
        flush=True,
    )
    took = prepare()
    print("\r\033[K", end="", file=sys.stderr, flush=True)
    if compiled_here():
        print(
            f"compiled the simulator in {took:.0f} s (once after install: later runs load it from the cache)",
            file=sys.stderr,
            flush=True,
        )


def run_tables(settings: Settings, progress: bool | None = None) -> Tables:
    """Run the market; return every table of the run."""
    shown = settings.progress if progress is None else progress
    if shown and settings.engine is Engine.COMPILED:
        prepare_visibly()
    model = LoyaltyMarket(settings)
    model.run(progress=shown)
    return tables_of(model)


def tables_of(model: LoyaltyMarket) -> Tables:
    """Every table of a market run so far."""
    ts, seg = model.timeseries(), model.segment_timeseries()
    rate = model.settings.market.annual_discount_rate
    return Tables(
        ts,
        summarize(ts),
        seg,
        summarize_segments(seg),
        summarize_tenure(model.tenure_timeseries(), ts),
        summarize_cohorts(model.cohort_timeseries(), ts, rate),
    )


def simulate(settings: Settings, progress: bool | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the market; return (timeseries, summary)."""
    tables = run_tables(settings, progress)
    return tables.timeseries, tables.summary


def format_summary(summary: pd.DataFrame) -> str:
    s = summary[SUMMARY_COLUMNS].copy()
    s["long_run_share"] = s.long_run_share.map("{:.1%}".format)
    s["devoted_share"] = s.devoted_share.map("{:.1%}".format)
    for col in ("npv", "cumulative_profit"):
        s[col] = s[col].map("{:,.0f}".format)
    s["advocacy"] = s.advocacy.map("{:+.1f}".format)
    s["profit_lead_week"] = s.profit_lead_week.map(lambda w: "-" if pd.isna(w) else f"{w:.0f}")
    return s.to_string(index=False)


def run_and_write(
    settings: Settings,
    config_yaml: str,
    dest: Path | None = None,
    params: dict | None = None,
    plots: bool = True,
    keep_existing: bool = False,
) -> Path:
    """Simulate, print the summary, write the results folder atomically; return the folder written."""
    tables = run_tables(settings)
    dest = dest or run_folder(settings.results_dir, settings.experiment)
    final = write_run(dest, settings, config_yaml, tables, plots=plots, params=params, keep_existing=keep_existing)
    print(format_summary(tables.summary))
    print(f"results: {final}")
    return final
