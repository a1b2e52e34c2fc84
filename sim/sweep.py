"""Sweeps and designs: reproducible sweep names, run keys, design rows, checks before launching.

A multirun writes ``<results_dir>/<experiment>/<sweep>/<run key>/``. The sweep name comes
from the command (every override that changes results, sorted), so running the same
command again finds the same folder and only the missing runs are done. The run key is
the job's own overrides minus those fixed for the whole sweep, e.g. ``seed=3``.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, OmegaConf, open_dict

from .config import CONF_DIR, ConfigError, compose, to_plain, validate

# Top-level keys that say how or where to run, not what is run: stripped before validation.
RUN_KEYS = ("design", "design_row", "sweep")  # also stripped by config.validate
# Overrides that never change a run's results, so never name a sweep or a run.
NEUTRAL = {"experiment", "sweep", "progress", "results_dir"}
MULTIRUN_FLAGS = {"-m", "--multirun"}
MAX_NAME = 150  # characters; longer names keep a readable head and a hash


def key_of(o: Override) -> str:
    """The override's key as written, without ``+``/``++``/``~``: ``policy@firms.x``, ``seed``."""
    return o.get_key_element().lstrip("+~")


def parse(overrides: list[str]) -> list[Override]:
    return OverridesParser.create().parse_overrides(overrides)


def _slug(text: str) -> str:
    """A readable, filesystem-safe form of an override list."""
    text = re.sub(r"[\s'\"]+", "", text)
    return re.sub(r"[^A-Za-z0-9._,=@+-]+", "_", text).strip("_")


def _short(text: str) -> str:
    if len(text) <= MAX_NAME:
        return text
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]
    return f"{text[: MAX_NAME - 9]}-{digest}"


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
        if o.is_hydra_override() or key in NEUTRAL:
            continue
        line = f"{key}={_design_tag(str(o.value()))}" if key == "design" else f"{key}={o.input_line.split('=', 1)[1]}"
        items.append(line)
    return _short(_slug(",".join(sorted(items)))) or "default"


def fixed_keys(overrides: list[str]) -> list[str]:
    """Keys that have one value for the whole sweep: they name the sweep, not its runs."""
    return [key_of(o) for o in parse(overrides) if not o.is_hydra_override() and not o.is_sweep_override()]


def run_key(task_overrides: list[str], exclude: list[str]) -> str:
    """A run's folder name: its overrides minus the sweep-wide ones, sorted (``seed=3``)."""
    items = sorted(o.input_line for o in parse(task_overrides) if key_of(o) not in {*NEUTRAL, *exclude})
    return _short(_slug(",".join(items))) or "run"


def run_params(task_overrides: list[str]) -> dict[str, Any]:
    """The job's overrides as typed values (lists and dicts as text), for the tidy results table."""
    out: dict[str, Any] = {}
    for o in parse(task_overrides):
        key = key_of(o)
        if key in {"sweep", "progress", "results_dir"} or o.is_delete():
            continue
        value = o.value()
        out[key] = (
            value if isinstance(value, str | int | float | bool) or value is None else o.get_value_element_as_str()
        )
    return out


def design_values(path: str | Path, row: int) -> dict[str, Any]:
    """Row ``row`` of a design CSV: ``{dotted config key: value}``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config error: design = '{path}': no such file")
    table = pd.read_csv(path)
    if not 0 <= row < len(table):
        raise ConfigError(f"config error: design_row = {row}: allowed: 0 ≤ value ≤ {len(table) - 1} (rows of {path})")
    values = {}
    for key, value in table.iloc[row].items():
        value = value.item() if hasattr(value, "item") else value
        if isinstance(value, float) and math.isnan(value):
            raise ConfigError(f"config error: design '{path}' row {row}, column '{key}': empty value")
        values[str(key)] = value
    return values


def apply_design(cfg: DictConfig) -> tuple[DictConfig, dict[str, Any]]:
    """A copy of the composed config with the design row applied; and the row's values.

    The run-control keys (design, design_row, sweep) are removed from the copy, so the
    result validates as Settings and its YAML reloads as a plain run config.
    """
    out = copy.deepcopy(cfg)
    values: dict[str, Any] = {}
    design, row = cfg.get("design"), cfg.get("design_row")
    if (design is None) != (row is None):
        missing = "design_row" if row is None else "design"
        raise ConfigError(
            f"config error: {missing}: needed too when design or design_row is set (design=path.csv design_row=N)"
        )
    if design is not None:
        if isinstance(row, bool) or not isinstance(row, int):
            raise ConfigError(f"config error: design_row = {row!r}: allowed: an integer row number, 0 ≤ value")
        values = design_values(design, row)
        with open_dict(out):
            for key, value in values.items():
                if key in RUN_KEYS or key.startswith("hydra"):
                    raise ConfigError(f"config error: design column '{key}': not a model parameter")
                if OmegaConf.select(out, key, default="__absent__") == "__absent__":
                    raise ConfigError(f"config error: unknown key '{key}' (design column of {design})")
                OmegaConf.update(out, key, value, merge=True)
    with open_dict(out):
        for key in RUN_KEYS:
            out.pop(key, None)
        out.pop("hydra", None)
    return out, values


def check(cfg: DictConfig) -> None:
    """Validate a composed config, design row applied; raise ConfigError with one line."""
    validate(to_plain(apply_design(cfg)[0]))


def _with_value(base: DictConfig, o: Override, value: Any) -> DictConfig | None:
    """``base`` with a plain value override applied, or None if it needs full composition."""
    key = key_of(o)
    if o.package is not None or "/" in key or o.is_add() or key in {"experiment"}:
        return None
    if OmegaConf.select(base, key, default="__absent__") == "__absent__":
        return None
    cfg = copy.deepcopy(base)
    with open_dict(cfg):
        OmegaConf.update(cfg, key, value, merge=False)
    return cfg


def grid(fixed: list[str]) -> list[str]:
    """Sweeps an experiment declares itself (``hydra.sweeper.params``), as overrides."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        cfg = hydra_compose(config_name="config", overrides=fixed, return_hydra_config=True)
    params = OmegaConf.select(cfg, "hydra.sweeper.params") or {}
    return [f"{k}={v}" for k, v in params.items()]


def preflight(overrides: list[str]) -> DictConfig:
    """Check a multirun before launching: each value of each swept key, and each design row.

    Checks every value against the sweep's fixed overrides (one composition per value, not
    per combination); a clash between two swept values is still caught by the job itself.
    Returns the sweep's base config (its fixed overrides applied).
    """
    parsed = parse(overrides)
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    given = {key_of(o) for o in parsed}
    parsed += [o for o in parse(grid(fixed)) if key_of(o) not in given]
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
    return base
