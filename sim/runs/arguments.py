"""The arguments many commands share, each defined once: its flag, its type and its range.

A setting given as an argument (customers, weeks, mean degree) takes the range the settings allow
(``sim.config.allowed_range``), so a command accepts what a run accepts; the default and the help text
are each command's own.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from ..config import ConfigError, allowed_range
from .errors import Failure, number

JOBS = (1, 4096)  # parallel processes or joblib workers


def setting(key: str) -> Callable[[str], int]:
    """An argparse ``type``: an integer within the allowed range of the settings key ``key`` (``customers.n``)."""
    return number(int, *allowed_range(key))


def add_customers(ap: argparse.ArgumentParser, default: int, help: str, flag: str = "--n") -> None:
    """Customers per run (``customers.n``)."""
    ap.add_argument(flag, type=setting("customers.n"), default=default, help=help)


def add_weeks(ap: argparse.ArgumentParser, default: int, help: str, flag: str = "--steps") -> None:
    """Weeks per run (``steps``)."""
    ap.add_argument(flag, type=setting("steps"), default=default, help=help)


def add_seeds(
    ap: argparse.ArgumentParser, default: int | None, help: str | None = None, low: int = 1, high: int = 1000
) -> None:
    """``--seeds``: how many seeds to replicate on; ``low`` is the fewest the command's estimate can use."""
    ap.add_argument("--seeds", type=number(int, low, high), default=default, help=help)


def add_jobs(ap: argparse.ArgumentParser, help: str | None = None) -> None:
    """``--jobs``: how many runs at once."""
    ap.add_argument("--jobs", type=number(int, *JOBS), default=2, help=help)


def add_results_dir(ap: argparse.ArgumentParser) -> None:
    """``--results-dir``: the folder results go under."""
    ap.add_argument("--results-dir", default="results")


def add_out(ap: argparse.ArgumentParser, default: str, help: str) -> None:
    """``--out``: the folder a command writes into, checked before anything runs (not a file, and writable)."""
    ap.add_argument("--out", type=writable_folder, default=default, help=help)


def writable_folder(text: str) -> Path:
    """An argparse ``type``: a folder that is there or can be made (the path and its nearest existing parent
    are folders), and can be written to; else one line now rather than after the runs."""
    path = Path(text)
    there = next((p for p in (path, *path.parents) if p.exists()), Path.cwd())
    if not there.is_dir():
        raise argparse.ArgumentTypeError(f"= {text}: {there} is a file; allowed: a folder")
    if not os.access(there, os.W_OK | os.X_OK):
        raise Failure(f"error: writing {text}: {there} is not writable")
    return path


def param_range(item: str, forms: str = "key=low:high") -> tuple[str, tuple[float, float]]:
    """A ``--param`` item ``key=low:high`` as (key, (low, high)); else a one-line error naming the ``forms`` allowed."""
    key, _, spec = item.partition("=")
    low, _, high = spec.partition(":")
    try:
        return key, (float(low), float(high))
    except ValueError:
        raise ConfigError(f"config error: --param {item!r}: expected {forms}, e.g. market.reach=0:0.3") from None
