"""Results folders: written under a temporary name, renamed into place when complete."""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from . import fingerprint
from . import plots as run_plots
from .errors import failing_as

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
    """Hidden folders are work in progress (``.<name>.tmp-<pid>-<token>``) or Hydra's own job folders."""
    return folder.name.startswith(".")


def clear_stale(dest: Path) -> None:
    """Remove temporary folders left for ``dest`` by a killed process, so the run is redone whole.

    Only for a sweep's run, and only while holding its claim (``claims.claim``): then no live
    process is writing ``dest``, so every temporary folder for it was left by a dead one.
    """
    for tmp in dest.parent.glob(f".{dest.name}.tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class Staged:
    """A folder being written (``tmp``), and where it went once complete (``final``)."""

    tmp: Path
    final: Path | None = None


def write_atomic(path: Path, write: Callable[[Path], object]) -> Path:
    """``write(tmp)`` to a hidden sibling, then rename it into place: the file is whole or absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{path.suffix}")  # keeps the suffix writers go by
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


@contextmanager
def atomic_folder(
    dest: Path, keep_existing: bool = False, stale: Callable[[Path], bool] | None = None
) -> Iterator[Staged]:
    """Stage a temporary sibling folder; rename it to ``dest`` only if the block succeeds.

    A crash or Ctrl-C removes the temporary folder, so no folder under a final name is
    ever incomplete. If ``dest`` exists, a suffix keeps both (``staged.final`` says which
    name was taken, even when another process writes the same name at the same time);
    with ``keep_existing`` (a sweep's run, which is deterministic) a complete ``dest``
    wins and the new copy is dropped, so a run is never counted twice, unless ``stale(dest)``
    says it is another run (other settings or model code): then the new copy replaces it.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    staged = Staged(dest.parent / f".{dest.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    staged.tmp.mkdir()
    try:
        yield staged
        if keep_existing and is_complete(dest):
            if stale is not None and stale(dest):
                staged.final = _replace(staged.tmp, dest)
                return
            shutil.rmtree(staged.tmp, ignore_errors=True)
            staged.final = dest
            return
        staged.final = _rename_into_place(staged.tmp, dest)
    except BaseException:
        shutil.rmtree(staged.tmp, ignore_errors=True)
        raise


def _replace(tmp: Path, dest: Path) -> Path:
    """Put ``tmp`` in the place of the folder ``dest``: the old one is moved aside first, then removed."""
    aside = dest.parent / f".{dest.name}.stale-{os.getpid()}-{secrets.token_hex(4)}"
    os.rename(dest, aside)
    os.rename(tmp, dest)
    shutil.rmtree(aside, ignore_errors=True)
    return dest


def _rename_into_place(tmp: Path, dest: Path) -> Path:
    """Rename ``tmp`` to ``dest``, or to ``dest_1``, ``dest_2``... if taken; return the name taken."""
    k = 0
    while True:
        final = dest if k == 0 else dest.with_name(f"{dest.name}_{k}")
        k += 1
        if final.exists():
            continue
        try:
            os.rename(tmp, final)  # fails if another process took the name in the meantime (non-empty)
        except OSError as err:
            if err.errno in (errno.EEXIST, errno.ENOTEMPTY):
                continue
            raise
        return final


def write_run(
    dest: Path,
    settings,
    config_yaml: str,
    tables,
    plots: bool = True,
    params: dict | None = None,
    keep_existing: bool = False,
) -> Path:
    """Write a complete results folder atomically; return the folder actually written.

    ``tables`` is a run's ``sim.runs.run.Tables``; ``params`` (a sweep's parameters of this run) go to
    ``params.json`` for the aggregate table; the run's fingerprint (its settings, the model's code, version and
    commit) to ``fingerprint.json``. With ``keep_existing``, a complete ``dest`` of the same fingerprint is kept,
    one of another replaced. An ``OSError`` (a full disk...) is a ``Failure`` naming ``dest``; nothing is left under
    its name.
    """
    wanted = fingerprint.fingerprint(settings)

    def stale(folder: Path) -> bool:
        return not fingerprint.same_run(fingerprint.read(folder), wanted)

    with failing_as("writing", dest), atomic_folder(dest, keep_existing, stale) as staged:
        tmp = staged.tmp
        (tmp / fingerprint.FINGERPRINT).write_text(fingerprint.dumps(wanted))
        (tmp / "config.yaml").write_text(config_yaml)
        if params is not None:
            (tmp / PARAMS).write_text(json.dumps(params, indent=1, sort_keys=True))
        tables.timeseries.to_parquet(tmp / "timeseries.parquet", index=False)
        tables.segments.to_parquet(tmp / "segments.parquet", index=False)
        tables.segment_summary.to_csv(tmp / "segments.csv", index=False)
        tables.tenure.to_csv(tmp / "tenure.csv", index=False)
        tables.cohorts.to_csv(tmp / "cohorts.csv", index=False)
        if plots:
            for name, draw in run_plots.PLOTS.items():
                draw(tables.timeseries, tmp / name)
        tables.summary.to_csv(tmp / COMPLETE, index=False)
    assert staged.final is not None
    return staged.final
