"""Sweeps: reproducible sweep names, run keys from Hydra's override_dirname, checks before launching.

A multirun writes ``<results_dir>/<experiment>/<sweep>/<run key>/``. The sweep name comes
from the command (every override that names results, sorted), so running the same command
again finds the same folder and only the missing runs are done. The run key is Hydra's own
``hydra.job.override_dirname``: the job's overrides minus the keys set for the whole sweep
(``exclude_keys``, which ``exclude_keys_for`` computes when the sweep is launched).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import math
import re
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from ..config import (
    FOLDER_NAME_ALLOWED,
    RESULT_NEUTRAL,
    ConfigError,
    check,
    check_folder_name,
    compose,
    culprit,
    hydra_error,
)
from .arguments import JOBS

# The experiment names the folder above the sweep; result-neutral keys (``config.RESULT_NEUTRAL``) name nothing.
NAMED_ABOVE = ("experiment",)
MULTIRUN_FLAGS = {"-m", "--multirun"}
MAX_NAME = 150  # characters; longer names keep a readable head and a hash
MAX_COMBINATIONS = 256  # combinations of swept values checked before a sweep starts


def key_of(o: Override) -> str:
    """The override's key as written, without ``+``/``++``/``~``: ``policy@firms.x``, ``seed``."""
    return o.get_key_element().lstrip("+~")


def parse(overrides: list[str]) -> list[Override]:
    """Hydra's parse of command-line overrides; a malformed one is a ``ConfigError``."""
    parser = OverridesParser.create()
    try:
        return parser.parse_overrides(overrides)
    except HydraException as err:
        raise hydra_error(err, lambda: culprit(overrides, parser.parse_overrides)) from None


def file_safe(text: str) -> str:
    """A readable, filesystem-safe form of an override list, shortened with a hash if long."""
    text = re.sub(r"[\s'\"]+", "", text)
    text = re.sub(r"[^A-Za-z0-9._,=@+-]+", "_", text).strip("_")
    if len(text) <= MAX_NAME:
        return text
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]
    return f"{text[: MAX_NAME - 9]}-{digest}"


def check_name(o: Override) -> str:
    """The folder name given with ``sweep=<name>``: one plain folder name, or a ``ConfigError``."""
    if o.is_sweep_override():
        raise ConfigError(
            f"config error: sweep = {o.input_line.split('=', 1)[1]!r}: one name for the whole sweep;"
            f" allowed: {FOLDER_NAME_ALLOWED}"
        )
    return check_folder_name("sweep", o.get_value_element_as_str())


def _design_tag(path: str) -> str:
    """A design file named by its stem and a hash of its contents, so an edited design is a new sweep."""
    p = Path(path)
    digest = hashlib.sha1(p.read_bytes()).hexdigest()[:8] if p.is_file() else "missing"
    return f"{p.stem}-{digest}"


def sweep_name(overrides: list[str]) -> str:
    """The sweep folder name for a multirun command: its result-changing overrides, sorted."""
    items = []
    for o in parse(overrides):
        key = key_of(o)
        if o.is_hydra_override() or key in (*RESULT_NEUTRAL, *NAMED_ABOVE):
            continue
        line = f"{key}={_design_tag(str(o.value()))}" if key == "design" else f"{key}={o.input_line.split('=', 1)[1]}"
        items.append(line)
    return file_safe(",".join(sorted(items))) or "default"


def exclude_keys_for(overrides: list[str]) -> list[str]:
    """Hydra's ``override_dirname.exclude_keys`` for a sweep: keys that do not tell its runs apart.

    The result-neutral keys, the experiment, and every key with one value for the whole sweep.
    Hydra matches a group override by its group alone (``policy`` for ``policy@firms.x``), so a
    fixed group override is excluded only if no override of the same group is swept.
    """
    parsed = [o for o in parse(overrides) if not o.is_hydra_override()]
    swept = {o.key_or_group for o in parsed if o.is_sweep_override()}
    fixed = {o.key_or_group for o in parsed if not o.is_sweep_override()} - swept
    return sorted({*RESULT_NEUTRAL, *NAMED_ABOVE, *fixed})


def run_key(override_dirname: str) -> str:
    """A run's folder name: Hydra's ``override_dirname`` of the job, made file-safe (``seed=3``)."""
    return file_safe(override_dirname) or "run"


def run_params(task_overrides: list[str]) -> dict[str, Any]:
    """The job's overrides as typed values (lists and dicts as text), for the tidy results table."""
    out: dict[str, Any] = {}
    for o in parse(task_overrides):
        key = key_of(o)
        if key in RESULT_NEUTRAL or o.is_delete():
            continue
        value = o.value()
        out[key] = (
            value if isinstance(value, str | int | float | bool) or value is None else o.get_value_element_as_str()
        )
    return out


