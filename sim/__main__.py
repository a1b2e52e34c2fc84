"""``python -m sim``: run an experiment from Hydra config and write its results folder.

``python -m sim -m ...`` runs a sweep: every run lands in
``<results_dir>/<experiment>/<sweep>/<run key>/``; a run whose folder is complete is skipped,
so the same command resumes an interrupted sweep.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from .config import CONF_DIR, ConfigError, apply_design, load, to_plain, validate
from .runs import sweep
from .runs.results import clear_stale, is_complete, run_folder, sweep_run_folder
from .runs.run import keep_freed_memory, run_and_write

EXCLUDE_KEYS = "hydra.job.config.override_dirname.exclude_keys"


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> None:
    logging.getLogger("MESA").setLevel(logging.WARNING)  # Mesa logs every step at INFO
    try:
        run_cfg, row = apply_design(cfg)
        settings = validate(to_plain(run_cfg))
    except ConfigError as err:
        print(err, file=sys.stderr)
        sys.exit(2)
    keep_freed_memory()
    config_yaml = OmegaConf.to_yaml(run_cfg, resolve=True)
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        dest = None
        if row:  # a single design row: the folder says which
            dated = run_folder(settings.results_dir, settings.experiment)
            dest = dated.with_name(f"{dated.name}_design_row={cfg.design_row}")
        run_and_write(settings, config_yaml, dest)
        return
    task = list(hydra_cfg.overrides.task)
    name = cfg.sweep or sweep.sweep_name(task)
    dest = sweep_run_folder(
        settings.results_dir, settings.experiment, name, sweep.run_key(hydra_cfg.job.override_dirname)
    )
    if is_complete(dest):
        print(f"complete, skipped: {dest}")
        return
    clear_stale(dest)
    params = {"overrides": sweep.run_params(task), "design": row}
    run_and_write(settings, config_yaml, dest, params=params, plots=False, keep_existing=True)


def _stop(err: ConfigError) -> None:
    print(err, file=sys.stderr)
    sys.exit(2)


def preflight(argv: list[str]) -> None:
    """Compose and validate a single run's overrides before Hydra starts; one line on error."""
    if any(a.startswith("-") for a in argv):  # --multirun, --cfg, --help...: leave to Hydra
        return
    try:
        load(argv)
    except ConfigError as err:
        _stop(err)


def is_multirun(argv: list[str]) -> bool:
    return any(a in sweep.MULTIRUN_FLAGS for a in argv) or "hydra.mode=MULTIRUN" in argv


def prepare_multirun(argv: list[str]) -> list[str]:
    """Check every swept value, then name the sweep and its run keys: the extra overrides to pass."""
    if any(a.startswith("-") and a not in sweep.MULTIRUN_FLAGS for a in argv):  # --cfg, --help...
        return []
    overrides = [a for a in argv if not a.startswith("-")]
    try:
        base = sweep.preflight(overrides)
        given = [o for o in sweep.parse(overrides) if sweep.key_of(o) == "sweep"]
        name = str(given[-1].value()) if given else sweep.sweep_name(overrides)
        keys = ", ".join(f"'{k}'" for k in sweep.exclude_keys_for(overrides))
    except ConfigError as err:
        _stop(err)
    swept = any(o.is_sweep_override() and sweep.key_of(o) == "experiment" for o in sweep.parse(overrides))
    print(f"sweep: {Path(base.results_dir) / ('<experiment>' if swept else base.experiment) / name}", flush=True)
    return [*([] if given else [f"sweep='{name}'"]), f"{EXCLUDE_KEYS}=[{keys}]"]


def declared(argv: list[str]) -> list[str]:
    """``+design=...`` and ``design=...`` both work: the key is declared in conf/config.yaml."""
    return [re.sub(r"^\+(design|design_row|sweep)=", r"\1=", a) for a in argv]


def cli() -> None:
    argv = declared(sys.argv[1:])
    if is_multirun(argv):
        argv += prepare_multirun(argv)
    else:
        preflight(argv)
    sys.argv[1:] = argv
    main()


if __name__ == "__main__":
    cli()