def _with_value(base: DictConfig, o: Override, value: Any) -> DictConfig | None:
    """``base`` with a plain value override applied, or None if it needs full composition."""
    key = key_of(o)
    if o.package is not None or "/" in key or o.is_add() or key in {"experiment"}:
        return None
    if OmegaConf.select(base, key, default="__absent__") == "__absent__":
        return None
    cfg = copy.deepcopy(base)
    try:
        with open_dict(cfg):
            OmegaConf.update(cfg, key, value, merge=False)
    except OmegaConfBaseException:  # a value OmegaConf cannot hold (a broken ${...}): composition names it
        return None
    return cfg


def grid(cfg: DictConfig) -> list[str]:
    """Sweeps an experiment declares itself (``hydra.sweeper.params`` of the config with Hydra's), as overrides."""
    params = OmegaConf.select(cfg, "hydra.sweeper.params") or {}
    return [f"{k}={v}" for k, v in params.items()]


def check_launcher(cfg: DictConfig) -> None:
    """What the launcher (of the config with Hydra's) would refuse only once the sweep runs: joblib's workers."""
    n_jobs = OmegaConf.select(cfg, "hydra.launcher.n_jobs", default=None)
    if isinstance(n_jobs, int) and (n_jobs == 0 or n_jobs > JOBS[1]):
        raise ConfigError(
            f"config error: hydra.launcher.n_jobs = {n_jobs}: allowed: worker processes, 1 ≤ value ≤ {JOBS[1]},"
            " or -1 for one per core (-2 all but one, ...)"
        )


def preflight(overrides: list[str]) -> DictConfig:
    """Check a multirun before launching: each value of each swept key, and each design row.

    Checks every value against the sweep's fixed overrides (one composition per value, not
    per combination); a clash between two swept values is still caught by the job itself.
    Returns the sweep's base config (its fixed overrides applied).
    """
    parsed = parse(overrides)
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    given = {key_of(o) for o in parsed}
    with_hydra = compose(fixed, return_hydra_config=True)
    check_launcher(with_hydra)
    parsed += [o for o in parse(grid(with_hydra)) if key_of(o) not in given]
    for o in parsed:
        if o.is_sweep_override() and not o.is_hydra_override() and not list(o.sweep_string_iterator()):
            raise ConfigError(f"config error: {o.input_line}: an empty sweep, no run to do; allowed: one value or more")
    base = compose(fixed)
    if not any(o.is_sweep_override() and key_of(o) == "design_row" for o in parsed):
        check(base)
    for o in parsed:
        if not o.is_sweep_override() or o.is_hydra_override():
            continue
        if key_of(o) == "design_row":
            if base.get("design") is None:
                raise ConfigError("config error: design_row: needs design=path.csv as well")
            for row in o.sweep_iterator():
                cfg = copy.deepcopy(base)
                with open_dict(cfg):
                    cfg.design_row = row
                check(cfg)
            continue
        for text, value in zip(o.sweep_string_iterator(), o.sweep_iterator(), strict=True):
            cfg = _with_value(base, o, value)
            check(cfg if cfg is not None else compose([*fixed, f"{o.get_key_element()}={text}"]))
    check_combinations(base, fixed, [o for o in parsed if o.is_sweep_override() and not o.is_hydra_override()])
    return base


def check_combinations(base: DictConfig, fixed: list[str], swept: list[Override]) -> None:
    """Swept values valid one by one may clash together (a mean degree above a smaller population): every
    combination of two or more swept keys is checked too, the seeds aside (a seed never makes settings invalid),
    up to ``MAX_COMBINATIONS`` (beyond, a clash stops the sweep when its run starts)."""
    swept = [o for o in swept if key_of(o) != "seed"]
    values = [list(zip(o.sweep_string_iterator(), o.sweep_iterator(), strict=True)) for o in swept]
    if len(swept) < 2 or math.prod(len(v) for v in values) > MAX_COMBINATIONS:
        return
    for combination in itertools.product(*values):
        cfg: DictConfig | None = base
        for o, (_, value) in zip(swept, combination, strict=True):
            cfg = _with_value(cfg, o, value) if cfg is not None else None
        if cfg is None:  # a group among them: composed with all of them
            chosen = [f"{o.get_key_element()}={text}" for o, (text, _) in zip(swept, combination, strict=True)]
            cfg = compose([*fixed, *chosen])
        check(cfg)
